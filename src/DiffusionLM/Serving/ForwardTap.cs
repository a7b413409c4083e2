using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Serving;

/// <summary>
/// A denoiser that passes every call to the real one and, before it does, counts it, honours cancellation
/// and shows the caller the ids the sampler is about to denoise. Because every sampler reaches the network only
/// through <see cref="IDenoiser.Logits"/>, this sees every step of every sampler without the sampler knowing,
/// and a cancelled request stops at its next forward call rather than at the end of the run.
/// </summary>
/// <remarks>
/// Reading the input ids (not the logits) is enough to follow a masked sampler: the difference between two
/// consecutive inputs is what the step in between committed. The confidence of a commit is the probability
/// the previous call's logits gave the committed token, which the tap keeps for the completion columns only.
/// The sampling engine (issue 13) reports commits itself; <see cref="GenerationSession"/> is the one place
/// that would read it instead.
/// </remarks>
internal class ForwardTap(IDenoiser inner, CancellationToken cancel, Action<ForwardTap.Call>? onCall) : IDenoiser
{
    /// <summary>One forward call: its number from 1, the first <c>Rows</c> rows of its input ids, and the
    /// previous call's probabilities of those ids (null for the first call).</summary>
    public sealed record Call(int Number, long[][] Ids, float[][]? PreviousProbability);

    readonly IDenoiser _inner = inner;
    Tensor? _lastProbs;

    /// <summary>Rows of the real batch: samplers that probe (dependency_aware) send a multiple of them.</summary>
    public int Rows { get; init; } = 1;
    /// <summary>First column of the completion; only columns from here are copied out.</summary>
    public int From { get; init; }
    public int Calls { get; private set; }

    public ModelConfig Config => _inner.Config;

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        cancel.ThrowIfCancellationRequested();
        Calls++;
        if (onCall is not null)
        {
            Report(ids);
            // The observer may have cancelled (a client left while it was told of the step).
            cancel.ThrowIfCancellationRequested();
        }
        var logits = _inner.Logits(ids, attentionMask, time);
        if (onCall is not null) Keep(logits);
        return logits;
    }

    void Report(Tensor ids)
    {
        if (ids.ndim != 2 || ids.shape[0] < Rows) return;
        using var scope = NewDisposeScope();
        var part = ids.narrow(0, 0, Rows).narrow(1, From, ids.shape[1] - From).to_type(ScalarType.Int64).contiguous();
        int width = (int)part.shape[1];
        var flat = part.data<long>().ToArray();
        var rows = Enumerable.Range(0, Rows).Select(r => flat.AsSpan(r * width, width).ToArray()).ToArray();
        float[][]? previous = null;
        if (_lastProbs is not null && _lastProbs.shape[1] == width)
        {
            // p(token now written | the previous call's view) at every completion column.
            var picked = _lastProbs.gather(2, part.unsqueeze(-1).clamp(0, _lastProbs.shape[2] - 1)).squeeze(-1).contiguous();
            var pf = picked.data<float>().ToArray();
            previous = Enumerable.Range(0, Rows).Select(r => pf.AsSpan(r * width, width).ToArray()).ToArray();
        }
        onCall!(new Call(Calls, rows, previous));
    }

    void Keep(Tensor logits)
    {
        _lastProbs?.Dispose();
        _lastProbs = null;
        if (logits.ndim != 3 || logits.shape[0] < Rows || logits.shape[1] <= From) return;
        using var scope = NewDisposeScope();
        var probs = logits.narrow(0, 0, Rows).narrow(1, From, logits.shape[1] - From).to_type(ScalarType.Float32).softmax(-1);
        _lastProbs = probs.DetachFromDisposeScope();
    }

    /// <summary>The previous call's probabilities of <paramref name="ids"/> (completion columns), for the commits of the last step.</summary>
    public float[][]? ProbabilityOf(long[][] ids)
    {
        if (_lastProbs is null) return null;
        using var scope = NewDisposeScope();
        int width = ids[0].Length;
        if (_lastProbs.shape[1] != width) return null;
        var t = tensor(ids.SelectMany(r => r).ToArray(), new long[] { ids.Length, width });
        var picked = _lastProbs.gather(2, t.unsqueeze(-1).clamp(0, _lastProbs.shape[2] - 1)).squeeze(-1).contiguous();
        var pf = picked.data<float>().ToArray();
        return Enumerable.Range(0, ids.Length).Select(r => pf.AsSpan(r * width, width).ToArray()).ToArray();
    }

    public void Release() { _lastProbs?.Dispose(); _lastProbs = null; }
}

/// <summary>The tap for a gaussian model: its sampler calls <see cref="IContinuousDenoiser.LogitsFromNoisy"/>,
/// which is counted and cancellable the same way (it has no ids to report).</summary>
internal sealed class ContinuousForwardTap(IContinuousDenoiser inner, CancellationToken cancel)
    : ForwardTap(inner, cancel, null), IContinuousDenoiser
{
    int _noisyCalls;
    public Tensor DiffusionEmbeddings() => inner.DiffusionEmbeddings();
    public Tensor? TimeWarpState => inner.TimeWarpState;
    public int NoisyCalls => _noisyCalls;

    public Tensor LogitsFromNoisy(Tensor xt, Tensor t, Tensor inputScale, Tensor? selfCond = null, Tensor? clean = null, Tensor? attentionMask = null)
    {
        cancel.ThrowIfCancellationRequested();
        _noisyCalls++;
        return inner.LogitsFromNoisy(xt, t, inputScale, selfCond, clean, attentionMask);
    }
}
