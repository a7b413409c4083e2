using DiffusionLM.Models;
using DiffusionLM.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Trap;

/// <summary>One sampler setting of a sweep: a registry name, the label of its curve, its settings.</summary>
public sealed record TrapSetting(string Sampler, string Curve, SamplerSettings Settings);

/// <summary>
/// One measured point: over <paramref name="Samples"/> draws, the fraction outside the support, and the cost:
/// <paramref name="CommittingSteps"/> = mean over samples of the steps that committed something to that sample (what
/// the sample would cost alone, one network call per step; not the NFE of the batched run, which calls the network until
/// its slowest row is done: that is <paramref name="BatchNfe"/>, forward calls of the largest batch),
/// <paramref name="TokensPerStep"/> = length / CommittingSteps, and the compute:
/// <paramref name="RowsPerSample"/> = sequences the network evaluated per sample (the batched calls; more than
/// the calls for dependency_aware, whose calls carry probe copies).
/// </summary>
public sealed record TrapPoint(string Sampler, string Curve, double TokensPerStep, double TrapRate, double CommittingSteps,
    int Samples, int Invalid, int BatchNfe, string Example, double RowsPerSample);

/// <summary>The exact product-of-marginals prediction for a model: one call on bos + all masks.</summary>
public sealed record MarginalPrediction(double[][] Marginals, double ValidProbability, double OffWordMass)
{
    public double InvalidRate => 1 - ValidProbability;
}

