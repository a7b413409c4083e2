using System.Globalization;
using System.Text.Json;

namespace DiffusionLM.Serving;

/// <summary>
/// Reads <see cref="GenerationSettings"/> from named fields: a JSON request's extra fields, a JSONL row of
/// <c>dlm generate --prompts</c>, or <c>ChatOptions.AdditionalProperties</c>. Values may be JSON elements or plain
/// .NET values; a value of the wrong type is an error that names the field and the type expected.
/// </summary>
public static class SettingsFields
{
    /// <summary>The field names understood, with their JSON spelling.</summary>
    public static readonly IReadOnlyList<string> Names =
        ["sampler", "gen_length", "steps", "block_length", "temperature", "remasking", "threshold", "cfg", "cache", "cache_refresh", "chat"];

    /// <param name="lookup">the value of a field, or false when the field is absent (a JSON null counts as absent).</param>
    public static GenerationSettings Read(Func<string, (bool Found, object? Value)> lookup, GenerationSettings defaults)
    {
        var s = defaults;
        if (Get(lookup, "sampler") is { } sampler) s = s with { Sampler = String("sampler", sampler) };
        if (Get(lookup, "gen_length") is { } gen) s = s with { GenLength = Int("gen_length", gen) };
        if (Get(lookup, "steps") is { } steps) s = s with { Steps = Int("steps", steps) };
        if (Get(lookup, "block_length") is { } block) s = s with { BlockLength = Int("block_length", block) };
        if (Get(lookup, "temperature") is { } temp) s = s with { Temperature = Double("temperature", temp) };
        if (Get(lookup, "remasking") is { } remask) s = s with { Remasking = String("remasking", remask) };
        if (Get(lookup, "threshold") is { } thr) s = s with { Threshold = Double("threshold", thr) };
        if (Get(lookup, "cfg") is { } cfg) s = s with { CfgScale = Double("cfg", cfg) };
        if (Get(lookup, "cache") is { } cache) s = s with { Cache = String("cache", cache) };
        if (Get(lookup, "cache_refresh") is { } refresh) s = s with { CacheRefresh = Int("cache_refresh", refresh) };
        if (Get(lookup, "chat") is { } chat) s = s with { Chat = Bool("chat", chat) };
        return s;
    }

    public static GenerationSettings Read(JsonElement obj, GenerationSettings defaults) =>
        Read(name => obj.TryGetProperty(name, out var v) ? (true, v) : (false, null), defaults);

    public static GenerationSettings Read(IReadOnlyDictionary<string, object?>? fields, GenerationSettings defaults) =>
        fields is null ? defaults : Read(name => fields.TryGetValue(name, out var v) ? (true, v) : (false, null), defaults);

    static object? Get(Func<string, (bool, object?)> lookup, string name)
    {
        var (found, value) = lookup(name);
        if (!found || value is null || value is JsonElement { ValueKind: JsonValueKind.Null or JsonValueKind.Undefined }) return null;
        return value;
    }

    public static string String(string field, object value) => value switch
    {
        string s => s,
        JsonElement { ValueKind: JsonValueKind.String } e => e.GetString()!,
        _ => throw new DlmException($"{field} must be a string (got {Describe(value)})"),
    };

    public static int Int(string field, object value)
    {
        long v = value switch
        {
            int i => i,
            long l => l,
            short s => s,
            JsonElement { ValueKind: JsonValueKind.Number } e when e.TryGetInt64(out var l) => l,
            double d when d == Math.Floor(d) && Math.Abs(d) < 1e15 => (long)d,
            _ => throw new DlmException($"{field} must be an integer (got {Describe(value)})"),
        };
        if (v is < int.MinValue or > int.MaxValue) throw new DlmException($"{field} is out of range (got {v})");
        return (int)v;
    }

    public static long Long(string field, object value) => value switch
    {
        int i => i,
        long l => l,
        JsonElement { ValueKind: JsonValueKind.Number } e when e.TryGetInt64(out var l) => l,
        _ => throw new DlmException($"{field} must be an integer (got {Describe(value)})"),
    };

    public static double Double(string field, object value) => value switch
    {
        double d => d,
        float f => f,
        int i => i,
        long l => l,
        decimal m => (double)m,
        JsonElement { ValueKind: JsonValueKind.Number } e => e.GetDouble(),
        _ => throw new DlmException($"{field} must be a number (got {Describe(value)})"),
    };

    public static bool Bool(string field, object value) => value switch
    {
        bool b => b,
        JsonElement { ValueKind: JsonValueKind.True } => true,
        JsonElement { ValueKind: JsonValueKind.False } => false,
        _ => throw new DlmException($"{field} must be true or false (got {Describe(value)})"),
    };

    /// <summary>"a string", "the number 3.5", "an array": what the caller sent, for messages.</summary>
    public static string Describe(object? value) => value switch
    {
        null => "null",
        JsonElement e => e.ValueKind switch
        {
            JsonValueKind.String => $"the string \"{Clip(e.GetString()!)}\"",
            JsonValueKind.Number => $"the number {e.GetRawText()}",
            JsonValueKind.True or JsonValueKind.False => e.GetRawText(),
            JsonValueKind.Array => "an array",
            JsonValueKind.Object => "an object",
            _ => "null",
        },
        string s => $"the string \"{Clip(s)}\"",
        bool b => b ? "true" : "false",
        IConvertible c when value is not string => $"the number {c.ToString(CultureInfo.InvariantCulture)}",
        _ => value.GetType().Name,
    };

    static string Clip(string s) => s.Length <= 40 ? s : s[..40] + "...";
}
