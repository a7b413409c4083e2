using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption.Masking;

/// <summary>
/// A masked (absorbing) process whose keep probability α_t^(i) differs between positions: by where the position
/// sits (<see cref="PositionalMasking"/>) or by which clean token it holds (<see cref="SpindleMasking"/>,
/// <see cref="InformationMasking"/>). Positions are still independent given x_0, so q(x_t | x_0) is the product
/// over positions of "masked with probability 1 − α_t^(i)", and between s &lt; t a still-visible token is masked
/// with probability 1 − α_t^(i)/α_s^(i) (what <see cref="SimulateChain"/> runs, and ClosedFormCheck compares).
/// <para>
/// The loss per masked position is w_i(t)·CE_i with w_i = −α'^(i)_t/(1 − α^(i)_t), plus, where the rate depends on
/// the clean token itself, the rate-matching term of the state-dependent ELBO (see <see cref="InformationMasking"/>).
/// </para>
/// </summary>
public abstract class RateMaskingProcess(int maskId, double eps = 1e-3) : IForwardProcess, IDiffusionObjective
{
    public string Name => DiffusionProcess.Masked.Spelling;
    /// <summary>The name in <see cref="MaskedCorruptions"/>.</summary>
    public abstract string Corruption { get; }
    public int MaskId { get; } = maskId;
    /// <summary>t is drawn on (eps, 1], as <see cref="MaskedProcess"/> draws it.</summary>
    public double Eps { get; } = eps;

    /// <summary>1 − α_t^(i): [B, L] float64 for x0 [B, L] and per-row times t [B] float64.</summary>
    public abstract Tensor MaskProbability(Tensor x0, Tensor t, Tensor? promptMask);

    /// <summary>w_i(t) = −α'^(i)_t / (1 − α^(i)_t) at each position's clean token: [B, L] float64.</summary>
    public abstract Tensor RateWeight(Tensor x0, Tensor t, Tensor? promptMask);

    /// <summary>
    /// For rates that depend on the clean token: w_t(v) for every vocabulary entry v, [B, V] float64; null when the
    /// rate does not depend on the token (then the plain weighted cross-entropy is the ELBO).
    /// </summary>
    public virtual Tensor? VocabularyRateWeights(Tensor t, long vocabSize) => null;

    /// <summary>MDLM's antithetic times on (eps, 1], as <see cref="MaskedProcess.SampleTimes"/>.</summary>
    public Tensor SampleTimes(long batch, Generator g)
    {
        using var scope = NewDisposeScope();
        var u = rand(1, dtype: ScalarType.Float64, generator: g);
        var strat = (u + arange(batch, dtype: ScalarType.Float64) / batch).remainder(1.0);
        return (Eps + (1.0 - Eps) * (1.0 - strat)).MoveToOuterDisposeScope();
    }

    public MaskedSample Corrupt(Tensor x0, Tensor t, Tensor? protectedMask, Generator g)
    {
        using var scope = NewDisposeScope();
        var pMask = MaskProbability(x0, t, protectedMask);
        var masked = rand(x0.shape, dtype: ScalarType.Float64, generator: g) < pMask;
        if (protectedMask is not null) masked = masked & protectedMask.logical_not();
        var noisy = where(masked, full_like(x0, MaskId), x0);
        return new MaskedSample(noisy.MoveToOuterDisposeScope(), masked.MoveToOuterDisposeScope(), t.alias().MoveToOuterDisposeScope());
    }

    public Tensor SampleMarginal(Tensor x0, double t, Generator g)
    {
        using var scope = NewDisposeScope();
        var times = full(new long[] { x0.shape[0] }, t, dtype: ScalarType.Float64);
        return Corrupt(x0, times, null, g).Noisy.MoveToOuterDisposeScope();
    }

