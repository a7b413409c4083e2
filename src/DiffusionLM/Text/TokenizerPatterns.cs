using System.Text.Json;

namespace DiffusionLM.Text;

/// <summary>
/// Refuses a tokenizer.json whose regular expressions (normalizer "Replace", pre-tokenizer "Split", anywhere a
/// {"Regex": ...} pattern appears) could backtrack catastrophically: Hugging Face's Rust library runs them with
/// Oniguruma, whose match-retry limit then fails inside the library and aborts the whole process through a panic
/// that no caller can catch. The test is structural, done before the native library sees the file: a repeated
/// group ("(...)+", "(...)*", "(...){n,}") that itself contains a repetition or an alternation, the shape of
/// every exponential pattern ("(a+)+$", "(a|a)*", "(\w*)*"). The pre-tokenizer patterns of GPT-2, Llama 3, Qwen2
/// and Dream have no such group and pass.
/// </summary>
public static class TokenizerPatterns
{
    public const int MaxPatternChars = 10_000;

    public static void Check(string path)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException) { return; } // the loader reports it
        using (doc)
        {
            // Iteratively: the file decides how deep its JSON goes.
            var stack = new Stack<JsonElement>([doc.RootElement]);
            while (stack.Count > 0)
            {
                var e = stack.Pop();
                if (e.ValueKind == JsonValueKind.Array) foreach (var x in e.EnumerateArray()) stack.Push(x);
                else if (e.ValueKind == JsonValueKind.Object)
                    foreach (var p in e.EnumerateObject())
                    {
                        if (p.Name == "Regex" && p.Value.ValueKind == JsonValueKind.String && Problem(p.Value.GetString()!) is { } why)
                            throw new DlmException($"{path}: the regular expression {Show(p.Value.GetString()!)} is refused: {why}");
                        if (p.Name is not ("vocab" or "merges")) stack.Push(p.Value);
                    }
            }
        }
    }

    /// <summary>Why a pattern is refused, or null when it is safe.</summary>
    public static string? Problem(string pattern)
    {
        if (pattern.Length > MaxPatternChars) return $"longer than {MaxPatternChars} characters";
        // Per open group: does it contain a repetition or an alternation?
        var groups = new Stack<bool>();
        bool lastClosedRisky = false;
        for (int i = 0; i < pattern.Length; i++)
        {
            char c = pattern[i];
            bool closedRisky = false;
            switch (c)
            {
                case '\\': i++; break; // an escaped character (or the start of \p{..}, whose braces are skipped below)
                case '[': i = EndOfClass(pattern, i); break;
                case '(':
                    groups.Push(false);
                    if (groups.Count > 64) return "groups nested deeper than 64";
                    break;
                case ')':
                    if (groups.Count == 0) return null; // unbalanced: the library rejects it with an error
                    closedRisky = groups.Pop();
                    if (closedRisky && groups.Count > 0) MarkTop(groups);
                    break;
                case '|':
                    if (groups.Count > 0) MarkTop(groups);
                    break;
                case '*' or '+' or '{':
                    bool unbounded = c != '{' || IsUnboundedBrace(pattern, i);
                    if (unbounded && lastClosedRisky)
                        return "a repeated group contains a repetition or an alternation (catastrophic backtracking)";
                    if (groups.Count > 0 && (c != '{' || IsRepetitionBrace(pattern, i))) MarkTop(groups);
                    if (c == '{') i = Math.Max(i, pattern.IndexOf('}', i) < 0 ? i : pattern.IndexOf('}', i));
                    break;
            }
            if (c == '\\' && i < pattern.Length && pattern[i] is 'p' or 'P' && i + 1 < pattern.Length && pattern[i + 1] == '{')
                i = pattern.IndexOf('}', i) is int close and >= 0 ? close : i;
            lastClosedRisky = closedRisky;
        }
        return null;
    }

    static void MarkTop(Stack<bool> groups) { groups.Pop(); groups.Push(true); }

    static int EndOfClass(string p, int open)
    {
        for (int i = open + 1; i < p.Length; i++)
        {
            if (p[i] == '\\') { i++; continue; }
            if (p[i] == ']' && i > open + 1) return i;
        }
        return p.Length;
    }

    /// <summary>"{n,}" or "{n,m}" with m above 1 (a real repetition); "{1}" and text braces are not.</summary>
    static bool IsRepetitionBrace(string p, int open)
    {
        int close = p.IndexOf('}', open);
        if (close < 0) return false;
        var parts = p[(open + 1)..close].Split(',');
        if (parts.Length == 1) return int.TryParse(parts[0], out int n) && n > 1;
        return parts.Length == 2 && int.TryParse(parts[0], out _) && (parts[1] == "" || int.TryParse(parts[1], out int m) && m > 1);
    }

    static bool IsUnboundedBrace(string p, int open)
    {
        int close = p.IndexOf('}', open);
        if (close < 0) return false;
        var parts = p[(open + 1)..close].Split(',');
        // {n,} is unbounded; a large {n,m} is as bad.
        return parts.Length == 2 && int.TryParse(parts[0], out _) && (parts[1] == "" || int.TryParse(parts[1], out int m) && m > 16);
    }

    static string Show(string pattern) => pattern.Length <= 80 ? $"\"{pattern}\"" : $"\"{pattern[..77]}...\"";
}
