using DiffusionLM.Models;

namespace DiffusionLM.Sampling;

/// <summary>
/// Samplers by name, for <c>dlm generate --sampler NAME</c> and the instruments. An entry is an options record (its
/// basis: the record's defaults, with what the name fixes, e.g. random remasking) and the options the user may set on
/// it; <see cref="Create"/> writes the user's <see cref="SamplerSettings"/> into the basis, so every default is the
/// record's and stated there once. Help text (<see cref="SamplerHelp"/>) is generated from the same entries.
/// </summary>
public static class SamplerRegistry
{
    /// <summary>The family of the left-to-right decoder of causal models, which have no diffusion process.</summary>
    public const string CausalFamily = "causal";

    /// <summary>The sampler family a model belongs to: <see cref="CausalFamily"/> for a causal model, its process's spelling otherwise.</summary>
    public static string FamilyOf(ModelConfig config) => config.Causal ? CausalFamily : config.Process.Spelling;

    /// <param name="Family">the kind of model the sampler decodes: a diffusion process ("masked", "uniform", "gaussian",
    /// as ModelConfig's "process") or "causal" for the left-to-right decoder of causal models.</param>
    /// <param name="Basis">the options record the user's settings are written into: its defaults, and what the name fixes.</param>
    /// <param name="Options">what the user may set (the record's <c>Settable</c> less what the name fixes), shared ones included.</param>
    /// <param name="Generic">the entry picks its variant from an option (--remasking, --alg, --remdm-strategy) and each variant
    /// is registered on its own: instruments that cover every sampler skip it, as it would measure a variant twice.</param>
    /// <param name="Remasks">the sampler may take back a committed token (ReMDM's remasking), so a prefix is not final while it runs.</param>
    /// <param name="Draws">the sampler draws positions or tokens at random even at temperature 0 (random remasking, MDLM's and
    /// Dream-origin's ancestral steps): its rows then depend on where they sit in the batch, so only the others are greedy.</param>
    public sealed record Entry(string Name, string Description, string Family, ISamplerOptions Basis, IReadOnlyList<SamplerOption> Options,
        Func<ISamplerOptions, ISampler> Build, bool Generic = false, bool Remasks = false, bool Draws = false)
    {
        public bool Masked => Family == DiffusionProcess.Masked.Spelling;

        /// <summary>Decodes block by block and honours <see cref="SamplerSettings.Cache"/>: it has the --cache option.</summary>
        public bool Cacheable => Options.Any(o => o.Setting == nameof(SamplerSettings.Cache));

        /// <summary>Takes --block-length: decodes semi-autoregressive blocks left to right.</summary>
        public bool Blocks => Options.Any(o => o.Setting == nameof(SamplerSettings.BlockLength));

        /// <summary>The sampler's own options (not the run's shape), as help lists them.</summary>
        public IEnumerable<SamplerOption> OwnOptions => Options.Where(o => !o.Shared);

        /// <summary>
        /// The option that sets how many tokens a step commits, what a study sweeps from one token per step to all at once:
        /// an adaptive sampler's threshold, factor or entropy budget, else the step count; null for neither.
        /// </summary>
        public SamplerOption? Pace => Options.FirstOrDefault(o => o.Setting is nameof(SamplerSettings.Threshold) or nameof(SamplerSettings.Factor) or nameof(SamplerSettings.Gamma))
            ?? Options.FirstOrDefault(o => o.Setting == nameof(SamplerSettings.Steps));

        public SamplerOption? Option(string flag) => Options.FirstOrDefault(o => o.Flag == flag);

        /// <summary>The options record of a run: the basis with every value the user gave written in.</summary>
        public ISamplerOptions Bind(SamplerSettings settings) => Options.Aggregate(Basis, (o, option) => option.Bind(o, settings));

        public ISampler Create(SamplerSettings settings) => Build(Bind(settings));
    }

    static Entry Of<T>(string name, string description, T basis, IReadOnlyList<SamplerOption> settable, Func<T, ISampler> build,
        string? family = null, string[]? fix = null, bool generic = false, bool remasks = false, bool draws = false) where T : ISamplerOptions =>
        new(name, description, family ?? DiffusionProcess.Masked.Spelling, basis, settable.Where(o => fix is null || !fix.Contains(o.Flag)).ToList(), o => build((T)o), generic, remasks, draws);

    static readonly string[] FixRemasking = ["--remasking"];

