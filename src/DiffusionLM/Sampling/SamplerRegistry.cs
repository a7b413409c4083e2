namespace DiffusionLM.Sampling;

/// <summary>The settings every sampler understands; a sampler ignores what it has no use for.</summary>
public sealed record SamplerSettings(
    int GenLength = 128,
    int Steps = 128,
    int? BlockLength = null,
    double Temperature = 0.0,
    string Remasking = LladaSamplerOptions.LowConfidence,
    double CfgScale = 0.0,
    bool LogitsEosInf = false,
    bool ConfidenceEosEotInf = false,
    int? EosId = null,
    int? EotId = null)
{
    public int Block => BlockLength ?? GenLength;

    // Settings of the other anchors' samplers; null means the sampler's own default.
    /// <summary>Fast-dLLM and dependency_aware confidence threshold (default 0.9).</summary>
    public double? Threshold { get; init; }
    /// <summary>Fast-dLLM's factor variant (default 1).</summary>
    public double? Factor { get; init; }
    /// <summary>Dream's unmasking order: origin, maskgit_plus, topk_margin, entropy.</summary>
    public string? Alg { get; init; }
    public double? AlgTemp { get; init; }
    public double? TopP { get; init; }
    public int? TopK { get; init; }
    /// <summary>Last time point of Dream/MDLM/ReMDM time grids.</summary>
    public double? Eps { get; init; }
    /// <summary>ReMDM: cap, rescale, conf, loop; and its η, t_on, t_off, α_on.</summary>
    public string? RemdmStrategy { get; init; }
    public double? Eta { get; init; }
    public double? TOn { get; init; }
    public double? TOff { get; init; }
    public double? AlphaOn { get; init; }
    /// <summary>dependency_aware: tokens probed per position (0: no probe), positions probed per call,
    /// most independent anchors per step (0: no limit).</summary>
    public int? Candidates { get; init; }
    public int? Probes { get; init; }
    public int? AnchorsPerStep { get; init; }
    /// <summary>gaussian samplers: Diffusion-LM's clamping, x̂_0 snapped to the nearest token embedding at every step.</summary>
    public bool Clamp { get; init; }
}

/// <summary>Samplers by name, for <c>dlm generate --sampler NAME</c> and the instruments.</summary>
public static class SamplerRegistry
{
    /// <param name="Family">the kind of model the sampler decodes: a diffusion process ("masked", "uniform", "gaussian",
    /// as ModelConfig's "process") or "causal" for the left-to-right decoder of causal models.</param>
    public sealed record Entry(string Name, string Description, Func<SamplerSettings, ISampler> Create, string Family = "masked")
    {
        public bool Masked => Family == "masked";
    }

    static readonly List<Entry> Entries =
    [
        new("llada", "LLaDA's reference generate(): blocks, --remasking low_confidence|random",
            s => new LladaSampler(Llada(s, s.Remasking))),
        new("low_confidence", "LLaDA's sampler with low-confidence remasking",
            s => new LladaSampler(Llada(s, LladaSamplerOptions.LowConfidence))),
        new("random", "LLaDA's sampler with random remasking",
            s => new LladaSampler(Llada(s, LladaSamplerOptions.Random))),
        new("fast_dllm_threshold", "Fast-dLLM: commit the top-1 and every prediction with confidence >= --threshold (0.9)",
            s => new FastDllmSampler(FastDllm(s, null))),
        new("fast_dllm_factor", "Fast-dLLM's factor variant: the n-th most confident is committed while >= 1 - factor/(n+1) (--factor 1)",
            s => new FastDllmSampler(FastDllm(s, s.Factor ?? 1.0))),
        new("dream", "Dream's diffusion_generate with --alg origin|maskgit_plus|topk_margin|entropy, --alg-temp, --top-p, --top-k",
            s => new DreamSampler(Dream(s, s.Alg ?? DreamOptions.Origin))),
        .. DreamOptions.Algs.Select(alg => new Entry("dream_" + alg, $"Dream's sampler with alg={alg}", s => new DreamSampler(Dream(s, alg)))),
        new("mdlm", "MDLM's cached ancestral sampler (no network call when a step changed nothing), --top-p",
            s => new MdlmSampler(new MdlmOptions(s.GenLength, s.Steps, s.Eps ?? 1e-5, s.TopP ?? 1.0))),
        new("remdm", "ReMDM remasking, --remdm-strategy cap|rescale|conf|loop, --eta, --t-on, --t-off, --alpha-on",
            s => new RemdmSampler(Remdm(s, s.RemdmStrategy ?? RemdmOptions.Cap))),
        .. RemdmOptions.Strategies.Select(st => new Entry("remdm_" + st, $"ReMDM with strategy {st}", s => new RemdmSampler(Remdm(s, st)))),
        new("dependency_aware", "parallel decoding that measures dependence by probing tokens in the same call and draws side by side only independent positions and what they determine (--threshold, --candidates, --probes, --anchors-per-step)",
            s => new DependencyAwareSampler(new DependencyAwareOptions(s.GenLength, s.Block, s.Temperature, s.Threshold ?? 0.9,
                s.Candidates ?? 8, s.Probes ?? 8, s.AnchorsPerStep ?? 0))),
        new("uniform_ancestral", "ancestral sampling for uniform-diffusion models: every token redrawn from p(x_s | x_t) at every step, --steps, --temperature",
            s => new UniformSampler(new UniformSamplerOptions(s.GenLength, s.Steps, s.Temperature)), Family: "uniform"),
        new("autoregressive", "left to right with a key/value cache, for causal models (config \"causal\": true); --temperature",
            s => new AutoregressiveSampler(new AutoregressiveOptions(GenLength: s.GenLength, Temperature: s.Temperature)), Family: "causal"),
        new("gaussian_ddpm", "continuous diffusion on embeddings: DDPM ancestral steps from N(0, σ_max²), x̂0 by score interpolation, self-conditioned; --clamp, --temperature (0 means 1)",
            s => new GaussianSampler(Gaussian(s, ddim: false)), Family: "gaussian"),
        new("gaussian_ddim", "continuous diffusion on embeddings: DDIM's deterministic steps (η = 0); --clamp, --temperature (0 means 1)",
            s => new GaussianSampler(Gaussian(s, ddim: true)), Family: "gaussian"),
    ];

