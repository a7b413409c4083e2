using System.Text.Json;

namespace DiffusionLM.Analysis.Probe;

/// <summary>One prompt of a prompt set.</summary>
/// <param name="Id">the file's own id when it has one ("question_id", "id"), else "line N".</param>
/// <param name="Text">the user message (before any chat template).</param>
/// <param name="Source">file:line, for error messages and reports.</param>
public sealed record ProbePrompt(string Id, string Text, string Source);

/// <summary>
/// Reads prompt sets. A file ending in .jsonl or .json holds one JSON object per line, in any of the
/// bundled shapes:
/// <list type="bullet">
/// <item>FastChat vicuna / MT-bench: {"question_id", "category", "turns": [first, second, ...]}: the first turn;</item>
/// <item>self-instruct seed and user-oriented: {"id", "instruction", "instances": [{"input", "output"}]}:
/// the instruction, followed by a blank line and the first instance's input when it is not empty
/// (the output is the reference answer and is never shown to the model);</item>
/// <item>any object with a "prompt", "text" or "question" string.</item>
/// </list>
/// Any other file is plain text, one prompt per non-blank line.
/// </summary>
public static class PromptSet
{
    public static IReadOnlyList<ProbePrompt> Load(string path, int? limit = null)
    {
        if (limit is <= 0) throw new DlmException($"--limit must be positive (got {limit})");
        if (!File.Exists(path)) throw new DlmException($"{path}: prompt file not found");
        string ext = Path.GetExtension(path).ToLowerInvariant();
        bool json = ext is ".jsonl" or ".json";
        var prompts = new List<ProbePrompt>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (limit is not null && prompts.Count >= limit) break;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string source = $"{path}:{lineNo}";
            prompts.Add(json ? FromJson(line, source, lineNo) : new ProbePrompt($"line {lineNo}", line.TrimEnd('\r'), source));
        }
        if (prompts.Count == 0)
            throw new DlmException($"{path}: no prompts found (the file is empty or blank; expected {(json ? "one JSON object per line" : "one prompt per line")})");
        return prompts;
    }

    static ProbePrompt FromJson(string line, string source, int lineNo)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException e) { throw new DlmException($"{source}: not valid JSON ({e.Message}); a .jsonl prompt file holds one JSON object per line"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new DlmException($"{source}: expected a JSON object, found {root.ValueKind}");
            string id = root.TryGetProperty("question_id", out var q) ? q.ToString()
                : root.TryGetProperty("id", out var i) ? i.ToString() : $"line {lineNo}";
            string text = TextOf(root, source);
            if (string.IsNullOrWhiteSpace(text)) throw new DlmException($"{source}: the prompt is empty");
            return new ProbePrompt(id, text, source);
        }
    }

    static string TextOf(JsonElement root, string source)
    {
        if (root.TryGetProperty("turns", out var turns))
        {
            if (turns.ValueKind != JsonValueKind.Array || turns.GetArrayLength() == 0 || turns[0].ValueKind != JsonValueKind.String)
                throw new DlmException($"{source}: \"turns\" must be a non-empty array of strings");
            return turns[0].GetString()!;
        }
        if (root.TryGetProperty("instruction", out var instruction))
        {
            if (instruction.ValueKind != JsonValueKind.String) throw new DlmException($"{source}: \"instruction\" must be a string");
            string text = instruction.GetString()!;
            if (root.TryGetProperty("instances", out var instances) && instances.ValueKind == JsonValueKind.Array
                && instances.GetArrayLength() > 0 && instances[0].ValueKind == JsonValueKind.Object
                && instances[0].TryGetProperty("input", out var input) && input.ValueKind == JsonValueKind.String
                && !string.IsNullOrWhiteSpace(input.GetString()))
                text += "\n\n" + input.GetString();
            return text;
        }
        foreach (var name in new[] { "prompt", "text", "question" })
            if (root.TryGetProperty(name, out var v))
                return v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new DlmException($"{source}: \"{name}\" must be a string");
        throw new DlmException($"{source}: no prompt in this object (expected a \"turns\", \"instruction\", \"prompt\", \"text\" or \"question\" field)");
    }
}
