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

    public const string RefreshHelp = "with --cache prefix or dual: record the cache again every N steps of a block (a full, exact forward; " +
        "the N - 1 steps after it use the window), so its keys and values are never more than N - 1 steps stale; 0: only at each block's first step (Fast-dLLM)";

    public static string Name(CacheMode m) => m.ToString().ToLowerInvariant();

    /// <summary>The cache as a benchmark labels it: "dual", or "dual/16" when it is recorded again every 16 steps.</summary>
    public static string Label(CacheMode m, int refresh) => refresh > 0 && m != CacheMode.None ? $"{Name(m)}/{refresh}" : Name(m);

    /// <summary>Checks the cache settings of a sampler's options record; <paramref name="sampler"/> starts the message.</summary>
    public static void Check(string sampler, CacheMode cache, int refresh)
    {
        if (!Enum.IsDefined(cache)) throw new DlmException($"{sampler} sampler: unknown cache {(int)cache}");
        if (refresh < 0) throw new DlmException($"{sampler} sampler: --cache-refresh must be >= 0 (got {refresh}; 0 records the cache once per block)");
        if (refresh > 0 && cache == CacheMode.None)
            throw new DlmException($"{sampler} sampler: --cache-refresh {refresh} refreshes a block cache, and --cache is none; use --cache prefix or dual, or leave --cache-refresh at 0");
    }

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
