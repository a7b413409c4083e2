using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption.Masking;

/// <summary>
/// A masked corruption whose mask probability at time t depends only on the clean token: m_t(v) (ours,
/// <see cref="InformationMasking"/>). Under it, "this position is still masked at t" is itself evidence about the
/// clean token, and a denoiser trained on its bound learns the posterior that includes it (see <see cref="MaskEvidenceRemoval"/>).
/// </summary>
public interface ITokenDependentMasking
{
    /// <summary>log m_t(v) for every vocabulary entry v at per-row times t [B]: [B, V] float64.</summary>
    Tensor LogMaskProbabilities(Tensor t, long vocabSize);

    /// <summary>
    /// The time at which a token drawn from <paramref name="unigram"/> is masked with probability <paramref name="share"/>
    /// (Σ_v p(v)·m_t(v) = share): the time a sequence with that share of masks is most plausibly at.
    /// </summary>
    double TimeOfMaskedShare(double share, double[] unigram);
}

/// <summary>
/// The clean conditional p(x_0^i = v | x_visible) from a denoiser trained under a token-dependent corruption, which is
/// what a sampler needs. Such a denoiser's minimiser is the posterior given x_t, p(v | x_visible)·m_t(v) renormalised
/// (<see cref="InformationMasking"/>'s derivation): under ours it favours the informative tokens, which are masked with
/// higher probability, by a factor that grows as t falls (at t = 0.1 some 24× between the rarest and the commonest
/// token). A sampler that draws from it, as LLaDA's does, overproduces rare tokens; this wrapper subtracts log m_t(v)
/// from the logits, with t the time of the row's share of masks (<see cref="ITokenDependentMasking.TimeOfMaskedShare"/>;
/// the time passed, when a caller gives one), so every sampler reads the clean conditional and reveals the tokens in the
/// order the model learnt them. The reverse process of the bound itself unmasks into v at rate μ(v)·w_t(v) from the
/// uncorrected posterior; a rank-by-confidence sampler wants the corrected one.
/// </summary>
public sealed class MaskEvidenceRemoval(IDenoiser inner, ITokenDependentMasking masking, double[] unigram) : IDenoiser
{
    public ModelConfig Config => inner.Config;
    public IDenoiser Inner => inner;

    // A row's share of masks is one of a few fractions (masks / attended positions) that recur at every step and row;
    // each is turned into t once (a bisection over the vocabulary), not at every forward call.
    readonly Dictionary<double, double> _timeOfShare = new();

    /// <summary>
    /// What a sampler should read of the model in <paramref name="folder"/>: this view when the model was trained under a
    /// token-dependent corruption (its config's "corruption", rates from its unigram.json), else the model itself.
    /// </summary>
    public static IDenoiser ForSampling(IDenoiser model, string folder)
    {
        var config = model.Config;
        if (config.Process != DiffusionProcess.Masked || config.Corruption is not { } corruption || !corruption.NeedsUnigram) return model;
        var counts = Text.UnigramCounts.TryLoad(Path.Combine(folder, Checkpoint.UnigramFile));
        if (DiffusionProcesses.Objective(config, model, counts) is not ITokenDependentMasking masking) return model;
        return new MaskEvidenceRemoval(model, masking, counts!.Select(c => (double)c).ToArray());
    }

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
        => Remove(inner.Logits(ids, attentionMask, time), ids, attentionMask, time);

    public bool SupportsBlockCache => inner.SupportsBlockCache;
    public Tensor LogitsRecording(Tensor ids, Tensor? attentionMask, BlockKvCache cache)
        => Remove(inner.LogitsRecording(ids, attentionMask, cache), ids, attentionMask, null);
    public Tensor LogitsWindow(Tensor ids, long start, long length, Tensor? attentionMask, BlockKvCache cache)
        => Remove(inner.LogitsWindow(ids, start, length, attentionMask, cache), ids, attentionMask, null);
    public BlockKvCache CreateBlockCache() => inner.CreateBlockCache();

    /// <summary>The time each row of <paramref name="ids"/> is at: its share of masks among the attended positions, turned into t.</summary>
    public double[] RowTimes(Tensor ids, Tensor? attentionMask)
    {
        using var scope = NewDisposeScope();
        var masked = ids.eq(Config.MaskTokenId);
        var counted = attentionMask ?? ones_like(masked);
        var share = (masked & counted).sum(1, type: ScalarType.Float64) / counted.sum(1, type: ScalarType.Float64).clamp_min(1);
        return share.data<double>().ToArray().Select(TimeOf).ToArray();
    }

    double TimeOf(double share)
    {
        if (!_timeOfShare.TryGetValue(share, out var t)) _timeOfShare[share] = t = masking.TimeOfMaskedShare(share, unigram);
        return t;
    }

    Tensor Remove(Tensor logits, Tensor ids, Tensor? attentionMask, Tensor? time)
    {
        using var scope = NewDisposeScope();
        var t = time is not null ? time.to_type(ScalarType.Float64) : tensor(RowTimes(ids, attentionMask), dtype: ScalarType.Float64);
        // A row with no masks left has nothing to sample; its t is 0, where log m is -inf: leave its logits as they are.
        var evidence = masking.LogMaskProbabilities(t.clamp_min(1e-12), logits.shape[^1]);
        evidence = where(t.view(-1, 1) > 0, evidence, zeros_like(evidence)).to_type(logits.dtype).to(logits.device);
        return (logits - evidence.unsqueeze(1)).MoveToOuterDisposeScope();
    }
}
