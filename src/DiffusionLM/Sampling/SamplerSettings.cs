namespace DiffusionLM.Sampling;

/// <summary>
/// What the user chose for a run, in one bag every sampler reads from (<see cref="SamplerRegistry.Create"/>): the run's
/// shape (gen length, steps, block length, temperature, cache), which the verb owns with the defaults below, and every
/// sampler's own options, where null means "not given" and the sampler's options record supplies the default
/// (<see cref="SamplerOption"/>). A sampler ignores what it has no use for.
/// </summary>
public sealed record SamplerSettings(
    int GenLength = 128,
    int Steps = 128,
    int? BlockLength = null,
    double Temperature = 0.0,
    string? Remasking = null,
    double? CfgScale = null,
    bool? LogitsEosInf = null,
    bool? ConfidenceEosEotInf = null,
    int? EosId = null,
    int? EotId = null)
{
    /// <summary>The block length a block sampler runs with: the given one, else the whole completion.</summary>
    public int Block => BlockLength ?? GenLength;

    /// <summary>Fast-dLLM's block cache for the samplers that decode block by block (<see cref="SamplerRegistry.Entry.Cacheable"/>).</summary>
    public CacheMode Cache { get; init; }

    /// <summary>With a cache: record it again every this many steps of a block (0: once per block, Fast-dLLM's).</summary>
    public int CacheRefresh { get; init; }

    // Each sampler's own options: null is "not given", and the options record's default applies.
    public double? Gamma { get; init; }
    public double? Threshold { get; init; }
    public double? Factor { get; init; }
    public string? Alg { get; init; }
    public double? AlgTemp { get; init; }
    public double? TopP { get; init; }
    public int? TopK { get; init; }
    public double? Eps { get; init; }
    public string? RemdmStrategy { get; init; }
    public double? Eta { get; init; }
    public double? TOn { get; init; }
    public double? TOff { get; init; }
    public double? AlphaOn { get; init; }
    public int? Candidates { get; init; }
    public int? Probes { get; init; }
    public int? AnchorsPerStep { get; init; }
    public bool? Clamp { get; init; }
}
