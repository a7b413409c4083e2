using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>
/// A batch of clean sequences. <see cref="PromptMask"/> (SFT) marks positions that are never corrupted;
/// the loss of a row is normalised by its number of corruptible tokens (L in pre-training, the answer
/// length, eos padding included, in SFT), as LLaDA's pre-training and SFT losses are.
/// </summary>
public sealed record TrainingBatch(Tensor Ids, Tensor? PromptMask = null) : IDisposable
{
    public void Dispose() { Ids.Dispose(); PromptMask?.Dispose(); }

    /// <summary>Takes the tensors out of every dispose scope: for batches kept for a whole run.</summary>
    public TrainingBatch Detached()
    {
        Ids.DetachFromDisposeScope();
        PromptMask?.DetachFromDisposeScope();
        return this;
    }
}

/// <summary>How <see cref="MaskedProcess"/> weights a masked token's cross-entropy in its training loss.</summary>
public enum MaskedLossWeighting { Elbo, Cart }

/// <summary>Where <see cref="MaskedProcess"/> draws the training loss's t.</summary>
public enum MaskedTimeSampling { Uniform, Bell }

/// <summary>The corrupted batch: x_t, which positions were masked, the time of each row.</summary>
public sealed record MaskedSample(Tensor Noisy, Tensor Masked, Tensor Time);

/// <summary>
/// The masked (absorbing-state) forward process: each token independently replaced by the mask token
/// with probability 1 − α_t. Its objective is the continuous-time ELBO: cross-entropy on masked
/// positions weighted by −α'_t/(1 − α_t).
/// </summary>
public sealed class MaskedProcess(MaskSchedule schedule, int maskId, double eps = 1e-3) : IForwardProcess, IDiffusionObjective
{
    public string Name => DiffusionProcess.Masked.Spelling;

    /// <summary>How the training loss weights a masked token: the ELBO's −α'/(1 − α), or Dream's CART weight.</summary>
    public MaskedLossWeighting Weighting { get; init; } = MaskedLossWeighting.Elbo;
    /// <summary>Where the training loss draws t: uniformly (the ELBO) or from a bell (<see cref="Masking.BellTime"/>).</summary>
    public MaskedTimeSampling TimeSampling { get; init; } = MaskedTimeSampling.Uniform;
    /// <summary>The name in <see cref="Masking.MaskedCorruptions"/>: uniform, cart or bell_t.</summary>
    public string Corruption => (Weighting == MaskedLossWeighting.Cart ? MaskedCorruption.Cart
        : TimeSampling == MaskedTimeSampling.Bell ? MaskedCorruption.BellT : MaskedCorruption.Uniform).Spelling;
    /// <summary>True when <see cref="Loss"/> is the ELBO itself; cart and bell_t train on a reweighted surrogate.</summary>
    public bool TrainsOnBound => Weighting == MaskedLossWeighting.Elbo && TimeSampling == MaskedTimeSampling.Uniform;

    public MaskSchedule Schedule { get; } = schedule;
    public int MaskId { get; } = maskId;
    /// <summary>t is drawn on (eps, 1]: at t → 0 the weight 1/t blows up while almost nothing is masked.</summary>
    public double Eps { get; } = eps;

    /// <summary>
    /// Low-variance times for a batch (MDLM's antithetic sampling): one u ~ U[0,1), row i gets
    /// (u + i/B) mod 1, so the batch covers [0,1) evenly; then mapped onto (eps, 1].
    /// </summary>
    public Tensor SampleTimes(long batch, Generator g) => SampleTimes(batch, g, TimeSampling);

    Tensor SampleTimes(long batch, Generator g, MaskedTimeSampling sampling)
    {
        using var scope = NewDisposeScope();
        var u = rand(1, dtype: ScalarType.Float64, generator: g);
        var strat = (u + arange(batch, dtype: ScalarType.Float64) / batch).remainder(1.0);
        // 1 − strat ∈ (0, 1], so the upper end t = 1 (everything masked) is reachable and t = eps is not below.
        var unit = 1.0 - strat;
        if (sampling == MaskedTimeSampling.Bell) unit = Masking.BellTime.Quantile(unit);
        var t = Eps + (1.0 - Eps) * unit;
        return t.MoveToOuterDisposeScope();
    }

    /// <summary>Masks each corruptible token of x0 with probability 1 − α_t of its row.</summary>
    public MaskedSample Corrupt(Tensor x0, Tensor t, Tensor? protectedMask, Generator g)
    {
        using var scope = NewDisposeScope();
        var pMask = MaskProbabilities(t).view(-1, 1);
        var masked = rand(x0.shape, dtype: ScalarType.Float64, generator: g) < pMask;
        if (protectedMask is not null) masked = masked & protectedMask.logical_not();
        var noisy = where(masked, full_like(x0, MaskId), x0);
        return new MaskedSample(noisy.MoveToOuterDisposeScope(), masked.MoveToOuterDisposeScope(), t.alias().MoveToOuterDisposeScope());
    }

