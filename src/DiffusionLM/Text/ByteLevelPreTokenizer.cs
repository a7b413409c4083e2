using System.Text;

namespace DiffusionLM.Text;

/// <summary>
/// GPT-2's pre-tokenization, as Hugging Face's ByteLevel pre-tokenizer applies it:
/// <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>.
/// Hand-written rather than a .NET Regex because .NET regexes see UTF-16 code units, so a letter
/// outside the BMP (e.g. 𝐀) would count as punctuation there but as a letter in HF's (UTF-8) engine.
/// Walking runes keeps the split identical to HF's, and is faster too.
/// </summary>
internal static class ByteLevelPreTokenizer
{
    private enum Kind { Letter, Number, Space, Other }

    /// <summary>Appends the pieces of <paramref name="text"/> as (start, length) in UTF-16 units.</summary>
    public static void Split(ReadOnlySpan<char> text, List<(int Start, int Length)> pieces)
    {
        int n = text.Length, i = 0;
        while (i < n)
        {
            if (text[i] == '\'' && ContractionLength(text[(i + 1)..]) is int c and > 0)
            {
                pieces.Add((i, c + 1));
                i += c + 1;
                continue;
            }

            var kind = KindAt(text, i, out int width);
            int runStart = i;
            // " ?\p{L}+" and friends: a single ASCII space joins the word that follows it.
            if (text[i] == ' ' && i + 1 < n && KindAt(text, i + 1, out _) is var next && next != Kind.Space)
            {
                kind = next;
                runStart = i + 1;
            }
            if (kind != Kind.Space)
            {
                int j = runStart;
                while (j < n && KindAt(text, j, out int w) == kind) j += w;
                pieces.Add((i, j - i));
                i = j;
                continue;
            }

            // Whitespace: "\s+(?!\S)" keeps the last whitespace char for the next word (so "   x"
            // gives "  " and " x"), unless the run ends the text; "\s+" takes a lone one.
            int end = i, last = i;
            while (end < n && KindAt(text, end, out int w) == Kind.Space) { last = end; end += w; }
            int stop = end == n || last == i ? end : last;
            pieces.Add((i, stop - i));
            i = stop;
        }
    }

    private static int ContractionLength(ReadOnlySpan<char> rest)
    {
        // Order as in the regex; case-sensitive, as in GPT-2.
        foreach (var s in Contractions)
            if (rest.StartsWith(s, StringComparison.Ordinal)) return s.Length;
        return 0;
    }

    private static readonly string[] Contractions = ["s", "t", "re", "ve", "m", "ll", "d"];

    private static Kind KindAt(ReadOnlySpan<char> text, int i, out int width)
    {
        char c = text[i];
        if (c < 128)
        {
            width = 1;
            if (char.IsAsciiLetter(c)) return Kind.Letter;
            if (char.IsAsciiDigit(c)) return Kind.Number;
            return c is ' ' or '\t' or '\n' or '\r' or '\v' or '\f' ? Kind.Space : Kind.Other;
        }
        // A lone surrogate decodes as U+FFFD (a symbol), which is also what it becomes in UTF-8.
        Rune.DecodeFromUtf16(text[i..], out var r, out width);
        if (Rune.IsLetter(r)) return Kind.Letter;
        if (Rune.IsNumber(r)) return Kind.Number;
        if (Rune.IsWhiteSpace(r)) return Kind.Space;
        return Kind.Other;
    }
}
