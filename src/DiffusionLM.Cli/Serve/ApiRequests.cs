using System.Text.Json;
using DiffusionLM.Serving;
using DlmChatMessage = DiffusionLM.Text.Chat.ChatMessage;

namespace DiffusionLM.Cli.Serve;

/// <summary>A request the server refuses: the status, a one-line message and the field it is about.</summary>
public sealed class ApiException(int status, string message, string? param = null, string type = "invalid_request_error") : Exception(message)
{
    public int Status { get; } = status;
    public string? Param { get; } = param;
    public string Type { get; } = type;
}

/// <summary>The server's limits (options of dlm serve), checked before a request is queued.</summary>
public sealed record ServeLimits(int MaxPromptTokens = 2048, int MaxTokens = 256, int MaxSteps = 1024);

/// <summary>What a generation request asks for, once read and checked.</summary>
public sealed record ApiRequest(int[] PromptIds, GenerationSettings Settings, long Seed, bool Stream);

/// <summary>
/// Reads the bodies of /v1/completions, /v1/chat/completions and /v1/diffusion/generate: OpenAI's fields
/// (prompt or messages, max_tokens, temperature, seed, stream) and the diffusion settings as extra fields
/// (sampler, steps, block_length, threshold, remasking, cfg, cache). Fields OpenAI clients send that have no
/// meaning here (top_p, stop, ...) are ignored; a field of the wrong type is a 400 that names it.
/// </summary>
public static class ApiRequests
{
    public static JsonDocument Parse(string body)
    {
        try
        {
            var doc = JsonDocument.Parse(body);
            if (doc.RootElement.ValueKind != JsonValueKind.Object) { doc.Dispose(); throw new ApiException(400, "the request body must be a JSON object"); }
            return doc;
        }
        catch (JsonException e) { throw new ApiException(400, $"the request body is not valid JSON: {FirstSentence(e.Message)}"); }
    }

    public static ApiRequest Completion(JsonElement root, GenerationSession session, ServeLimits limits)
    {
        var prompt = Field(root, "prompt") is { } p ? Text(p, "prompt") : throw new ApiException(400, "prompt is required", "prompt");
        return Build(root, session, limits, chat: false, s => session.Encode(prompt, s.Chat));
    }

    public static ApiRequest Chat(JsonElement root, GenerationSession session, ServeLimits limits)
    {
        var messages = Field(root, "messages") ?? throw new ApiException(400, "messages is required", "messages");
        if (messages.ValueKind != JsonValueKind.Array) throw new ApiException(400, $"messages must be an array (got {SettingsFields.Describe(messages)})", "messages");
        var turns = new List<DlmChatMessage>();
        int i = 0;
        foreach (var m in messages.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw new ApiException(400, $"{at} must be an object with role and content", at);
            var role = Field(m, "role") is { ValueKind: JsonValueKind.String } r ? r.GetString()! : throw new ApiException(400, $"{at}.role must be a string", at + ".role");
            var content = Field(m, "content") is { } c ? Text(c, at + ".content") : "";
            turns.Add(new DlmChatMessage(role, content));
        }
        if (turns.Count == 0) throw new ApiException(400, "messages must hold at least one message", "messages");
        return Build(root, session, limits, chat: true, _ => session.EncodeConversation(turns));
    }

    /// <summary>/v1/diffusion/generate: a plain prompt (chat: true wraps it in the model's template).</summary>
    public static ApiRequest Diffusion(JsonElement root, GenerationSession session, ServeLimits limits) => Completion(root, session, limits) with { Stream = true };