    public Tensor SampleMarginal(Tensor x0, double t, Generator g)
    {
        using var scope = NewDisposeScope();
        using var times = full(new long[] { x0.shape[0] }, t, dtype: ScalarType.Float64);
        return Corrupt(x0, times, null, g).Noisy.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The chain step by step: between s and t an unmasked token is masked with probability
    /// 1 − α_t/α_s (given it survived to s), and a masked token stays masked (the absorbing state).
    /// </summary>
    public Tensor SimulateChain(Tensor x0, double[] times, Generator g)
    {
        IForwardProcess.ValidateTimes(times);
        using var scope = NewDisposeScope();
        var x = x0.alias();
        double prevAlpha = 1.0;
        foreach (var t in times)
        {
            double a = Schedule.Alpha(t);
            double maskNow = prevAlpha > 0 ? 1.0 - a / prevAlpha : 1.0;
            var newly = rand(x.shape, dtype: ScalarType.Float64, generator: g) < maskNow;
            x = where(newly, full_like(x, MaskId), x);
            prevAlpha = a;
        }
        return x.MoveToOuterDisposeScope();
    }

    public Tensor MaskProbabilities(Tensor t) => Map(t, Schedule.MaskProbability);
    public Tensor ElboWeights(Tensor t) => Map(t, Schedule.ElboWeight);

    static Tensor Map(Tensor t, Func<double, double> f)
    {
        var values = t.to_type(ScalarType.Float64).data<double>().ToArray().Select(f).ToArray();
        return tensor(values, dtype: ScalarType.Float64);
    }

    /// <summary>
    /// The ELBO training loss of a batch, as a scalar with gradient: Σ_rows Σ_masked w(t)·CE / n_row / B,
    /// where n_row is the row's number of corruptible tokens.
    /// </summary>
    public Tensor Loss(IDenoiser model, TrainingBatch batch, Generator g) => Objective(model, batch, g, Weighting, TimeSampling);

    /// <summary>The ELBO itself (uniform t, −α'/(1 − α) weights), whatever the training loss reweights: the bound `eval` reports.</summary>
    public Tensor NegativeElbo(IDenoiser model, TrainingBatch batch, Generator g) => Objective(model, batch, g, MaskedLossWeighting.Elbo, MaskedTimeSampling.Uniform);

    Tensor Objective(IDenoiser model, TrainingBatch batch, Generator g, MaskedLossWeighting weighting, MaskedTimeSampling sampling)
    {
        using var scope = NewDisposeScope();
        long b = batch.Ids.shape[0];
        var t = SampleTimes(b, g, sampling);
        var sample = Corrupt(batch.Ids, t, batch.PromptMask, g);
        var logits = model.Logits(sample.Noisy, time: model.Config.TimeConditioning ? t.to_type(ScalarType.Float32) : null);
        var ce = nn.functional.cross_entropy(logits.flatten(0, 1), batch.Ids.flatten(), reduction: nn.Reduction.None).view(batch.Ids.shape);
        var weights = weighting == MaskedLossWeighting.Cart
            ? Masking.CartWeights.Compute(sample.Masked).to_type(ScalarType.Float32)
            : ElboWeights(t).to_type(ScalarType.Float32).view(-1, 1);
        var corruptible = batch.PromptMask is null
            ? full(new long[] { b }, (float)batch.Ids.shape[1], dtype: ScalarType.Float32)
            : batch.PromptMask.logical_not().sum(1, type: ScalarType.Float32);
        var perRow = (ce * weights * sample.Masked.to_type(ScalarType.Float32)).sum(1) / corruptible.view(-1);
        return (perRow.sum() / b).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Masking is an erasure channel: x_t reveals x_0 with probability α_t and nothing otherwise, so
    /// I(x_t; x_0) = α_t·H(x_0) exactly.
    /// </summary>
    public double AnalyticInformation(double t, double[] unigram, Generator g) => Schedule.Alpha(t) * Entropy(unigram);

    /// <summary>Shannon entropy in nats of a probability vector (zeros skipped).</summary>
    public static double Entropy(double[] p) => -p.Where(v => v > 0).Sum(v => v * Math.Log(v));

    public (Tensor Logits, Tensor Corrupted) DenoiseAt(IDenoiser model, Tensor x0, double t, Tensor? protectedMask, Generator g)
    {
        using var scope = NewDisposeScope();
        var times = full(new long[] { x0.shape[0] }, t, dtype: ScalarType.Float64);
        var sample = Corrupt(x0, times, protectedMask, g);
        var logits = model.Logits(sample.Noisy, time: model.Config.TimeConditioning ? times.to_type(ScalarType.Float32) : null);
        return (logits.MoveToOuterDisposeScope(), sample.Masked.MoveToOuterDisposeScope());
    }
}
