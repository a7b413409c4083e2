using System.Text;

namespace DiffusionLM.Reporting;

/// <summary>
/// Token text made visible for figures and tables: a token that is only whitespace shows every
/// character (␣ space, ↵ newline, ⇥ tab); other tokens lose the single leading space that byte-level
/// BPE words carry (" the" → "the"), and keep newlines or tabs inside them visible. Control
/// characters become \xNN. Long tokens are cut with "…".
/// </summary>
public static class TokenDisplay
{
    public static string Visible(string token, int maxChars = 14)
    {
        if (token.Length == 0) return "∅";
        bool allSpace = token.All(char.IsWhiteSpace);
        var text = !allSpace && token[0] == ' ' ? token[1..] : token;
        var sb = new StringBuilder();
        foreach (var c in text)
        {
            sb.Append(c switch
            {
                ' ' => allSpace ? "␣" : " ",
                '\n' => "↵",
                '\r' => "␍",
                '\t' => "⇥",
                _ when char.IsControl(c) => $"\\x{(int)c:X2}",
                _ => c.ToString(),
            });
        }
        var s = sb.ToString();
        return s.Length > maxChars ? s[..(maxChars - 1)] + "…" : s;
    }

    /// <summary>One line of a prompt for a title: newlines as ↵, cut to <paramref name="maxChars"/>.</summary>
    public static string OneLine(string text, int maxChars = 110)
    {
        var s = text.Replace("\r", "").Replace("\n", " ↵ ").Replace("\t", " ");
        return s.Length > maxChars ? s[..(maxChars - 1)] + "…" : s;
    }
}
