using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace DiffusionLM.Models.Hf;

/// <summary>
/// A Hugging Face config.json read as a JSON object, with typed accessors whose errors name the file
/// and the field. Each model family maps its own field names onto <see cref="ModelConfig"/>.
/// </summary>
public sealed class HfConfigJson
{
    public string Path { get; }
    public JsonObject Json { get; }

    public HfConfigJson(string path, JsonObject json) { Path = path; Json = json; }

    public static HfConfigJson Load(string path)
    {
        if (!File.Exists(path)) throw new DlmException($"{path}: file not found (a model folder needs config.json)");
        IO.RegularFile.Require(path);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw new DlmException($"{path}: not valid JSON ({e.Message})"); }
        if (node is not JsonObject obj) throw new DlmException($"{path}: expected a JSON object");
        return new HfConfigJson(path, obj);
    }

    public string? ModelType => Json["model_type"] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    public IReadOnlyList<string> Architectures =>
        Json["architectures"] is JsonArray a ? a.Select(x => x?.GetValueKind() == JsonValueKind.String ? x.GetValue<string>() : "").ToList() : [];

    public bool Has(string field) => Json.ContainsKey(field) && Json[field] is not null;

    public int Int(string field)
        => OptInt(field) ?? throw new DlmException($"{Path}: missing required field \"{field}\"");

    public int? OptInt(string field)
    {
        if (!Has(field)) return null;
        var n = Json[field]!;
        // Through the JSON text: a node built in memory holds an int or a double, a parsed one a JsonElement.
        var text = n.ToJsonString();
        if (n.GetValueKind() == JsonValueKind.Number)
        {
            if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l) && l is >= int.MinValue and <= int.MaxValue) return (int)l;
            if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && d == Math.Floor(d) && Math.Abs(d) < int.MaxValue) return (int)d;
        }
        // eos_token_id may be a list in HF configs: the first one is the end of text.
        if (n is JsonArray arr && arr.Count > 0 && arr[0]?.GetValueKind() == JsonValueKind.Number
            && int.TryParse(arr[0]!.ToJsonString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var first)) return first;
        throw new DlmException($"{Path}: field \"{field}\" must be an integer, found {n.ToJsonString()}");
    }

    public double Double(string field, double fallback)
    {
        if (!Has(field)) return fallback;
        var n = Json[field]!;
        if (n.GetValueKind() == JsonValueKind.Number) return double.Parse(n.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);
        throw new DlmException($"{Path}: field \"{field}\" must be a number, found {n.ToJsonString()}");
    }

    public bool Bool(string field, bool fallback)
    {
        if (!Has(field)) return fallback;
        var n = Json[field]!;
        return n.GetValueKind() switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new DlmException($"{Path}: field \"{field}\" must be true or false, found {n.ToJsonString()}"),
        };
    }

    public string? String(string field)
    {
        if (!Has(field)) return null;
        var n = Json[field]!;
        if (n.GetValueKind() == JsonValueKind.String) return n.GetValue<string>();
        throw new DlmException($"{Path}: field \"{field}\" must be a string, found {n.ToJsonString()}");
    }

    /// <summary>Refuses a config whose field selects math this implementation does not have.</summary>
    public void Require(bool ok, string field, string why)
    {
        if (!ok) throw new DlmException($"{Path}: field \"{field}\" = {(Has(field) ? Json[field]!.ToJsonString() : "(absent)")} is not supported: {why}");
    }
}
