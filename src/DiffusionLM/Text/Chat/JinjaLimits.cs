namespace DiffusionLM.Text.Chat;

/// <summary>
/// Bounds on the work a chat template (a file from an untrusted model folder) can make us do: its size, the nesting
/// of its blocks and expressions (checked without recursion, so that the file cannot control our stack depth), the
/// loop iterations of one rendering, and the length of any string it builds or outputs. Real templates stay far
/// below them (LLaDA's, Qwen2's and Dream's: a few KB, nesting under 10, a few iterations per message).
/// </summary>
public static class JinjaLimits
{
    public const int MaxSourceChars = 1 << 20;
    public const int MaxNesting = 64;
    public const int MaxExpressionTokens = 1000;
    public const long MaxIterations = 100_000;
    public const int MaxStringChars = 1 << 22;

    [ThreadStatic] static long _iterations;

    /// <summary>Starts the budget of one rendering.</summary>
    internal static void StartRendering() => _iterations = 0;

    /// <summary>Counts <paramref name="n"/> loop iterations (or list items a builtin makes) against the budget.</summary>
    internal static void Iterate(long n = 1)
    {
        _iterations += n;
        if (_iterations > MaxIterations || n > MaxIterations)
            throw new JinjaException($"the template runs more than {MaxIterations:N0} loop iterations");
    }

    /// <summary>A string the template built, if it is not longer than the limit.</summary>
    internal static string Checked(string s) => s.Length <= MaxStringChars ? s
        : throw new JinjaException($"the template builds a string longer than {MaxStringChars:N0} characters");

    internal static object? Checked(object? value) => value is string s ? Checked(s) : value;

    internal static void CheckLength(long length)
    {
        if (length > MaxStringChars) throw new JinjaException($"the template builds a string longer than {MaxStringChars:N0} characters");
    }

    /// <summary>Block nesting ({% if %}/{% for %} inside each other), found by counting tags, before the recursive parser runs.</summary>
    internal static void CheckBlockNesting(IEnumerable<string> statements)
    {
        int depth = 0;
        foreach (var s in statements)
        {
            var word = s.Split((char[])[' ', '\t', '\n'], 2)[0];
            if (word is "if" or "for") depth++;
            else if (word is "endif" or "endfor") depth--;
            if (depth > MaxNesting) throw new JinjaException($"blocks are nested deeper than {MaxNesting}");
        }
    }

    /// <summary>Bracket nesting and length of an expression's tokens, before the recursive-descent parser sees them.</summary>
    internal static void CheckExpression(IReadOnlyList<string> tokens)
    {
        if (tokens.Count > MaxExpressionTokens) throw new JinjaException($"an expression has more than {MaxExpressionTokens} tokens");
        int depth = 0, unary = 0;
        foreach (var t in tokens)
        {
            if (t is "(" or "[" or "{") depth++;
            else if (t is ")" or "]" or "}") depth--;
            // Runs of prefix operators ("not not not x", "- - x") recurse too.
            unary = t is "not" or "-" or "+" ? unary + 1 : 0;
            if (depth > MaxNesting || unary > MaxNesting) throw new JinjaException($"an expression is nested deeper than {MaxNesting}");
        }
    }
}
