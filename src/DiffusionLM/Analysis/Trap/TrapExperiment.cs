using DiffusionLM.Models;
using DiffusionLM.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Trap;

/// <summary>One sampler setting of a sweep: a registry name, the label of its curve, its settings.</summary>
public sealed record TrapSetting(string Sampler, string Curve, SamplerSettings Settings);

/// <summary>
/// One measured point: over <paramref name="Samples"/> draws, the fraction outside the support, and the cost:
/// <paramref name="Nfe"/> = mean over samples of the steps that committed something to that sample (what the
/// sample would cost alone: a batched run calls the network until its slowest row is done),
/// <paramref name="TokensPerStep"/> = length / Nfe, the batched run's network calls, and the compute:
/// <paramref name="RowsPerSample"/> = sequences the network evaluated per sample (the batched calls; more than
/// the calls for dependency_aware, whose calls carry probe copies).
/// </summary>
public sealed record TrapPoint(string Sampler, string Curve, double TokensPerStep, double TrapRate, double Nfe,
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
        double nfe = rowSteps / samples;
        return new TrapPoint(setting.Sampler, setting.Curve, language.Length / nfe, (double)invalid / samples, nfe, samples, invalid, batchNfe,
            example, rowsEvaluated / samples);
    }

    /// <summary>
    /// The sweep: for each sampler, settings from one token per step to the whole sentence in one step.
    /// <paramref name="quick"/> keeps the two ends (one and many tokens per step).
    /// </summary>
    public static List<TrapSetting> Sweep(int length, bool quick, double temperature = 1.0)
    {
        var s0 = new SamplerSettings(GenLength: length, Steps: length, Temperature: temperature);
        int[] steps = quick ? [length, 1] : Enumerable.Range(1, length).Reverse().ToArray();
        double[] thresholds = quick ? [0.9, 0.0] : [0.999, 0.99, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.0];
        double[] factors = quick ? [0.5, 16] : [0.1, 0.25, 0.5, 1, 2, 4, 8, 16];
        var list = new List<TrapSetting>();
        foreach (var name in new[] { "low_confidence", "random", "dream_origin", "dream_maskgit_plus", "dream_topk_margin", "dream_entropy", "mdlm" })
            foreach (int st in steps) list.Add(new(name, name, s0 with { Steps = st }));
        foreach (int st in quick ? [2 * length, length] : new[] { 4 * length, 2 * length, length, Math.Max(1, length / 2), 1 })
            list.Add(new("remdm_cap", "remdm_cap", s0 with { Steps = st, Eta = 0.05 }));
        // Extra thresholds between 0.4 and 0.2 fill the NFE range where the threshold sampler jumps from one
        // token per step to several (its all-mask confidences lie there), for comparisons at equal NFE.
        double[] fine = quick ? [] : [0.36, 0.33, 0.3, 0.27, 0.25];
        foreach (double t in thresholds.Concat(fine).Distinct().OrderDescending())
            list.Add(new("fast_dllm_threshold", "fast_dllm_threshold", s0 with { Threshold = t }));
        foreach (double f in factors) list.Add(new("fast_dllm_factor", "fast_dllm_factor", s0 with { Factor = f }));
        foreach (double t in thresholds) list.Add(new("dependency_aware", "dependency_aware", s0 with { Threshold = t }));
        // EB-Sampler's entropy budget, from one token per step (γ = 0) to the whole sentence at once.
        double[] gammas = quick ? [0.0, 1.0] : [0.0, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 100.0];
        foreach (double gm in gammas) list.Add(new("eb", "eb", s0 with { Gamma = gm }));
        // One or two independent anchors per step: slower settings, so that its NFE range overlaps the threshold sampler's.
        if (!quick)
            foreach (int a in new[] { 1, 2 })
                list.Add(new("dependency_aware", "dependency_aware", s0 with { Threshold = 0.9, AnchorsPerStep = a }));
        return list;
    }
}
