using DiffusionLM.Analysis.Trap;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using TorchSharp;

namespace DiffusionLM.Analysis.Audit;

/// <summary>The trap rate of one sampler setting: invalid samples among <paramref name="Samples"/> drawn at temperature 1.</summary>
public sealed record TrapRatePoint(int Steps, double TokensPerStep, int Samples, int Invalid, int Nfe, string ExampleInvalid)
{
    public double TrapRate => Samples > 0 ? (double)Invalid / Samples : double.NaN;
}

/// <summary>L2 of one family: a trap model of the family and its trap rate from many steps to one.</summary>
public sealed record TrapAuditResult(string Language, string Process, string Sampler, int TrainSteps, double FinalLoss, IReadOnlyList<TrapRatePoint> Points);

/// <summary>
/// L2 (structural dependency) measured: a model of the family is trained on a trap language (the paper's
/// {"He likes apple", "I play tennis"} by default) with <see cref="TrapModel"/>, and the family's default
/// sampler draws sentences at temperature 1 with as many steps as words (one token per step for the masked
/// family), two steps and one step. A sampler that decides dependent words in one step from per-token
/// marginals mixes the sentences ("I likes tennis"); the checker says exactly which samples are invalid.
/// </summary>
public static class TrapAudit
{
    public static TrapAuditResult Run(TrapLanguage language, TrapTrainingOptions options, int samples, ulong seed,
        Action<int, double>? trainProgress = null, int batch = 500)
    {
        if (samples < 1) throw new DlmException($"the trap audit needs at least one sample; got {samples}");
        string corpus = TrapModel.CorpusText(language, options.Sentences, options.Seed);
        var tokenizer = TrapModel.Tokenizer(language, corpus);
        double lastLoss = double.NaN;
        using var model = TrapModel.Train(language, tokenizer, corpus, options, (step, loss) =>
        {
            lastLoss = loss;
            trainProgress?.Invoke(step, loss);
        });
        var words = TrapModel.WordTokens(tokenizer, language);
        var prompt = TrapModel.Prompt(tokenizer);
        string samplerName = SamplerRegistry.DefaultFor(options.Process);
        int n = language.Length;
        var stepCounts = new[] { n, 2, 1 }.Where(s => s >= 1 && s <= n).Distinct().ToArray();
        var points = stepCounts.Select((steps, i) => Measure(model, samplerName, steps, prompt, words, language, samples, seed + (ulong)i, batch)).ToList();
        return new TrapAuditResult(language.Name, options.Process.Spelling, samplerName, options.Steps, lastLoss, points);
    }

    /// <summary>Draws <paramref name="samples"/> sentences with <paramref name="steps"/> steps and checks each against the language.</summary>
    public static TrapRatePoint Measure(IDenoiser model, string samplerName, int steps, long[] prompt, int[] wordTokens, TrapLanguage language,
        int samples, ulong seed, int batch = 500)
    {
        var sampler = SamplerRegistry.Create(samplerName, new SamplerSettings(GenLength: language.Length, Steps: steps, Temperature: 1.0));
        var tokenToWord = new Dictionary<long, int>();
        for (int w = 0; w < wordTokens.Length; w++) tokenToWord[wordTokens[w]] = w;
        using var g = new torch.Generator(seed);
        int invalid = 0, nfe = 0;
        string example = "";
        for (int done = 0; done < samples; done += batch)
        {
            int rows = Math.Min(batch, samples - done);
            var result = sampler.Generate(model, Enumerable.Repeat(prompt, rows).ToArray(), g);
            nfe = Math.Max(nfe, result.Nfe);
            foreach (var row in result.Completions)
            {
                var sentence = row.Select(t => tokenToWord.TryGetValue(t, out int w) ? w : -1).ToArray();
                if (language.IsValid(sentence)) continue;
                invalid++;
                if (example.Length == 0) example = language.Text(sentence);
            }
        }
        return new TrapRatePoint(steps, (double)language.Length / steps, samples, invalid, nfe, example);
    }
}
