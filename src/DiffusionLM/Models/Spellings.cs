using System.Text.Json;
using System.Text.Json.Serialization;

namespace DiffusionLM.Models;

/// <summary>
/// A closed set of named values (<see cref="DiffusionProcess"/>, <see cref="MaskedCorruption"/>) whose names are written
/// to disk and typed on the command line: each instance carries its spelling, and <see cref="All"/> is the whole set, so
/// parsing, the error that lists the known names and the JSON form are written once for every such set.
/// </summary>
public interface ISpelled<TSelf> where TSelf : class, ISpelled<TSelf>
{
    /// <summary>The name as config.json, training_state.json and the CLI write it. Never changes once released.</summary>
    string Spelling { get; }

    /// <summary>One phrase for help texts: what it does and whose it is.</summary>
    string Summary { get; }

    /// <summary>What the set is called in messages: "process", "corruption".</summary>
    static abstract string Kind { get; }

    static abstract IReadOnlyList<TSelf> All { get; }
}

public static class Spellings
{
    /// <summary>The known spellings, comma-separated, for messages and help texts.</summary>
    public static string Known<T>() where T : class, ISpelled<T> => string.Join(", ", T.All.Select(v => v.Spelling));

    /// <summary>"a (what a is), b (...) or c (...)": a help text listing every value with its summary.</summary>
    public static string Help<T>() where T : class, ISpelled<T>
    {
        var all = T.All.Select(v => $"{v.Spelling} ({v.Summary})").ToList();
        return all.Count == 1 ? all[0] : string.Join(", ", all.Take(all.Count - 1)) + " or " + all[^1];
    }

    public static T? Find<T>(string? spelling) where T : class, ISpelled<T> => T.All.FirstOrDefault(v => v.Spelling == spelling);

    /// <summary>The value spelled <paramref name="spelling"/>; anything else is a <see cref="DlmException"/> listing the known ones.</summary>
    public static T Parse<T>(string? spelling) where T : class, ISpelled<T> => Find<T>(spelling)
        ?? throw new DlmException($"unknown {T.Kind} \"{spelling}\" (expected {Known<T>()})");
}

/// <summary>
/// JSON as the bare spelling ("process": "masked"), so files written before these types existed read unchanged.
/// An unknown spelling is a <see cref="DlmException"/> naming the known ones (the loader adds the file's path).
/// </summary>
public sealed class SpellingJsonConverter<T> : JsonConverter<T> where T : class, ISpelled<T>
{
    public override T Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String
            ? Spellings.Parse<T>(reader.GetString())
            : throw new JsonException($"the {T.Kind} must be a string (one of {Spellings.Known<T>()})");

    public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(value.Spelling);
}
