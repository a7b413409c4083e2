using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// bfloat16 copies of a model's projection weights, for inference with <see cref="Runtime.MatmulMode.Bf16"/>:
/// each <c>linear</c> casts its input to bf16, multiplies against the bf16 copy (one product per pair, float32
/// accumulation, through oneDNN) and returns float32. The copies are made once, when the mode is switched on,
/// so a step converts only its activations. On a CPU with bf16 dot products (AVX512-BF16, AMX) this is up to twice
/// oneDNN's float32 rate and three times MKL's on the 25M benchmark shapes (256×512 · 512×1536 on the Zen 4 EPYC, one
/// thread: 180, 87 and 52 GFLOP/s, the activations' casts included); on one without them (AVX2)
/// libtorch's bf16 product is far slower than float32, which is why float32 stays the default.
/// </summary>
/// <remarks>
/// For inference only: under autograd (training) <see cref="Linear"/> uses the float32 weight, so gradients are
/// those of the float32 model, and a copy does not follow later updates of its weight. Switch the mode off and
/// on again (<see cref="LladaModel.SetMatmul"/>) after changing weights.
/// </remarks>
public sealed class Bf16Projections : IDisposable
{
    readonly Dictionary<IntPtr, Tensor> _copies = [];

    /// <summary>Makes the bf16 copy of each weight (keyed by the float32 tensor's native handle).</summary>
    public Bf16Projections(IEnumerable<Tensor> weights)
    {
        using var _ = no_grad();
        foreach (var w in weights)
        {
            if (_copies.ContainsKey(w.Handle)) continue; // tied weights share one copy
            var copy = w.detach().to(ScalarType.BFloat16).contiguous();
            copy.DetachFromDisposeScope();
            _copies[w.Handle] = copy;
        }
    }

    /// <summary><c>x · weightᵀ</c> (+ bias) in bf16 with float32 input and output; float32 under autograd or for a weight without a copy.</summary>
    public Tensor Linear(Tensor x, Tensor weight, Tensor? bias = null)
    {
        if (is_grad_enabled() || !_copies.TryGetValue(weight.Handle, out var copy) || x.dtype != ScalarType.Float32)
            return nn.functional.linear(x, weight, bias);
        using var xb = x.to(ScalarType.BFloat16);
        using var y = nn.functional.linear(xb, copy);
        var result = y.to(ScalarType.Float32);
        return bias is null ? result : result.add_(bias);
    }

    public void Dispose()
    {
        foreach (var c in _copies.Values) c.Dispose();
        _copies.Clear();
    }
}
