using System.Diagnostics;
using DiffusionLM.Analysis.Quality;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using DiffusionLM.Training;

namespace DiffusionLM.Analysis.Generation;

/// <summary>
/// `dlm bench generation`: speed against quality for every masked sampler, cache and pace on the story openings. A cell
/// generates <see cref="GenerationOptions.Samples"/> continuations in batches (judged by the teacher, as `dlm bench
/// quality` judges) and times the sampler calls; then the first <see cref="GenerationOptions.TimingSamples"/> again one
/// at a time for the batch-1 speed. Every speed-up is over the baseline (LLaDA's sampler, one token per step, no cache)
/// at the same batch size, measured in the same run.
/// </summary>
public sealed class GenerationBenchmark(QualityBenchmark judge, GenerationOptions options)
{
    /// <summary>(cell index, what runs, samples done, samples of the run).</summary>
    public Action<int, string, int, int>? OnProgress { get; init; }

    public List<GenerationCell> Run(string folder, IDenoiser model, ITokenizer tokenizer, IReadOnlyList<string> openings, IReadOnlyList<GenerationSetting> grid)
    {
        var o = options;
        var prompts = judge.PromptsFor(folder, model, tokenizer, openings, o.GenLength);
        bool same = judge.SharesJudgeTokenizer(tokenizer);
        if (grid.Count == 0 || grid[0].Sampler != GenerationOptions.Baseline) throw new ArgumentException("the grid starts with the baseline", nameof(grid));
        WarmUp(model, prompts);

        var cells = new List<GenerationCell>();
        GenerationCell? baseline = null;
        for (int c = 0; c < grid.Count; c++)
        {
            var setting = grid[c];
            var sampler = SamplerRegistry.Create(setting.Sampler, setting.Settings);
            long stream = StableStream(setting.Label);
            var continuations = new int[o.Samples][];
            var batched = Time(sampler, model, prompts, o.Samples, o.BatchSize, stream, c, setting.Label, (i, row) => continuations[i] = judge.JudgeIds(row, model, tokenizer, same));
            var single = o.TimingSamples > 0 ? Time(sampler, model, prompts, Math.Min(o.TimingSamples, o.Samples), 1, stream + 1, c, setting.Label + " (batch 1)", null) : null;
            var drift = CacheDrift.Measure(setting, model, prompts, o.DriftSamples, o.Seed, stream + 2);
            var quality = judge.Score(setting.Label, setting.Settings.Steps, openings, continuations, batched.nfe_per_sample, batched.seconds);
            var entry = SamplerRegistry.Find(setting.Sampler);
            baseline ??= new GenerationCell(setting.Sampler, setting.Setting, setting.Cache, entry.Blocks, quality, batched, single, 1, single is null ? null : 1, true, null);
            double sb = batched.tokens_per_second / baseline.batched.tokens_per_second;
            double? s1 = single is null ? null : single.tokens_per_second / baseline.single!.tokens_per_second;
            bool equal = quality.gen_ppl.value <= baseline.quality.gen_ppl.high && quality.entropy.value >= baseline.quality.entropy.low;
            cells.Add(new GenerationCell(setting.Sampler, setting.Setting, setting.Cache, entry.Blocks, quality, batched, single, sb, s1, equal, drift));
        }
        return cells;
    }

    /// <summary>The fastest equal-quality cell at each batch size (the baseline itself when nothing else qualifies).</summary>
    public static List<BestCell> Best(IReadOnlyList<GenerationCell> cells, GenerationOptions o)
    {
        var best = new List<BestCell>();
        var ok = cells.Where(c => c.equal_quality).ToList();
        // The first cell is the baseline: when even it does not qualify (a NaN perplexity compares false) it is still the answer.
        var b = ok.MaxBy(c => c.speedup_batched) ?? cells[0];
        best.Add(new BestCell(o.BatchSize, $"{b.sampler} {b.setting} cache={b.cache}", b.speedup_batched, b.batched.tokens_per_second));
        if (ok.Any(c => c.single is not null))
        {
            var s = ok.Where(c => c.single is not null).MaxBy(c => c.speedup_single!.Value)!;
            best.Add(new BestCell(1, $"{s.sampler} {s.setting} cache={s.cache}", s.speedup_single!.Value, s.single!.tokens_per_second));
        }
        return best;
    }

    /// <summary>
    /// <paramref name="count"/> samples in batches of <paramref name="batchSize"/>, timing only the sampler calls. Batch k
    /// draws from the generator (seed, stream, k): a cell's samples depend on its label, the seed and the batch size only.
    /// </summary>
    Speed Time(ISampler sampler, IDenoiser model, long[][] prompts, int count, int batchSize, long stream, int cell, string label, Action<int, long[]>? keep)
    {
        double seconds = 0; long nfe = 0, positions = 0;
        for (int start = 0, k = 0; start < count; start += batchSize, k++)
        {
            int n = Math.Min(batchSize, count - start);
            var rows = Enumerable.Range(start, n).Select(i => prompts[i % prompts.Length]).ToArray();
            using var g = BatchSampler.StepGenerator(options.Seed, stream, 200 + k);
            var clock = Stopwatch.StartNew();
            var result = sampler.Generate(model, rows, g);
            seconds += clock.Elapsed.TotalSeconds;
            // Every row of a batch waits for all of its calls: the batch's NFE is each of its samples' latency in calls.
            nfe += (long)result.Nfe * n;
            positions += result.PositionsEvaluated;
            if (keep is not null)
                for (int b = 0; b < n; b++) keep(start + b, result.Completions[b]);
            OnProgress?.Invoke(cell, label, start + n, count);
        }
        return new Speed(batchSize, count, seconds, (double)count * options.GenLength / seconds, (double)nfe / count, (double)positions / count);
    }

    /// <summary>One short untimed generation first, so that the baseline does not pay for loading and compiling the code paths.</summary>
    void WarmUp(IDenoiser model, long[][] prompts)
    {
        int length = Math.Min(options.BlockLength, options.GenLength);
        var s = new SamplerSettings(GenLength: length, Steps: length, BlockLength: length, Temperature: options.Temperature);
        using var g = BatchSampler.StepGenerator(options.Seed, -1, 199);
        SamplerRegistry.Create(GenerationOptions.Baseline, s).Generate(model, prompts.Take(Math.Min(options.BatchSize, prompts.Length)).ToArray(), g);
    }

    /// <summary>A cell's generator stream from its label (FNV-1a): filtering the grid leaves every other cell's samples unchanged.</summary>
    static long StableStream(string label)
    {
        uint h = 2166136261;
        foreach (char ch in label) { h ^= ch; h *= 16777619; }
        return 1000 + (h & 0x3fffffff) * 2L;
    }
}