    static readonly List<Entry> Entries =
    [
        Of("llada", "LLaDA's reference generate(): semi-autoregressive blocks, low-confidence or random remasking",
            new LladaSamplerOptions(), LladaSamplerOptions.Settable, o => new LladaSampler(o), generic: true),
        Of("low_confidence", "LLaDA's sampler with low-confidence remasking",
            new LladaSamplerOptions() with { Remasking = LladaSamplerOptions.LowConfidence }, LladaSamplerOptions.Settable, o => new LladaSampler(o), fix: FixRemasking),
        Of("random", "LLaDA's sampler with random remasking",
            new LladaSamplerOptions() with { Remasking = LladaSamplerOptions.Random }, LladaSamplerOptions.Settable, o => new LladaSampler(o), fix: FixRemasking, draws: true),
        Of("fast_dllm_threshold", "Fast-dLLM: each step commits the top-1 and every prediction at least --threshold confident",
            new FastDllmOptions(), FastDllmOptions.Settable, o => new FastDllmSampler(o), fix: ["--factor"]),
        Of("fast_dllm_factor", "Fast-dLLM's factor variant: the n-th most confident is committed while >= 1 - factor/(n+1)",
            new FastDllmOptions() with { Factor = FastDllmOptions.DefaultFactor }, FastDllmOptions.Settable, o => new FastDllmSampler(o), fix: ["--threshold"]),
        Of("eb", "EB-Sampler: commit the lowest-entropy predictions of the block while their summed entropy minus the largest is <= --gamma",
            new EntropyBoundOptions(), EntropyBoundOptions.Settable, o => new EntropyBoundSampler(o)),
        Of("dream", "Dream's diffusion_generate, its unmasking order chosen by --alg",
            new DreamOptions(), DreamOptions.Settable, o => new DreamSampler(o), generic: true, draws: true),
        .. DreamOptions.Algs.Select(alg => Of("dream_" + alg, $"Dream's sampler with alg={alg}",
            new DreamOptions() with { Alg = alg }, DreamOptions.Settable, o => new DreamSampler(o), fix: ["--alg"], draws: alg == DreamOptions.Origin)),
        Of("mdlm", "MDLM's cached ancestral sampler (no network call when a step changed nothing)",
            new MdlmOptions(), MdlmOptions.Settable, o => new MdlmSampler(o), draws: true),
        Of("remdm", "ReMDM: MDLM's step with remasking of committed tokens, its schedule chosen by --remdm-strategy",
            new RemdmOptions(), RemdmOptions.Settable, o => new RemdmSampler(o), generic: true, remasks: true, draws: true),
        .. RemdmOptions.Strategies.Select(st => Of("remdm_" + st, $"ReMDM with strategy {st}",
            new RemdmOptions() with { Strategy = st }, RemdmOptions.Settable, o => new RemdmSampler(o), fix: ["--remdm-strategy"], remasks: true, draws: true)),
        Of("dependency_aware", "parallel decoding that measures dependence by probing tokens in the same call and draws side by side only independent positions and what they determine",
            new DependencyAwareOptions(), DependencyAwareOptions.Settable, o => new DependencyAwareSampler(o)),
        Of("uniform_ancestral", "ancestral sampling for uniform-diffusion models: every token redrawn from p(x_s | x_t) at every step",
            new UniformSamplerOptions(), UniformSamplerOptions.Settable, o => new UniformSampler(o), family: DiffusionProcess.Uniform.Spelling),
        Of("uniform_eb", "entropy-bounded sampling for uniform-diffusion models: a uniform-noise canvas, the lowest-entropy positions frozen within --gamma, the rest renoised",
            new UniformEntropyBoundOptions(), UniformEntropyBoundOptions.Settable, o => new UniformEntropyBoundSampler(o), family: DiffusionProcess.Uniform.Spelling),
        Of("autoregressive", "left to right with a key/value cache, for causal models (config \"causal\": true)",
            new AutoregressiveOptions(), AutoregressiveOptions.Settable, o => new AutoregressiveSampler(o), family: CausalFamily),
        Of("gaussian_ddpm", "continuous diffusion on embeddings: DDPM ancestral steps from N(0, sigma_max^2), x0 by score interpolation, self-conditioned (--temperature 0 means 1)",
            new GaussianSamplerOptions() with { Ddim = false }, GaussianSamplerOptions.Settable, o => new GaussianSampler(o), family: DiffusionProcess.Gaussian.Spelling),
        Of("gaussian_ddim", "continuous diffusion on embeddings: DDIM's deterministic steps (eta = 0) (--temperature 0 means 1)",
            new GaussianSamplerOptions() with { Ddim = true }, GaussianSamplerOptions.Settable, o => new GaussianSampler(o), family: DiffusionProcess.Gaussian.Spelling),
    ];

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

    /// <summary>
    /// The most steps a run may take: 64 per generated token, and at least 10,000 (a continuous sampler's fine time grid
    /// over a short completion). Beyond that the steps only repeat calls that commit nothing; a run of 10^9 would go on for
    /// days, so it is refused as the typo it almost surely is.
    /// </summary>
    public static long MaxSteps(int genLength) => Math.Max(10_000, 64L * Math.Max(1, genLength));

    public static ISampler Create(string name, SamplerSettings settings)
    {
        var entry = Find(name);
        if (settings.Steps > MaxSteps(settings.GenLength))
            throw new DlmException($"--steps {settings.Steps} is more than this tool runs for {settings.GenLength} generated tokens (at most {MaxSteps(settings.GenLength)}: " +
                "64 per token or 10,000); steps beyond the tokens only repeat calls that commit nothing");
        if (settings.Cache != CacheMode.None && !entry.Cacheable)
            throw new DlmException($"sampler \"{name}\" does not decode block by block, so --cache {CacheModes.Name(settings.Cache)} does not apply; " +
                $"samplers with a cache: {string.Join(", ", Entries.Where(e => e.Cacheable).Select(e => e.Name))}");
        if (settings.CacheRefresh != 0 && !entry.Cacheable)
            throw new DlmException($"sampler \"{name}\" has no block cache, so --cache-refresh {settings.CacheRefresh} does not apply");
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
