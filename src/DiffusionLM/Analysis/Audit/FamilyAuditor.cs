using System.Diagnostics;
using DiffusionLM.Analysis.Trap;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Audit;

/// <summary>
/// Measures the paper's five properties for one model folder, through the interfaces every family implements:
/// its objective (<see cref="IDiffusionObjective"/>: the analytic D1 curve and the denoiser at a fixed t), its
/// forward process (<see cref="IForwardProcess"/>: the D2 check), its default sampler
/// (<see cref="IObservableSampler"/>: D3 and L1) and <see cref="TrapModel"/> for a trap model of the same family (L2).
/// </summary>
public static class FamilyAuditor
{
    /// <summary>The stages reported through the progress callback, in order.</summary>
    public const int Stages = 5;

    /// <param name="heldOut">held-out text windows of the model's tokenizer (rows of equal length): D1's denoiser and spread, D2's x_0, D3's prompts.</param>
    /// <param name="unigram">token probabilities of the training corpus, for the analytic D1 curve.</param>
    /// <param name="progress">(stage done, status) after each stage, and the trap model's training steps.</param>
    public static FamilyAudit Run(string modelDir, IDenoiser model, long[][] heldOut, double[] unigram, AuditOptions o,
        Action<int, string>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        var process = model.Config.Process;
        if (heldOut.Length == 0) throw new DlmException($"{modelDir}: no held-out window to audit with");
        // The frequency-aware masked corruptions (spindle, information) take their rates from the training counts.
        var counts = Text.UnigramCounts.TryLoad(Path.Combine(modelDir, Models.Checkpoint.UnigramFile));
        var objective = DiffusionProcesses.Objective(model.Config, model, counts);
        if (model is nn.Module m) m.eval();

        var stages = new Dictionary<string, double>();
        var stage = Stopwatch.StartNew();
        void Done(string name) { stages[name] = Math.Round(stage.Elapsed.TotalSeconds, 1); stage.Restart(); }
        progress?.Invoke(0, "D1: information against t");
        var d1 = MeasureD1(objective, model, heldOut, unigram, o);
        Done("d1");
        progress?.Invoke(1, "D2: closed form against the chain");
        var d2 = MeasureD2(objective, model, heldOut[0], o);
        Done("d2");
        progress?.Invoke(2, "D3/L1: sampling with the default sampler");
        var (d3, l1) = MeasureD3L1(model, heldOut, o);
        if (process.Continuous) l1 = l1 with { Rounding = MeasureRounding(model, heldOut.Take(o.Windows).ToArray(), o) };
        Done("d3_l1");
        progress?.Invoke(3, "L2: training the trap model");
        var language = TrapLanguages.FromName(o.TrapLanguage);
        var trapOptions = new TrapTrainingOptions(Steps: o.TrapTrainSteps, Seed: o.Seed) { Process = process };
        var l2 = TrapAudit.Run(language, trapOptions, o.TrapSamples, (ulong)o.Seed,
            (step, loss) => { if (step % 25 == 0) progress?.Invoke(3, $"L2: trap model step {step}/{o.TrapTrainSteps} loss {loss:F3}"); });
        Done("l2");
        progress?.Invoke(5, "done");
        return new FamilyAudit(process.Spelling, modelDir, d1, d2, d3, l1, l2, Math.Round(clock.Elapsed.TotalSeconds, 1)) { StageSeconds = stages };
    }