    /// <summary>Step by step from x_0: a visible token is masked between s and t with probability 1 − α_t/α_s of its own schedule.</summary>
    public virtual Tensor SimulateChain(Tensor x0, double[] times, Generator g)
    {
        IForwardProcess.ValidateTimes(times);
        using var scope = NewDisposeScope();
        var x = x0.alias();
        var prevAlpha = ones(x0.shape, dtype: ScalarType.Float64);
        foreach (var t in times)
        {
            var alpha = 1.0 - MaskProbability(x0, full(new long[] { x0.shape[0] }, t, dtype: ScalarType.Float64), null);
            var maskNow = where(prevAlpha > 0, 1.0 - alpha / prevAlpha.clamp_min(1e-300), ones_like(alpha));
            var newly = rand(x.shape, dtype: ScalarType.Float64, generator: g) < maskNow;
            x = where(newly, full_like(x, MaskId), x);
            prevAlpha = alpha;
        }
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Σ_rows Σ_masked [w_i·CE_i + (E_{v∼μ_i} w_t(v) − w_t(x0_i))] / n_row / B; the bracketed term only where the
    /// rate depends on the token. CE and μ are from the same logits.
    /// </summary>
    public Tensor Loss(IDenoiser model, TrainingBatch batch, Generator g)
    {
        using var scope = NewDisposeScope();
        long b = batch.Ids.shape[0];
        var t = SampleTimes(b, g);
        var sample = Corrupt(batch.Ids, t, batch.PromptMask, g);
        var logits = model.Logits(sample.Noisy, time: model.Config.TimeConditioning ? t.to_type(ScalarType.Float32) : null);
        var perPosition = MaskedTerms(logits, batch.Ids, t, batch.PromptMask);
        var corruptible = batch.PromptMask is null
            ? full(new long[] { b }, (float)batch.Ids.shape[1], dtype: ScalarType.Float32)
            : batch.PromptMask.logical_not().sum(1, type: ScalarType.Float32);
        var perRow = (perPosition * sample.Masked.to_type(ScalarType.Float32)).sum(1) / corruptible;
        return (perRow.sum() / b).MoveToOuterDisposeScope();
    }

    /// <summary>The ELBO integrand at every position (to be multiplied by the mask indicator): [B, L] float32.</summary>
    public Tensor MaskedTerms(Tensor logits, Tensor x0, Tensor t, Tensor? promptMask)
    {
        using var scope = NewDisposeScope();
        var shape = x0.shape;
        var ce = nn.functional.cross_entropy(logits.flatten(0, 1), x0.flatten(), reduction: nn.Reduction.None).view(shape);
        var w = RateWeight(x0, t, promptMask).to_type(ScalarType.Float32);
        var terms = w * ce;
        var vocabRates = VocabularyRateWeights(t, logits.shape[2]);
        if (vocabRates is not null)
        {
            // E_{v∼μθ} w_t(v) − w_t(x0): zero in expectation for the Bayes-optimal μ, what keeps the loss a bound otherwise.
            var mu = nn.functional.softmax(logits, -1);
            var expected = (mu * vocabRates.to_type(ScalarType.Float32).unsqueeze(1)).sum(-1);
            terms = terms + expected - w;
        }
        return terms.MoveToOuterDisposeScope();
    }

    public (Tensor Logits, Tensor Corrupted) DenoiseAt(IDenoiser model, Tensor x0, double t, Tensor? protectedMask, Generator g)
    {
        using var scope = NewDisposeScope();
        var times = full(new long[] { x0.shape[0] }, t, dtype: ScalarType.Float64);
        var sample = Corrupt(x0, times, protectedMask, g);
        var logits = model.Logits(sample.Noisy, time: model.Config.TimeConditioning ? times.to_type(ScalarType.Float32) : null);
        return (logits.MoveToOuterDisposeScope(), sample.Masked.MoveToOuterDisposeScope());
    }

    public abstract double AnalyticInformation(double t, double[] unigram, Generator g);

    /// <summary>
    /// I(x_t; x_0) of one token x_0 ∼ p masked with probability m(v) when it is v: x_t = x_0 when kept, so
    /// I = H(p) − P(mask)·H(x_0 | mask), with P(x_0 = v | mask) ∝ p(v)·m(v).
    /// </summary>
    protected static double TokenDependentInformation(double[] p, Func<int, double> maskProbability)
    {
        double h = MaskedProcess.Entropy(p);
        var joint = p.Select((pv, v) => pv * maskProbability(v)).ToArray();
        double pm = joint.Sum();
        if (pm <= 0) return h;
        return h - pm * MaskedProcess.Entropy(joint.Select(j => j / pm).ToArray());
    }

    /// <summary>t [B] as a [B, 1] float64 column.</summary>
    protected static Tensor Column(Tensor t) => t.to_type(ScalarType.Float64).view(-1, 1);
}