    static ApiRequest Build(JsonElement root, GenerationSession session, ServeLimits limits, bool chat, Func<GenerationSettings, int[]> encode)
    {
        GenerationSettings settings;
        bool stream;
        long seed;
        try
        {
            settings = SettingsFields.Read(root, new GenerationSettings { Chat = chat, GenLength = Math.Min(128, limits.MaxTokens) });
            // OpenAI's names for the length and temperature win over the diffusion spelling when both are sent.
            var max = Field(root, "max_completion_tokens") is { } mc ? ("max_completion_tokens", mc) : Field(root, "max_tokens") is { } mt ? ("max_tokens", mt) : default;
            if (max.Item1 is not null) settings = settings with { GenLength = SettingsFields.Int(max.Item1, max.Item2) };
            stream = Field(root, "stream") is { } st && SettingsFields.Bool("stream", st);
            seed = Field(root, "seed") is { } sd ? SettingsFields.Long("seed", sd) : 0;
            if (Field(root, "n") is { } n && SettingsFields.Int("n", n) != 1) throw new DlmException("n must be 1 (one completion per request)");
            if (Field(root, "model") is { } model) SettingsFields.String("model", model);
        }
        catch (DlmException e) { throw new ApiException(400, e.Message, ParamOf(e.Message)); }
        string lengthField = Field(root, "max_completion_tokens") is not null ? "max_completion_tokens" : Field(root, "max_tokens") is not null ? "max_tokens" : "gen_length";
        if (settings.GenLength > limits.MaxTokens)
            throw new ApiException(400, $"{lengthField} {settings.GenLength} is over this server's limit of {limits.MaxTokens} tokens (dlm serve --max-tokens)", lengthField);
        if (settings.GenLength <= 0) throw new ApiException(400, $"{lengthField} must be positive (got {settings.GenLength})", lengthField);
        if (settings.StepsOrDefault > limits.MaxSteps)
            throw new ApiException(400, $"steps {settings.StepsOrDefault} is over this server's limit of {limits.MaxSteps} (dlm serve --max-steps)", "steps");
        try { settings.Validate(session.Config); }
        catch (DlmException e) { throw new ApiException(400, e.Message, ParamOf(e.Message)); }
        var ids = encode(settings);
        if (ids.Length > limits.MaxPromptTokens)
            throw new ApiException(400, $"the prompt is {ids.Length} tokens, over this server's limit of {limits.MaxPromptTokens} (dlm serve --max-prompt-tokens)", chat ? "messages" : "prompt");
        int context = session.Config.MaxSequenceLength;
        if (ids.Length + settings.GenLength > context)
            throw new ApiException(400, $"the prompt is {ids.Length} tokens and {lengthField} {settings.GenLength}: {ids.Length + settings.GenLength} in all, more than the model's context of {context}", lengthField);
        return new ApiRequest(ids, settings, seed, stream);
    }

    /// <summary>A string, or OpenAI's content parts ([{"type": "text", "text": ...}]) joined.</summary>
    static string Text(JsonElement value, string field)
    {
        if (value.ValueKind == JsonValueKind.String) return value.GetString()!;
        if (value.ValueKind == JsonValueKind.Array)
        {
            var parts = new List<string>();
            foreach (var part in value.EnumerateArray())
            {
                if (part.ValueKind == JsonValueKind.String) { parts.Add(part.GetString()!); continue; }
                if (part.ValueKind == JsonValueKind.Object && Field(part, "text") is { ValueKind: JsonValueKind.String } t) { parts.Add(t.GetString()!); continue; }
                throw new ApiException(400, $"{field} must be a string or an array of text parts", field);
            }
            if (field == "prompt" && parts.Count != 1) throw new ApiException(400, "prompt must be one string (one completion per request)", field);
            return string.Concat(parts);
        }
        throw new ApiException(400, $"{field} must be a string (got {SettingsFields.Describe(value)})", field);
    }

    static JsonElement? Field(JsonElement obj, string name) =>
        obj.TryGetProperty(name, out var v) && v.ValueKind is not (JsonValueKind.Null or JsonValueKind.Undefined) ? v : null;

    static readonly string[] Params = [.. SettingsFields.Names, "max_tokens", "max_completion_tokens", "stream", "seed", "n", "model"];

    /// <summary>The field a settings message is about: its first word when that is a field name.</summary>
    static string? ParamOf(string message)
    {
        var first = message.Split(' ', ':')[0];
        return Params.Contains(first) ? first : null;
    }

    static string FirstSentence(string s) => s.Split(". ")[0];
}