    public static D1Result MeasureD1(IDiffusionObjective objective, IDenoiser model, long[][] heldOut, double[] unigram, AuditOptions o)
    {
        var times = InformationCurve.Times(o.Times);
        double entropy = MaskedProcess.Entropy(unigram);
        using var g = new Generator((ulong)o.Seed);
        var info = InformationCurve.Analytic(objective, times, unigram, g);
        var normalised = info.Select(v => entropy > 0 ? v / entropy : double.NaN).ToArray();

        var windows = heldOut.Take(o.Windows).ToArray();
        var points = times.Select(t => InformationCurve.Denoise(objective, model, windows, t, 1, o.Batch, g)).ToArray();
        var accuracy = points.Select(p => p.MeanAccuracy).ToArray();
        var denoiser = new DenoiserCurve(windows.Length, windows[0].Length, accuracy, points.Select(p => p.MeanLogProb).ToArray(),
            points.Select(p => p.AccuracyCorrupted).ToArray(), points.Select(p => p.LogProbCorrupted).ToArray(),
            points.Select(p => p.MeanCorruptedShare).ToArray(), InformationCurve.LargestJump(accuracy));

        var spreadPoint = InformationCurve.Denoise(objective, model, windows, o.SpreadT, o.SpreadDraws, o.Batch, g);
        var sp = spreadPoint;
        var accuracyCorrupted = sp.CountCorrupted.Select((n, i) => n > 0 ? (double)sp.CorrectCorrupted[i] / n : double.NaN).ToArray();
        var logpCorrupted = Enumerable.Range(0, sp.CountCorrupted.Length).Select(i =>
        {
            var v = sp.WindowLogProb.Select(w => w[i]).Where(double.IsFinite).ToArray();
            return v.Length > 0 ? v.Average() : double.NaN;
        }).ToArray();
        var (chi, dof, p) = InformationCurve.Heterogeneity(sp.WindowAccuracy);
        var (wStd, wMin, wMax) = InformationCurve.WithinWindow(sp.WindowLogProb);
        var spread = new SpreadResult(o.SpreadT, o.SpreadDraws * windows.Length, PositionSpread.Of(accuracyCorrupted), PositionSpread.Of(logpCorrupted),
            chi, dof, p, wStd, wMin, wMax, PositionSpread.Of(sp.CorruptedShare));
        // One token's path on the curve's grid and on a grid four times finer: a continuous fall shrinks with the grid, a jump does not.
        TokenPathResult? Path(double[] grid) => TokenPath.For(objective) is { } pathModel
            ? TokenPath.Measure(pathModel, unigram, grid, o.PathTokens, g)
            : objective is GaussianProcess gp && model.Config.Process.Continuous && model is IContinuousDenoiser cd
                ? TokenPath.MeasureGaussian(gp, cd.DiffusionEmbeddings(), unigram, grid, o.PathTokens, g)
                : null;
        var path = Path(times.Skip(1).ToArray());
        var finePath = Path(InformationCurve.Times(4 * (times.Length - 1) + 1).Skip(1).ToArray());
        return new D1Result(times, entropy, info, normalised, InformationCurve.LargestJump(info), InformationCurve.LargestJump(normalised),
            1.0 / (times.Length - 1), path, finePath, denoiser, spread);
    }

