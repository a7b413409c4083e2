using DiffusionLM.Models;

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

    /// <summary>Fast-dLLM's block cache for the samplers that decode block by block (<see cref="SamplerRegistry.Entry.Cacheable"/>).</summary>
    public CacheMode Cache { get; init; }
    /// <summary>eb / uniform_eb: the entropy budget γ in nats (null: the options' default).</summary>
    public double? Gamma { get; init; }

    // Settings of the other anchors' samplers; null means the sampler's own default.
    /// <summary>Fast-dLLM and dependency_aware confidence threshold.</summary>
    public double? Threshold { get; init; }
    /// <summary>Fast-dLLM's factor variant.</summary>
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
    /// <summary>The family of the left-to-right decoder of causal models, which have no diffusion process.</summary>
    public const string CausalFamily = "causal";

    /// <param name="Cacheable">decodes block by block and honours <see cref="SamplerSettings.Cache"/>.</param>
    public sealed record Entry(string Name, string Description, Func<SamplerSettings, ISampler> Create, bool Cacheable = false)
    {
        /// <summary>
        /// The kind of model the sampler decodes: a diffusion process's spelling (<see cref="DiffusionProcess.Spelling"/>, the
        /// masked one unless set) or <see cref="CausalFamily"/>.
        /// </summary>
        public string Family { get; init; } = DiffusionProcess.Masked.Spelling;
        public bool Masked => Family == DiffusionProcess.Masked.Spelling;
    }

    /// <summary>The sampler family a model belongs to: <see cref="CausalFamily"/> for a causal model, its process's spelling otherwise.</summary>
    public static string FamilyOf(ModelConfig config) => config.Causal ? CausalFamily : config.Process.Spelling;

    // The options' own defaults, so that each is stated once (in its options record).
    static readonly FastDllmOptions FastDllmDefaults = new();
    static readonly DependencyAwareOptions DependencyDefaults = new();
    static readonly MdlmOptions MdlmDefaults = new();
    static readonly DreamOptions DreamDefaults = new();
    static readonly EntropyBoundOptions EbDefaults = new();
    static readonly UniformEntropyBoundOptions UniformEbDefaults = new();

    static readonly List<Entry> Entries =
    [
        new("llada", "LLaDA's reference generate(): blocks, --remasking low_confidence|random, --cache",
            s => new LladaSampler(Llada(s, s.Remasking)), Cacheable: true),
        new("low_confidence", "LLaDA's sampler with low-confidence remasking",
            s => new LladaSampler(Llada(s, LladaSamplerOptions.LowConfidence)), Cacheable: true),
        new("random", "LLaDA's sampler with random remasking",
            s => new LladaSampler(Llada(s, LladaSamplerOptions.Random)), Cacheable: true),
        new("fast_dllm_threshold", $"Fast-dLLM: commit the top-1 and every prediction with confidence >= --threshold ({FastDllmDefaults.Threshold})",
            s => new FastDllmSampler(FastDllm(s, null)), Cacheable: true),
        new("fast_dllm_factor", "Fast-dLLM's factor variant: the n-th most confident is committed while >= 1 - factor/(n+1) (--factor 1)",
            s => new FastDllmSampler(FastDllm(s, s.Factor ?? 1.0)), Cacheable: true),
        new("eb", $"EB-Sampler: commit the lowest-entropy predictions of the block while their summed entropy minus the largest is <= --gamma ({EbDefaults.Gamma} nats)",
            s => new EntropyBoundSampler(new EntropyBoundOptions(s.GenLength, s.Block, s.Temperature, s.Gamma ?? EbDefaults.Gamma, s.Cache)), Cacheable: true),
        new("dream", $"Dream's diffusion_generate with --alg origin|maskgit_plus|topk_margin|entropy (default {DreamDefaults.Alg}), --alg-temp, --top-p, --top-k",
            s => new DreamSampler(Dream(s, s.Alg ?? DreamDefaults.Alg))),
        .. DreamOptions.Algs.Select(alg => new Entry("dream_" + alg, $"Dream's sampler with alg={alg}", s => new DreamSampler(Dream(s, alg)))),
        new("mdlm", "MDLM's cached ancestral sampler (no network call when a step changed nothing), --top-p",
            s => new MdlmSampler(new MdlmOptions(s.GenLength, s.Steps, s.Eps ?? MdlmDefaults.Eps, s.TopP ?? MdlmDefaults.TopP))),
        new("remdm", "ReMDM remasking, --remdm-strategy cap|rescale|conf|loop, --eta, --t-on, --t-off, --alpha-on",
            s => new RemdmSampler(Remdm(s, s.RemdmStrategy ?? RemdmOptions.Cap))),
        .. RemdmOptions.Strategies.Select(st => new Entry("remdm_" + st, $"ReMDM with strategy {st}", s => new RemdmSampler(Remdm(s, st)))),
        new("dependency_aware", "parallel decoding that measures dependence by probing tokens in the same call and draws side by side only independent positions and what they determine (--threshold, --candidates, --probes, --anchors-per-step)",
            s => new DependencyAwareSampler(new DependencyAwareOptions(s.GenLength, s.Block, s.Temperature, s.Threshold ?? DependencyDefaults.Threshold,
                s.Candidates ?? DependencyDefaults.Candidates, s.Probes ?? DependencyDefaults.Probes, s.AnchorsPerStep ?? DependencyDefaults.AnchorsPerStep))),
        new("uniform_ancestral", "ancestral sampling for uniform-diffusion models: every token redrawn from p(x_s | x_t) at every step, --steps, --temperature",
            s => new UniformSampler(new UniformSamplerOptions(s.GenLength, s.Steps, s.Temperature)))
            { Family = DiffusionProcess.Uniform.Spelling },
        new("uniform_eb", $"entropy-bounded sampling for uniform-diffusion models: a uniform-noise canvas, the lowest-entropy positions frozen while their summed entropy minus the largest is <= --gamma ({UniformEbDefaults.Gamma} nats), the rest renoised; --temperature",
            s => new UniformEntropyBoundSampler(new UniformEntropyBoundOptions(s.GenLength, s.Temperature, s.Gamma ?? UniformEbDefaults.Gamma)))
            { Family = DiffusionProcess.Uniform.Spelling },
        new("autoregressive", "left to right with a key/value cache, for causal models (config \"causal\": true); --temperature",
            s => new AutoregressiveSampler(new AutoregressiveOptions(GenLength: s.GenLength, Temperature: s.Temperature)))
            { Family = CausalFamily },
        new("gaussian_ddpm", "continuous diffusion on embeddings: DDPM ancestral steps from N(0, σ_max²), x̂0 by score interpolation, self-conditioned; --clamp, --temperature (0 means 1)",
            s => new GaussianSampler(Gaussian(s, ddim: false)))
            { Family = DiffusionProcess.Gaussian.Spelling },
        new("gaussian_ddim", "continuous diffusion on embeddings: DDIM's deterministic steps (η = 0); --clamp, --temperature (0 means 1)",
            s => new GaussianSampler(Gaussian(s, ddim: true)))
            { Family = DiffusionProcess.Gaussian.Spelling },
    ];

    /// <summary>--temperature 0 (the CLI's greedy default) has no continuous meaning: it is plain score interpolation, τ = 1.</summary>
    static GaussianSamplerOptions Gaussian(SamplerSettings s, bool ddim) =>
        new(s.GenLength, s.Steps, ddim, s.Clamp, s.Temperature > 0 ? s.Temperature : 1.0);

    static FastDllmOptions FastDllm(SamplerSettings s, double? factor) =>
        new(GenLength: s.GenLength, BlockLength: s.Block, Temperature: s.Temperature, Remasking: s.Remasking, Threshold: s.Threshold ?? FastDllmDefaults.Threshold,
            Factor: factor, Cache: s.Cache);

    static DreamOptions Dream(SamplerSettings s, string alg) =>
        new(GenLength: s.GenLength, Steps: s.Steps, Alg: alg, AlgTemp: s.AlgTemp, Temperature: s.Temperature, TopP: s.TopP, TopK: s.TopK, Eps: s.Eps ?? DreamDefaults.Eps);

    static RemdmOptions Remdm(SamplerSettings s, string strategy)
    {
        var d = new RemdmOptions();
        return new(s.GenLength, s.Steps, strategy, s.Eta ?? (strategy == RemdmOptions.Loop ? 0.02 : d.Eta), s.TOn ?? d.TOn, s.TOff ?? d.TOff,
            s.AlphaOn ?? d.AlphaOn, s.Eps ?? d.Eps, s.TopP ?? d.TopP);
    }

    static LladaSamplerOptions Llada(SamplerSettings s, string remasking) =>
        new(GenLength: s.GenLength, Steps: s.Steps, BlockLength: s.Block, Temperature: s.Temperature, Remasking: remasking, CfgScale: s.CfgScale,
            LogitsEosInf: s.LogitsEosInf, ConfidenceEosEotInf: s.ConfidenceEosEotInf, EosId: s.EosId, EotId: s.EotId, Cache: s.Cache);

    public static IReadOnlyList<Entry> All => Entries;

    /// <summary>The sampler <c>dlm generate</c> uses for a model of this process when --sampler is not given.</summary>
    public static string DefaultFor(DiffusionProcess process) => process == DiffusionProcess.Masked ? "llada"
        : Entries.FirstOrDefault(e => e.Family == process.Spelling)?.Name
            ?? throw new DlmException($"no sampler is registered for the \"{process}\" process");

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
        var entry = Find(name);
        if (settings.Cache != CacheMode.None && !entry.Cacheable)
            throw new DlmException($"sampler \"{name}\" does not decode block by block, so --cache {CacheModes.Name(settings.Cache)} does not apply; " +
                $"samplers with a cache: {string.Join(", ", Entries.Where(e => e.Cacheable).Select(e => e.Name))}");
        return entry.Create(settings);
    }

    public static Entry Find(string name) => Entries.FirstOrDefault(e => e.Name == name)
        ?? throw new DlmException($"unknown sampler \"{name}\" (known: {string.Join(", ", Entries.Select(e => e.Name))})");

    /// <summary>Every registered sampler of a family, for instruments and tests that cover them all.</summary>
    public static IEnumerable<Entry> OfFamily(string family) => Entries.Where(e => e.Family == family);

    /// <summary>The one place an observer is attached: every registered sampler is observable.</summary>
    public static IObservableSampler CreateObservable(string name, SamplerSettings settings) =>
        Create(name, settings) as IObservableSampler
        ?? throw new InvalidOperationException($"sampler \"{name}\" is registered but not observable");
}