/// <summary>Measures the marginal trap of samplers on a language with an exact support.</summary>
public static class TrapExperiment
{
    /// <summary>
    /// The model's marginals at the all-mask state given the prompt, restricted to the language's words
    /// (mass on other tokens counts as invalid), and the exact validity of drawing every position from them
    /// independently (<see cref="TrapLanguage.ProductOfMarginalsValidity"/>).
    /// </summary>
    public static MarginalPrediction Predict(IDenoiser model, long[] prompt, int[] wordTokens, TrapLanguage language)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        int total = prompt.Length + language.Length;
        var ids = full(new long[] { 1, total }, model.Config.MaskTokenId, dtype: ScalarType.Int64);
        ids.narrow(1, 0, prompt.Length).copy_(tensor(prompt).unsqueeze(0));
        var logits = model.Logits(ids).to_type(ScalarType.Float64);
        // The mask token is never a prediction (the samplers exclude it), so the marginals exclude it too.
        logits = logits.index_fill(-1, tensor(new long[] { model.Config.MaskTokenId }), double.NegativeInfinity);
        var probs = softmax(logits[0], -1).data<double>().ToArray();
        int v = model.Config.VocabSize;
        var marginals = new double[language.Length][];
        double off = 0;
        for (int i = 0; i < language.Length; i++)
        {
            int row = (prompt.Length + i) * v;
            marginals[i] = wordTokens.Select(t => probs[row + t]).ToArray();
            off += 1 - marginals[i].Sum();
        }
        return new MarginalPrediction(marginals, language.ProductOfMarginalsValidity(marginals), off / language.Length);
    }

    /// <summary>Runs one setting over <paramref name="samples"/> draws (in batches) and checks each exactly.</summary>
    public static TrapPoint Measure(IDenoiser model, TrapSetting setting, long[] prompt, int[] wordTokens, TrapLanguage language,
        int samples, ulong seed, int batch = 500)
    {
        var sampler = SamplerRegistry.Create(setting.Sampler, setting.Settings with { GenLength = language.Length });
        var tokenToWord = new Dictionary<long, int>();
        for (int w = 0; w < wordTokens.Length; w++) tokenToWord[wordTokens[w]] = w;
        using var g = new Generator(seed);
        int invalid = 0, batchNfe = 0;
        double rowSteps = 0, rowsEvaluated = 0;
        string example = "";
        for (int done = 0; done < samples; done += batch)
        {
            int n = Math.Min(batch, samples - done);
            var prompts = Enumerable.Range(0, n).Select(_ => prompt).ToArray();
            var result = sampler.Generate(model, prompts, g);
            batchNfe = Math.Max(batchNfe, result.Nfe);
            rowsEvaluated += result.RowsEvaluated;
            var stepsPerRow = new int[n];
            foreach (var step in result.Trace)
                foreach (int row in step.Commits.Select(c => c.Row).Distinct()) stepsPerRow[row]++;
            rowSteps += stepsPerRow.Sum();
            foreach (var row in result.Completions)
            {
                var words = row.Select(t => tokenToWord.TryGetValue(t, out int w) ? w : -1).ToArray();
                if (!language.IsValid(words))
                {
                    invalid++;
                    if (example.Length == 0) example = language.Text(words);
                }
            }
        }
        double committing = rowSteps / samples;
        return new TrapPoint(setting.Sampler, setting.Curve, language.Length / committing, (double)invalid / samples, committing, samples, invalid, batchNfe,
            example, rowsEvaluated / samples);
    }

    /// <summary>The one-token-per-step baseline the parallel samplers are compared with (LLaDA's low-confidence remasking).</summary>
    public const string Baseline = "low_confidence";

    /// <summary>
    /// The samplers of the study: every masked sampler of the registry that has a pace (<see cref="SamplerRegistry.Entry.Pace"/>),
    /// each variant once (a generic entry, e.g. llada, would measure one of its variants a second time).
    /// </summary>
    public static IEnumerable<SamplerRegistry.Entry> Samplers() =>
        SamplerRegistry.OfFamily(DiffusionProcess.Masked.Spelling).Where(e => !e.Generic && e.Pace is not null);

    /// <summary>Whether a sampler chooses per step how many tokens to commit (a threshold, factor or entropy budget) rather than by its step count.</summary>
    public static bool Adaptive(string sampler) => SamplerRegistry.Find(sampler).Pace is { Setting: not nameof(SamplerSettings.Steps) };

    /// <summary>
    /// The sweep: for each sampler of <see cref="Samplers"/>, settings of its pace from one token per step to the whole
    /// sentence in one step. <paramref name="quick"/> keeps the two ends (one and many tokens per step).
    /// </summary>
    public static List<TrapSetting> Sweep(int length, bool quick, double temperature = 1.0)
    {
        var s0 = new SamplerSettings(GenLength: length, Steps: length, Temperature: temperature);
        int[] steps = quick ? [length, 1] : Enumerable.Range(1, length).Reverse().ToArray();
        // A sampler that remasks needs more steps than tokens to show it; from four steps per token to one step in all.
        int[] remaskingSteps = quick ? [2 * length, length] : [4 * length, 2 * length, length, Math.Max(1, length / 2), 1];
        // Extra thresholds between 0.4 and 0.2 fill the committing-step range where the threshold rule jumps from one
        // token per step to several (its all-mask confidences lie there), for comparisons at equal cost.
        double[] thresholds = quick ? [0.9, 0.0] : [0.999, 0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.36, 0.33, 0.3, 0.27, 0.25, 0.2, 0.0];
        double[] factors = quick ? [0.5, 16] : [0.1, 0.25, 0.5, 1, 2, 4, 8, 16];
        // EB-Sampler's entropy budget, from one token per step (γ = 0) to the whole sentence at once.
        double[] gammas = quick ? [0.0, 1.0] : [0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 100.0];
        var list = new List<TrapSetting>();
        foreach (var e in Samplers())
        {
            // A remasking sampler runs at a rate that makes its remasking visible (its default 0.008 barely remasks 3 tokens).
            var base0 = e.Remasks && e.Option("--eta") is not null ? s0 with { Eta = 0.05 } : s0;
            IEnumerable<SamplerSettings> points = e.Pace!.Setting switch
            {
                nameof(SamplerSettings.Threshold) => thresholds.Select(t => base0 with { Threshold = t }),
                nameof(SamplerSettings.Factor) => factors.Select(f => base0 with { Factor = f }),
                nameof(SamplerSettings.Gamma) => gammas.Select(g => base0 with { Gamma = g }),
                _ => (e.Remasks ? remaskingSteps : steps).Select(st => base0 with { Steps = st }),
            };
            // One or two independent anchors per step: slower settings, so that the range overlaps the threshold rule's.
            if (!quick && e.Option("--anchors-per-step") is not null)
                points = points.Concat(new[] { 1, 2 }.Select(a => base0 with { Threshold = 0.9, AnchorsPerStep = a }));
            list.AddRange(points.Select(p => new TrapSetting(e.Name, e.Name, p)));
        }
        return list;
    }

    /// <summary>How a setting is labelled in reports: its pace ("threshold=0.9", "steps=3"), and anchors per step when limited.</summary>
    public static string Describe(TrapSetting setting)
    {
        var pace = SamplerRegistry.Find(setting.Sampler).Pace!;
        string d = $"{pace.Flag.TrimStart('-')}={SamplerOption.Format(pace.Given(setting.Settings))}";
        return setting.Settings.AnchorsPerStep is > 0 ? d + $" anchors={setting.Settings.AnchorsPerStep}" : d;
    }
}