    /// <summary>
    /// D2 through the family's forward process: the discrete ones by <see cref="ClosedFormCheck"/> on held-out tokens, the
    /// gaussian one by <see cref="GaussianClosedFormCheck"/> on the same tokens' embeddings (fewer samples: each is L×D draws).
    /// </summary>
    public static D2Result MeasureD2(IDiffusionObjective objective, IDenoiser model, long[] window, AuditOptions o)
    {
        var x0 = window.Take(o.D2Tokens).ToArray();
        using var g = new Generator((ulong)o.Seed + 2);
        if (objective is IForwardProcess forward)
        {
            var r = ClosedFormCheck.Run(forward, x0, o.D2T, o.D2Samples, o.D2ChainSteps, g);
            return new D2Result(true, "chi-square homogeneity test per position of x_t, closed form vs step-by-step chain", r.T, r.Samples, r.ChainSteps,
                r.Statistic, r.DegreesOfFreedom, r.PValue, r.Passes(), r.ClosedFormStayRate, r.ChainStayRate);
        }
        if (objective is IContinuousForwardProcess continuous && model.Config.Process.Continuous && model is IContinuousDenoiser cd)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var e = cd.DiffusionEmbeddings().detach().index_select(0, tensor(x0, dtype: ScalarType.Int64));
            var r = GaussianClosedFormCheck.Run(continuous, e, o.D2T, Math.Min(o.D2Samples, 1000), o.D2ChainSteps, g);
            return new D2Result(true, "two-sample z tests of the mean and the variance of x_t − x_0 (embeddings), closed form vs step-by-step chain, χ²(2)",
                r.T, r.Samples, r.ChainSteps, r.Statistic, r.DegreesOfFreedom, r.PValue, r.Passes(), double.NaN, double.NaN,
                FormattableString.Invariant($"variance of x_t − x_0 {r.ClosedFormVariance:F3} closed form vs {r.ChainVariance:F3} chain (σ(t)² = {r.TheoryVariance:F3})"));
        }
        return new D2Result(false, "none", o.D2T, 0, 0, double.NaN, 0, double.NaN, false, double.NaN, double.NaN,
            $"no closed-form check is wired for the {objective.Name} process");
    }

    /// <summary>Times at which a continuous model's rounding error is measured.</summary>
    public static readonly double[] RoundingTimes = [0.0, 0.25, 0.5, 0.75, 1.0];

    /// <summary>L1 of a continuous model: how often rounding x_t, or the denoiser's x̂_0 from it, to the nearest embedding misses x_0.</summary>
    public static IReadOnlyList<RoundingError> MeasureRounding(IDenoiser model, long[][] windows, AuditOptions o)
    {
        using var g = new Generator((ulong)o.Seed + 4);
        using var scope = NewDisposeScope();
        var ids = tensor(windows.SelectMany(w => w).ToArray(), dtype: ScalarType.Int64).view(windows.Length, windows[0].Length);
        return RoundingTimes.Select(t => GaussianDiagnostics.RoundingErrorRate(model, ids, t, g)).ToList();
    }

    public static (D3Result D3, L1Result L1) MeasureD3L1(IDenoiser model, long[][] heldOut, AuditOptions o)
    {
        var process = model.Config.Process;
        string name = SamplerRegistry.DefaultFor(process);
        int ctx = model.Config.MaxSequenceLength;
        int promptLength = Math.Min(o.PromptLength, heldOut[0].Length);
        int gen = Math.Min(o.GenLength, (ctx - promptLength) / 2);
        if (gen < 2) throw new DlmException($"the model's context ({ctx}) is too short to sample {2 * o.GenLength} tokens after a {promptLength}-token prompt");
        var prompts = heldOut.Take(o.SamplerRows).Select(w => w[..promptLength]).ToArray();
        var settings = new SamplerSettings(GenLength: gen, Steps: gen, Temperature: 1.0);
        var sampler = SamplerRegistry.Create(name, settings) as IObservableSampler
            ?? throw new DlmException($"the {process} family's default sampler \"{name}\" does not expose its intermediate states");
        using var g = new Generator((ulong)o.Seed + 3);
        var (stats, result) = RefinementTracker.Track(sampler, model, prompts, gen, g);
        var longer = SamplerRegistry.Create(name, settings with { GenLength = 2 * gen });
        var longResult = longer.Generate(model, prompts, g);
        var d3 = new D3Result(name, gen, prompts.Length, gen, stats.RevisionsPerPosition, stats.RevisedShare,
            2 * gen, result.Nfe, longResult.Nfe, result.Nfe == longResult.Nfe);
        var l1 = new L1Result(stats.Observations, stats.DiscreteShare, stats.ValidShare, stats.RealTokenShare);
        return (d3, l1);
    }

    /// <summary>
    /// Held-out windows of <paramref name="length"/> tokens, evenly spread over the validation split (the last 5% of
    /// every file, as <c>dlm train</c> holds out) of <paramref name="files"/>; windows overlap when the split is short.
    /// </summary>
    public static long[][] HeldOutWindows(ITokenizer tokenizer, IReadOnlyList<string> files, int length, int count)
    {
        if (count < 1) throw new DlmException($"need at least one held-out window; got {count}");
        var texts = TokenCorpus.ReadTexts(files);
        var corpus = TokenCorpus.Build(tokenizer, files, texts, length + 1);
        var ids = corpus.Validation;
        int span = ids.Length - length;
        return Enumerable.Range(0, count)
            .Select(k => (long)(count == 1 ? 0 : (long)k * span / (count - 1)))
            .Select(start => ids.AsSpan((int)start, length).ToArray().Select(i => (long)i).ToArray())
            .ToArray();
    }
}
