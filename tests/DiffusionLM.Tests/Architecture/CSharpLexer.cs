using System.Text;

namespace DiffusionLM.Tests.Architecture;

/// <summary>
/// Just enough of C#'s lexical grammar for source checks: it tells comments, string literals (regular, verbatim, raw,
/// interpolated with nested holes) and character literals from code, so a check can look only at quoted literals or only
/// at code, and a word in a comment or inside a longer message never counts.
/// </summary>
public static class CSharpLexer
{
    /// <summary>A string literal's text (interpolation holes replaced by U+0000) and the line it starts on.</summary>
    public sealed record Literal(string Text, int Line);

    /// <summary>The string literals of <paramref name="source"/>, and the source with comments and literal text blanked (newlines kept).</summary>
    public static (IReadOnlyList<Literal> Literals, string Code) Lex(string source)
    {
        var lexer = new Lexer(source);
        lexer.Code(stopAtBrace: false);
        return (lexer.Literals, lexer.CodeText.ToString());
    }

    sealed class Lexer(string s)
    {
        int _i;
        public readonly List<Literal> Literals = [];
        public readonly StringBuilder CodeText = new();

        char At(int k) => _i + k < s.Length ? s[_i + k] : '\0';
        int Line => s.AsSpan(0, Math.Min(_i, s.Length)).Count('\n') + 1;

        void Blank(int n)
        {
            for (int k = 0; k < n && _i < s.Length; k++, _i++) CodeText.Append(s[_i] == '\n' ? '\n' : ' ');
        }

        /// <summary>Code up to the end (or, in an interpolation hole, up to its closing brace, consumed).</summary>
        public void Code(bool stopAtBrace)
        {
            int depth = 0;
            while (_i < s.Length)
            {
                char c = s[_i];
                if (c == '/' && At(1) == '/') { while (_i < s.Length && s[_i] != '\n') Blank(1); continue; }
                if (c == '/' && At(1) == '*')
                {
                    Blank(2);
                    while (_i < s.Length && !(s[_i] == '*' && At(1) == '/')) Blank(1);
                    Blank(2);
                    continue;
                }
                if (c == '\'') { CharLiteral(); continue; }
                if (StringStart() is { } start) { StringLiteral(start); continue; }
                if (stopAtBrace && c == '{') depth++;
                if (stopAtBrace && c == '}' && depth-- == 0) { Blank(1); return; }
                CodeText.Append(c);
                _i++;
            }
        }

        /// <summary>(prefix length, number of $, verbatim, raw quote count) when a string literal starts here.</summary>
        (int Prefix, int Dollars, bool Verbatim, int RawQuotes)? StringStart()
        {
            int k = 0, dollars = 0;
            bool verbatim = false;
            while (At(k) == '$' || At(k) == '@') { if (At(k) == '$') dollars++; else verbatim = true; k++; }
            if (At(k) != '"') return null;
            int quotes = 0;
            while (At(k + quotes) == '"') quotes++;
            int raw = quotes >= 3 ? quotes : 0;
            return (k, dollars, verbatim, raw);
        }

        void CharLiteral()
        {
            Blank(1);
            if (At(0) == '\\') Blank(2); else Blank(1);
            while (_i < s.Length && s[_i] != '\'' && s[_i] != '\n') Blank(1);
            Blank(1);
        }

        void StringLiteral((int Prefix, int Dollars, bool Verbatim, int RawQuotes) start)
        {
            bool interpolated = start.Dollars > 0;
            int line = Line;
            var text = new StringBuilder();
            Blank(start.Prefix);
            if (start.RawQuotes > 0)
            {
                Blank(start.RawQuotes);
                string close = new('"', start.RawQuotes);
                while (_i < s.Length && string.CompareOrdinal(s, _i, close, 0, close.Length) != 0)
                {
                    if (interpolated && s[_i] == '{')
                    {
                        // In $$"""...""" a hole opens with two braces: fewer are text, more are text and then a hole.
                        int run = 0;
                        while (At(run) == '{') run++;
                        if (run < start.Dollars) { text.Append(s, _i, run); Blank(run); continue; }
                        text.Append('{', run - start.Dollars).Append('\0');
                        Blank(run);
                        Code(stopAtBrace: true);
                        for (int k = 1; k < start.Dollars && At(0) == '}'; k++) Blank(1);
                        continue;
                    }
                    text.Append(s[_i]); Blank(1);
                }
                Blank(start.RawQuotes);
                Literals.Add(new Literal(text.ToString().Trim('\n', '\r', ' '), line));
                return;
            }
            Blank(1);
            while (_i < s.Length)
            {
                char c = s[_i];
                if (start.Verbatim && c == '"' && At(1) == '"') { text.Append('"'); Blank(2); continue; }
                if (!start.Verbatim && c == '\\') { text.Append(At(1) == '"' ? '"' : c); if (At(1) != '"') text.Append(At(1)); Blank(2); continue; }
                if (c == '"') { Blank(1); break; }
                if (interpolated && c == '{' && At(1) == '{') { text.Append('{'); Blank(2); continue; }
                if (interpolated && c == '}' && At(1) == '}') { text.Append('}'); Blank(2); continue; }
                if (interpolated && c == '{') { Blank(1); text.Append('\0'); Code(stopAtBrace: true); continue; }
                if (c == '\n' && !start.Verbatim) break; // unterminated: stop at the line's end
                text.Append(c);
                Blank(1);
            }
            Literals.Add(new Literal(text.ToString(), line));
        }
    }
}
