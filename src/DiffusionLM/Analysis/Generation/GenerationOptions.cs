using DiffusionLM.Models;
using DiffusionLM.Sampling;

namespace DiffusionLM.Analysis.Generation;

/// <summary>How `dlm bench generation` samples, times and scores.</summary>
/// <param name="Samples">continuations judged per cell (sample i continues opening i mod the number of openings), generated <paramref name="BatchSize"/> at a time.</param>
/// <param name="GenLength">tokens generated after each opening (the completion; the prompt is never counted).</param>
/// <param name="BlockLength">semi-autoregressive block of the samplers that decode block by block (the others decode the whole completion as one).</param>
/// <param name="Temperature">sampling temperature of every sampler (1: the protocol of `dlm bench quality`, so the units of "equal quality" are that table's).</param>
/// <param name="BatchSize">rows generated together in the judged run, the batched speed.</param>
/// <param name="TimingSamples">the first samples run again one at a time, the batch-1 speed (not judged: the batched run is).</param>
/// <param name="DriftSamples">samples of each cached cell run again with every step recomputed uncached beside it (the cache's drift; untimed).</param>
/// <param name="Samplers">registry names to measure (null: every masked sampler with a pace); the baseline is always measured.</param>
/// <param name="Caches">block caches the block samplers run under (null: all three); the baseline is uncached whatever this says.</param>
/// <param name="StepCounts">step counts of the step-paced samplers (null: one, two and four tokens per step).</param>
/// <param name="CacheRefreshes">with a cache, steps of a block between its recordings (null: [0], once per block); every cached cell runs at each.</param>
/// <param name="Quick">a CI-sized grid: one pace per sampler beside the baseline, caches none and dual.</param>
public sealed record GenerationOptions(
    int Samples = 128, int GenLength = 256, int BlockLength = 32, double Temperature = 1.0, int BatchSize = 8,
    int TimingSamples = 16, int DriftSamples = 4, long Seed = 0, string[]? Samplers = null, bool Quick = false,
    CacheMode[]? Caches = null, int[]? StepCounts = null, int[]? CacheRefreshes = null)
{
    /// <summary>The reference every speed-up is measured against: LLaDA's sampler, one token per step, no cache.</summary>
    public const string Baseline = "low_confidence";

    public void Validate()
    {
        if (Samples <= 0) throw new DlmException($"--num-samples must be positive (got {Samples})");
        if (GenLength <= 0) throw new DlmException($"--gen-length must be positive (got {GenLength})");
        if (BlockLength <= 0 || GenLength % BlockLength != 0)
            throw new DlmException($"--block-length {BlockLength} must be positive and divide --gen-length {GenLength}");
        if (BatchSize <= 0) throw new DlmException($"--batch-size must be positive (got {BatchSize})");
        if (DriftSamples < 0) throw new DlmException($"--drift-samples must be >= 0 (got {DriftSamples})");
        if (TimingSamples < 0) throw new DlmException($"--timing-samples must be >= 0 (got {TimingSamples})");
        Sampling.SamplingOps.CheckTemperature("--temperature", Temperature);
        int blocks = GenLength / BlockLength;
        foreach (var st in StepCounts ?? [])
            if (st < blocks || st % blocks != 0 || st > SamplerRegistry.MaxSteps(GenLength))
                throw new DlmException($"--steps {st} must be a positive multiple of the {blocks} blocks (--gen-length / --block-length)");
        foreach (var r in CacheRefreshes ?? [])
            if (r < 0) throw new DlmException($"--cache-refresh {r} must be >= 0 (0: the cache is recorded once per block)");
        foreach (var name in Samplers ?? [])
        {
            var e = SamplerRegistry.Find(name);
            if (!e.Masked) throw new DlmException($"--samplers: \"{name}\" decodes {e.Family} models; this benchmark compares the masked samplers");
            if (e.Generic) throw new DlmException($"--samplers: \"{name}\" picks its variant from an option; name the variant (e.g. low_confidence, dream_entropy, remdm_cap)");
            if (e.Pace is null) throw new DlmException($"--samplers: \"{name}\" has no pace to set");
        }
    }
}

/// <summary>One cell of the grid: a registered sampler with its pace and cache.</summary>
/// <param name="Setting">the pace as the sampler's flag spells it ("steps=256", "threshold=0.9").</param>
public sealed record GenerationSetting(string Sampler, string Setting, SamplerSettings Settings)
{
    public string Cache => CacheModes.Label(Settings.Cache, Settings.CacheRefresh);
    public string Label => $"{Sampler} {Setting} cache={Cache}";
}

public static class GenerationGrid
{
    /// <summary>
    /// Every masked sampler with a pace (each variant once, as the trap study takes them), at a few paces from one token
    /// per step upwards, each block sampler under every cache (and, cached, every refresh interval); the baseline first. Step-paced samplers run at one, two and
    /// four tokens per step; adaptive ones at a few thresholds, factors or entropy budgets.
    /// </summary>
    public static List<GenerationSetting> Build(GenerationOptions o)
    {
        var s0 = new SamplerSettings(GenLength: o.GenLength, Steps: o.GenLength, BlockLength: o.BlockLength, Temperature: o.Temperature);
        int blocks = o.GenLength / o.BlockLength;
        int[] steps = o.StepCounts ?? (o.Quick ? [o.GenLength / 4] : new[] { o.GenLength, o.GenLength / 2, o.GenLength / 4 }.Where(s => s >= blocks && s % blocks == 0).Distinct().ToArray());
        double[] thresholds = o.Quick ? [0.7] : [0.9, 0.7, 0.5];
        double[] factors = o.Quick ? [1] : [1, 4];
        double[] gammas = o.Quick ? [1.0] : [0.1, 1.0];
        CacheMode[] caches = o.Caches ?? (o.Quick ? [CacheMode.None, CacheMode.Dual] : Enum.GetValues<CacheMode>());
        int[] refreshes = o.CacheRefreshes is { Length: > 0 } given ? given.Distinct().ToArray() : [0];
        var baseline = new GenerationSetting(GenerationOptions.Baseline, $"steps={o.GenLength}", s0);
        var list = new List<GenerationSetting> { baseline };
        var wanted = o.Samplers?.ToHashSet();
        foreach (var e in SamplerRegistry.OfFamily(DiffusionProcess.Masked.Spelling).Where(e => !e.Generic && e.Pace is not null))
        {
            if (wanted is not null && !wanted.Contains(e.Name)) continue;
            IEnumerable<SamplerSettings> paces = e.Pace!.Setting switch
            {
                nameof(SamplerSettings.Threshold) => thresholds.Select(t => s0 with { Threshold = t }),
                nameof(SamplerSettings.Factor) => factors.Select(f => s0 with { Factor = f }),
                nameof(SamplerSettings.Gamma) => gammas.Select(g => s0 with { Gamma = g }),
                _ => steps.Select(st => s0 with { Steps = st }),
            };
            foreach (var pace in paces)
                foreach (var cache in e.Cacheable ? caches : [CacheMode.None])
                    foreach (var refresh in cache == CacheMode.None ? [0] : refreshes)
                    {
                        var setting = new GenerationSetting(e.Name, $"{e.Pace.Flag.TrimStart('-')}={SamplerOption.Format(e.Pace.Given(pace))}",
                            pace with { Cache = cache, CacheRefresh = refresh });
                        if (setting.Label != baseline.Label) list.Add(setting);
                    }
        }
        return list;
    }
}
