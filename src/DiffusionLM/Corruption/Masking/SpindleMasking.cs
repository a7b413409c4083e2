using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption.Masking;

/// <summary>
/// DiffusionBERT's spindle schedule (He et al. 2023; Hzfinfdu/Diffusion-BERT, diffusion_word_freq.py): the keep
/// probability of position i is α_t^(i) = clip(1 − t + λ·sin(πt)·f̃_i, 0, 1) with f(v) = log(1 + count(v)) / max_v
/// log(1 + count(v)) and f̃_i = f(x_0^i) − mean_j f(x_0^j) over the row: frequent tokens are kept longer, informative
/// (rare) ones masked earlier, and the schedule is the linear one at t = 0 and 1. λ = 0.3 (the reference's setting).
/// DiffusionBERT clips α at 0.999; here α_0 = 1 is kept so that x_0 is the chain's start. dα/dt = −1 + λπ·cos(πt)·f̃
/// stays negative for λπ &lt; 1, so the schedule is a valid chain.
/// <para>
/// It is trained as DiffusionBERT's x_0-parametrised loss is in continuous time: each masked token's cross-entropy
/// weighted by its own rate −α'^(i)/(1 − α^(i)). The rate depends on the clean tokens of the whole row (through
/// the mean), which the denoiser cannot see, so no rate-matching term can be formed: the loss is not a bound, and
/// the benchmark scores a spindle model with the uniform masked ELBO (a bound for any denoiser).
/// </para>
/// </summary>
public sealed class SpindleMasking(int maskId, double[] frequency, double lambda = 0.3, double eps = 1e-3) : RateMaskingProcess(maskId, eps)
{
    public override string Corruption => MaskedCorruption.Spindle.Spelling;
    public double Lambda { get; } = lambda < 1 / Math.PI ? lambda : throw new DlmException($"spindle λ must be below 1/π (got {lambda})");
    /// <summary>f(v) per vocabulary entry, in [0, 1].</summary>
    public double[] Frequency { get; } = frequency;
    Tensor? _table;
    Tensor Table => _table ??= tensor(Frequency, dtype: ScalarType.Float64).DetachFromDisposeScope();

    /// <summary>f̃_i: the token's f minus the row's mean f (over every position of the row, prompt included).</summary>
    public Tensor CenteredFrequency(Tensor x0)
    {
        using var scope = NewDisposeScope();
        var f = Table.index_select(0, x0.flatten()).view(x0.shape);
        return (f - f.mean([1], keepdim: true)).MoveToOuterDisposeScope();
    }

    public Tensor Alpha(Tensor x0, Tensor t)
    {
        using var scope = NewDisposeScope();
        var tc = Column(t);
        return (1.0 - tc + Lambda * (Math.PI * tc).sin() * CenteredFrequency(x0)).clamp(0.0, 1.0).MoveToOuterDisposeScope();
    }

    public override Tensor MaskProbability(Tensor x0, Tensor t, Tensor? promptMask)
    {
        using var scope = NewDisposeScope();
        return (1.0 - Alpha(x0, t)).MoveToOuterDisposeScope();
    }

    public override Tensor RateWeight(Tensor x0, Tensor t, Tensor? promptMask)
    {
        using var scope = NewDisposeScope();
        var tc = Column(t);
        var alpha = Alpha(x0, t);
        var slope = -1.0 + Lambda * Math.PI * (Math.PI * tc).cos() * CenteredFrequency(x0);
        // Where α is clipped at 0 it is flat (no rate); at 1 nothing is masked, so the weight is never used.
        var rate = (-slope / (1.0 - alpha).clamp_min(1e-12)) * (alpha > 0).to_type(ScalarType.Float64);
        return rate.MoveToOuterDisposeScope();
    }

    /// <summary>I(x_t; x_0) with f̃(v) = f(v) − E_p f (the row mean replaced by its expectation).</summary>
    public override double AnalyticInformation(double t, double[] unigram, Generator g)
    {
        double mean = unigram.Select((p, v) => p * (v < Frequency.Length ? Frequency[v] : 0)).Sum();
        return TokenDependentInformation(unigram, v =>
        {
            double f = (v < Frequency.Length ? Frequency[v] : 0) - mean;
            return 1.0 - Math.Clamp(1.0 - t + Lambda * Math.Sin(Math.PI * t) * f, 0.0, 1.0);
        });
    }
}
