using DiffusionLM.Models;
using DiffusionLM.Sampling;

namespace DiffusionLM.Serving;

/// <summary>
/// The diffusion settings a caller of the server, of <see cref="DiffusionChatClient"/> or of a JSONL row of
/// <c>dlm generate --prompts</c> may choose, with the command line's defaults. Field names in messages are the
/// JSON names (sampler, gen_length, steps, block_length, temperature, remasking, threshold, cfg, cache, cache_refresh), as the
/// request carries them.
/// </summary>
public sealed record GenerationSettings
{
    /// <summary>A name from <see cref="SamplerRegistry"/>; null: the model's default (llada for masked models).</summary>
    public string? Sampler { get; init; }
    public int GenLength { get; init; } = 128;
    /// <summary>Denoising steps in all; null: one per generated token (the command line's 128 steps for 128 tokens).</summary>
    public int? Steps { get; init; }
    public int? BlockLength { get; init; }
    public double Temperature { get; init; }
    /// <summary>LLaDA's and Fast-dLLM's remasking; the default is the LLaDA options record's.</summary>
    public string Remasking { get; init; } = new LladaSamplerOptions().Remasking;
    /// <summary>fast_dllm_threshold and dependency_aware; null: the sampler's 0.9.</summary>
    public double? Threshold { get; init; }
    public double CfgScale { get; init; }
    /// <summary>Fast-dLLM's block cache of the engine, as --cache: none (exact), prefix or dual (approximations); samplers that decode block by block only.</summary>
    public string Cache { get; init; } = NoCache;
    /// <summary>With a cache, as --cache-refresh: record it again every this many steps of a block; null: the command line's (0, once per block).</summary>
    public int? CacheRefresh { get; init; }
    /// <summary>Wrap the prompt in the model's chat template (the chat endpoint always does when the model has one).</summary>
    public bool Chat { get; init; }

    /// <summary>Settings of the other samplers (Dream's alg, ReMDM's eta, ...) that the command line sets; the fields
    /// above take precedence over the same fields of this bag.</summary>
    public SamplerSettings? Extra { get; init; }

    public const string NoCache = "none";
    public static IReadOnlyList<string> Caches => CacheModes.Names;

    public int StepsOrDefault => Steps ?? GenLength;

    /// <summary>The refresh interval this request runs with: its own, else the command line's, else 0.</summary>
    public int CacheRefreshOrDefault => CacheRefresh ?? Extra?.CacheRefresh ?? 0;

    /// <summary>The sampler this request runs on a model of <paramref name="config"/>.</summary>
    public string SamplerFor(ModelConfig config) => Sampler ?? (config.Causal ? "autoregressive" : SamplerRegistry.DefaultFor(config.Process));

    /// <summary>Checks every field against the model; the message names the field and what it accepts.</summary>
    public void Validate(ModelConfig config)
    {
        if (GenLength <= 0) throw new DlmException($"gen_length must be positive (got {GenLength})");
        if (StepsOrDefault <= 0) throw new DlmException($"steps must be positive (got {StepsOrDefault})");
        if (BlockLength is int b && (b <= 0 || GenLength % b != 0))
            throw new DlmException($"block_length must be positive and divide gen_length {GenLength} (got {b})");
        Sampling.SamplingOps.CheckTemperature("temperature", Temperature);
        if (Remasking is not (LladaSamplerOptions.LowConfidence or LladaSamplerOptions.Random))
            throw new DlmException($"remasking must be {LladaSamplerOptions.LowConfidence} or {LladaSamplerOptions.Random} (got \"{Remasking}\")");
        if (Threshold is double t && !(t > 0 && t <= 1)) throw new DlmException($"threshold must lie in (0, 1] (got {t})");
        if (!double.IsFinite(CfgScale) || CfgScale < 0) throw new DlmException($"cfg must be a finite number >= 0 (got {CfgScale})");
        var cache = CacheModes.Parse(Cache, "cache");
        var name = SamplerFor(config);
        if (!SamplerRegistry.All.Any(e => e.Name == name))
            throw new DlmException($"sampler: unknown sampler \"{name}\" (known: {string.Join(", ", SamplerRegistry.All.Select(e => e.Name))})");
        try { SamplerRegistry.CheckFamily(name, SamplerRegistry.FamilyOf(config)); }
        catch (DlmException e) { throw new DlmException("sampler: " + e.Message); }
        if (cache != CacheMode.None && !SamplerRegistry.Find(name).Cacheable)
            throw new DlmException($"cache \"{Cache}\": sampler \"{name}\" does not decode block by block (samplers with a cache: " +
                $"{string.Join(", ", SamplerRegistry.All.Where(e => e.Cacheable).Select(e => e.Name))})");
        if (CacheRefresh is int r && (r < 0 || (r > 0 && cache == CacheMode.None)))
            throw new DlmException($"cache_refresh must be >= 0, and above 0 only with cache prefix or dual (got {r} with cache \"{Cache}\")");
    }

    /// <summary>The registry's settings bag for these settings.</summary>
    public SamplerSettings ToSamplerSettings(ModelConfig config, int? eotId) =>
        (Extra ?? new SamplerSettings()) with
        {
            GenLength = GenLength, Steps = StepsOrDefault, BlockLength = BlockLength, Temperature = Temperature, Remasking = Remasking,
            CfgScale = CfgScale, Cache = CacheModes.Parse(Cache, "cache"),
            CacheRefresh = CacheRefreshOrDefault, EosId = Extra?.EosId ?? config.EosTokenId, EotId = Extra?.EotId ?? eotId, Threshold = Threshold ?? Extra?.Threshold,
        };
}