    /// <summary>--temperature 0 (the CLI's greedy default) has no continuous meaning: it is plain score interpolation, τ = 1.</summary>
    static GaussianSamplerOptions Gaussian(SamplerSettings s, bool ddim) =>
        new(s.GenLength, s.Steps, ddim, s.Clamp, s.Temperature > 0 ? s.Temperature : 1.0);

    static FastDllmOptions FastDllm(SamplerSettings s, double? factor) =>
        new(GenLength: s.GenLength, BlockLength: s.Block, Temperature: s.Temperature, Remasking: s.Remasking, Threshold: s.Threshold ?? 0.9, Factor: factor);

    static DreamOptions Dream(SamplerSettings s, string alg) =>
        new(GenLength: s.GenLength, Steps: s.Steps, Alg: alg, AlgTemp: s.AlgTemp, Temperature: s.Temperature, TopP: s.TopP, TopK: s.TopK, Eps: s.Eps ?? 1e-3);

    static RemdmOptions Remdm(SamplerSettings s, string strategy)
    {
        var d = new RemdmOptions();
        return new(s.GenLength, s.Steps, strategy, s.Eta ?? (strategy == RemdmOptions.Loop ? 0.02 : d.Eta), s.TOn ?? d.TOn, s.TOff ?? d.TOff,
            s.AlphaOn ?? d.AlphaOn, s.Eps ?? d.Eps, s.TopP ?? 1.0);
    }

    static LladaSamplerOptions Llada(SamplerSettings s, string remasking) =>
        new(GenLength: s.GenLength, Steps: s.Steps, BlockLength: s.Block, Temperature: s.Temperature, Remasking: remasking, CfgScale: s.CfgScale,
            LogitsEosInf: s.LogitsEosInf, ConfidenceEosEotInf: s.ConfidenceEosEotInf, EosId: s.EosId, EotId: s.EotId);

    public static IReadOnlyList<Entry> All => Entries;

    /// <summary>The sampler <c>dlm generate</c> uses for a model of this process when --sampler is not given.</summary>
    public static string DefaultFor(string process) => process switch
    {
        "masked" => "llada",
        _ => Entries.FirstOrDefault(e => e.Family == process)?.Name
            ?? throw new DlmException($"no sampler is registered for the \"{process}\" process"),
    };

    /// <summary>Refuses a sampler built for another family of model (a masked sampler on a uniform model, say).</summary>
    public static void CheckFamily(string name, string process)
    {
        var entry = Entries.FirstOrDefault(e => e.Name == name);
        if (entry is not null && entry.Family != process)
            throw new DlmException($"sampler \"{name}\" decodes {entry.Family} models but this model's process is \"{process}\"; " +
                $"use one of: {string.Join(", ", Entries.Where(e => e.Family == process).Select(e => e.Name))}");
    }

    public static ISampler Create(string name, SamplerSettings settings)
    {
        var entry = Entries.FirstOrDefault(e => e.Name == name)
            ?? throw new DlmException($"unknown sampler \"{name}\" (known: {string.Join(", ", Entries.Select(e => e.Name))})");
        return entry.Create(settings);
    }
}
