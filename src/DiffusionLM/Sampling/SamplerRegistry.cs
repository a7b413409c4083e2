namespace DiffusionLM.Sampling;

/// <summary>The settings every sampler understands; a sampler ignores what it has no use for.</summary>
public sealed record SamplerSettings(
    int GenLength = 128,
    int Steps = 128,
    int? BlockLength = null,
    double Temperature = 0.0,
    string Remasking = LladaSamplerOptions.LowConfidence,
    double CfgScale = 0.0)
{
    public int Block => BlockLength ?? GenLength;
}

/// <summary>Samplers by name, for <c>dlm generate --sampler NAME</c> and the instruments.</summary>
public static class SamplerRegistry
{
    public sealed record Entry(string Name, string Description, Func<SamplerSettings, ISampler> Create);

    static readonly List<Entry> Entries =
    [
        new("llada", "LLaDA's reference generate(): blocks, --remasking low_confidence|random",
            s => new LladaSampler(Llada(s, s.Remasking))),
        new("low_confidence", "LLaDA's sampler with low-confidence remasking",
            s => new LladaSampler(Llada(s, LladaSamplerOptions.LowConfidence))),
        new("random", "LLaDA's sampler with random remasking",
            s => new LladaSampler(Llada(s, LladaSamplerOptions.Random))),
        new("autoregressive", "left to right with a key/value cache, for causal models (config \"causal\": true); --temperature",
            s => new AutoregressiveSampler(new AutoregressiveOptions(GenLength: s.GenLength, Temperature: s.Temperature))),
    ];

    static LladaSamplerOptions Llada(SamplerSettings s, string remasking) =>
        new(GenLength: s.GenLength, Steps: s.Steps, BlockLength: s.Block, Temperature: s.Temperature, Remasking: remasking, CfgScale: s.CfgScale);

    public static IReadOnlyList<Entry> All => Entries;

    public static ISampler Create(string name, SamplerSettings settings)
    {
        var entry = Entries.FirstOrDefault(e => e.Name == name)
            ?? throw new DlmException($"unknown sampler \"{name}\" (known: {string.Join(", ", Entries.Select(e => e.Name))})");
        return entry.Create(settings);
    }
}
