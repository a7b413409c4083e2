using System.Text.Json;

namespace DiffusionLM.Text.Chat;

/// <summary>One chat message.</summary>
public sealed record ChatMessage(string Role, string Content);

/// <summary>
/// A model's chat template from tokenizer_config.json ("chat_template"; a string, or a list of named
/// templates of which "default" is used), rendered as transformers' apply_chat_template(tokenize=False)
/// does: variables messages, add_generation_prompt, and the special tokens of the config
/// (bos_token, eos_token, pad_token, unk_token, ...).
/// </summary>
public sealed class ChatTemplate : IChatTemplate
{
    public const string ConfigFile = "tokenizer_config.json";

    readonly JinjaTemplate _template;
    readonly Dictionary<string, object?> _tokens;

    public string Source { get; }
    public string Text { get; }

    public ChatTemplate(string text, IReadOnlyDictionary<string, string>? specialTokens = null, string source = "template")
    {
        Text = text;
        Source = source;
        try { _template = JinjaTemplate.Parse(text); }
        catch (JinjaException e) { throw new DlmException($"{source}: chat_template does not parse ({e.Message})"); }
        catch (Exception e) when (e is not (DlmException or OutOfMemoryException)) { throw new DlmException($"{source}: chat_template does not parse ({e.GetType().Name}: {e.Message})"); }
        _tokens = (specialTokens ?? new Dictionary<string, string>()).ToDictionary(kv => kv.Key, kv => (object?)kv.Value);
    }

    /// <summary>The folder's chat template, or null when it has no tokenizer_config.json or no chat_template in it.</summary>
    public static ChatTemplate? Load(string folder)
    {
        var path = Path.Combine(folder, ConfigFile);
        if (!File.Exists(path)) return null;
        IO.RegularFile.Require(path);
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new DlmException($"{path}: not valid JSON ({e.Message})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new DlmException($"{path}: expected a JSON object");
            var tokens = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in root.EnumerateObject())
            {
                if (!p.Name.EndsWith("_token", StringComparison.Ordinal)) continue;
                if (p.Value.ValueKind == JsonValueKind.String) tokens[p.Name] = p.Value.GetString()!;
                else if (p.Value.ValueKind == JsonValueKind.Object && p.Value.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String)
                    tokens[p.Name] = c.GetString()!;
            }
            if (!root.TryGetProperty("chat_template", out var t) || t.ValueKind == JsonValueKind.Null) return null;
            string? text = t.ValueKind switch
            {
                JsonValueKind.String => t.GetString(),
                JsonValueKind.Array => t.EnumerateArray()
                    .Where(e => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("name", out var n) && n.GetString() == "default")
                    .Select(e => e.TryGetProperty("template", out var x) && x.ValueKind == JsonValueKind.String ? x.GetString() : null).FirstOrDefault(),
                _ => null,
            };
            if (text is null) throw new DlmException($"{path}: \"chat_template\" must be a string or a list with a \"default\" template");
            return new ChatTemplate(text, tokens, path);
        }
    }

    /// <summary>The special token strings the template sees, by name ("eos_token" → "&lt;|endoftext|&gt;").</summary>
    public IReadOnlyDictionary<string, object?> SpecialTokens => _tokens;

    public string Name => Source;

    /// <summary>A single user turn with the assistant's turn opened, as generation and the probe need.</summary>
    public string Apply(string userMessage) => Render([new ChatMessage("user", userMessage)], addGenerationPrompt: true);

    public string Render(IEnumerable<ChatMessage> messages, bool addGenerationPrompt = true)
    {
        var vars = new Dictionary<string, object?>(_tokens)
        {
            ["messages"] = messages.Select(m => (object?)new OrderedDictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        try { return _template.Render(vars); }
        catch (JinjaException e) { throw new DlmException($"{Source}: chat template failed: {e.Message}"); }
        // A template is a program from the model folder: a wrong type or an index out of range in it is its error, not ours.
        catch (Exception e) when (e is not (DlmException or OutOfMemoryException)) { throw new DlmException($"{Source}: chat template failed: {e.GetType().Name}: {e.Message}"); }
    }
}
