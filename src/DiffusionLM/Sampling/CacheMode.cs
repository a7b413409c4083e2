namespace DiffusionLM.Sampling;

/// <summary>
/// Fast-dLLM's block caches for the samplers that decode block by block (<c>--cache</c>). Both are approximations
/// for a bidirectional model: keys and values outside the recomputed window are those of the state at the block's
/// first step, not of the current one. The first step of every block is an exact full forward.
/// </summary>
public enum CacheMode
{
    /// <summary>Every step a full forward: exact (LLaDA's reference).</summary>
    None,
    /// <summary>Keys/values of everything left of the current block, recorded once per block; each step recomputes the block and everything right of it.</summary>
    Prefix,
    /// <summary>Also the suffix right of the block (still masked) comes from the recording; each step recomputes only the block.</summary>
    Dual,
}

public static class CacheModes
{
    public const string Help = "none | prefix | dual: Fast-dLLM's block caches (keys/values of the prefix, or of prefix and suffix, " +
        "recorded at each block's first step). An approximation for a bidirectional model: logits drift from the uncached ones; " +
        "none is exact";

    public static string Name(CacheMode m) => m.ToString().ToLowerInvariant();

    /// <summary>Every mode's name, as --cache takes it.</summary>
    public static readonly IReadOnlyList<string> Names = Enum.GetValues<CacheMode>().Select(Name).ToArray();

    public static CacheMode Parse(string? s, string what = "--cache") => s?.ToLowerInvariant() switch
    {
        null or "" or "none" => CacheMode.None,
        "prefix" => CacheMode.Prefix,
        "dual" => CacheMode.Dual,
        _ => throw new DlmException($"{what}: unknown cache \"{s}\" (expected none, prefix or dual)"),
    };
}
