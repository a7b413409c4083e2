using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Training;

/// <summary>
/// AdamW (decoupled weight decay, bias-corrected moments) written out so that its whole state is
/// two named tensors per parameter and a step count: saved with the checkpoint, it makes --resume exact.
/// Weight decay applies to matrices only; norms' gains are not pulled towards zero.
/// </summary>
public sealed class AdamW : IDisposable
{
    readonly (string Name, Tensor Param)[] _params;
    readonly Dictionary<string, Tensor> _m = new(), _v = new();
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.95;
    public double Epsilon { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 0.1;
    public long StepCount { get; private set; }

    public AdamW(IEnumerable<(string, Tensor)> namedParameters)
    {
        _params = namedParameters.ToArray();
        foreach (var (name, p) in _params)
        {
            _m[name] = zeros_like(p).DetachFromDisposeScope();
            _v[name] = zeros_like(p).DetachFromDisposeScope();
        }
    }

    /// <summary>Clips gradients to a global L2 norm and returns the norm before clipping.</summary>
    public double ClipGradients(double maxNorm)
    {
        using var _ = no_grad();
        using var scope = NewDisposeScope();
        var grads = _params.Where(p => p.Param.grad is not null).Select(p => p.Param.grad!).ToArray();
        double total = Math.Sqrt(grads.Sum(g => g.pow(2).sum().item<float>()));
        if (maxNorm > 0 && total > maxNorm)
            foreach (var g in grads) g.mul_(maxNorm / (total + 1e-6));
        return total;
    }

    public void Step(double lr)
    {
        using var _ = no_grad();
        StepCount++;
        double bc1 = 1 - Math.Pow(Beta1, StepCount), bc2 = 1 - Math.Pow(Beta2, StepCount);
        foreach (var (name, p) in _params)
        {
            using var scope = NewDisposeScope();
            var grad = p.grad;
            if (grad is null) continue;
            if (WeightDecay > 0 && p.dim() >= 2) p.mul_(1 - lr * WeightDecay);
            var m = _m[name]; var v = _v[name];
            m.mul_(Beta1).add_(grad, alpha: 1 - Beta1);
            v.mul_(Beta2).addcmul_(grad, grad, value: 1 - Beta2);
            var denom = (v / bc2).sqrt_().add_(Epsilon);
            p.addcdiv_(m, denom, value: -lr / bc1);
        }
    }

    public void ZeroGrad()
    {
        foreach (var (_, p) in _params) p.grad?.zero_();
    }

    /// <summary>The moments as named tensors ("m." / "v." + parameter name), for the checkpoint.</summary>
    public Dictionary<string, Tensor> StateTensors()
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var (name, _) in _params) { d["m." + name] = _m[name]; d["v." + name] = _v[name]; }
        return d;
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> state, long stepCount, string source)
    {
        using var _ = no_grad();
        foreach (var (name, p) in _params)
        {
            foreach (var (prefix, target) in new[] { ("m.", _m), ("v.", _v) })
            {
                if (!state.TryGetValue(prefix + name, out var t))
                    throw new DlmException($"{source}: optimizer state lacks tensor \"{prefix + name}\"");
                if (!t.shape.SequenceEqual(p.shape))
                    throw new DlmException($"{source}: optimizer tensor \"{prefix + name}\" has shape [{string.Join(",", t.shape)}], expected [{string.Join(",", p.shape)}]");
                target[name].copy_(t);
            }
        }
        StepCount = stepCount;
    }

    public void Dispose()
    {
        foreach (var t in _m.Values.Concat(_v.Values)) t.Dispose();
    }
}
