using System.Text;
using static DiffusionLM.Text.Chat.JinjaValues;

namespace DiffusionLM.Text.Chat;

/// <summary>
/// A small Jinja interpreter for Hugging Face chat templates: text, {{ expr }}, {# comments #},
/// {% if/elif/else/endif %}, {% for x[, y] in expr [if cond] %} … {% else %} … {% endfor %} with
/// loop.index/index0/first/last/length/revindex/previtem/nextitem, {% set x = expr %} and
/// {% set ns.attr = expr %}, and whitespace control as transformers configures Jinja:
/// trim_blocks and lstrip_blocks on, "-" strips whitespace on its side of a tag.
/// </summary>
public sealed class JinjaTemplate
{
    abstract record Node;
    sealed record TextNode(string Text) : Node;
    sealed record OutputNode(JinjaExpr Expr) : Node;
    sealed record IfNode(List<(JinjaExpr Cond, List<Node> Body)> Branches, List<Node>? Else) : Node;
    sealed record ForNode(string[] Targets, JinjaExpr Iter, JinjaExpr? Filter, List<Node> Body, List<Node>? Else) : Node;
    sealed record SetNode(string Name, string? Attr, JinjaExpr Value) : Node;

    enum Kind { Text, Output, Statement, Comment }
    sealed record Piece(Kind Kind, string Text, bool StripBefore, bool StripAfter);

    readonly List<Node> _root;

    JinjaTemplate(List<Node> root) { _root = root; }

    public static JinjaTemplate Parse(string source)
    {
        if (source.Length > JinjaLimits.MaxSourceChars) throw new JinjaException($"the template is longer than {JinjaLimits.MaxSourceChars:N0} characters");
        var pieces = Split(source);
        JinjaLimits.CheckBlockNesting(pieces.Where(p => p.Kind == Kind.Statement).Select(p => p.Text));
        int i = 0;
        var root = Block(pieces, ref i, out var end);
        if (end is not null) throw new JinjaException($"unexpected {{% {end} %}}");
        return new JinjaTemplate(root);
    }

    /// <summary>Renders with the given variables (converted with <see cref="JinjaValues.From"/>).</summary>
    public string Render(IReadOnlyDictionary<string, object?> variables)
    {
        var scope = new JinjaScope();
        JinjaBuiltins.AddGlobals(scope);
        foreach (var (k, v) in variables) scope.Set(k, From(v));
        var sb = new StringBuilder();
        JinjaLimits.StartRendering();
        Run(_root, scope, sb);
        return sb.ToString();
    }

    static List<Piece> Split(string s)
    {
        var raw = new List<Piece>();
        int i = 0;
        while (i < s.Length)
        {
            int open = IndexOfTag(s, i);
            if (open < 0) { raw.Add(new(Kind.Text, s[i..], false, false)); break; }
            if (open > i) raw.Add(new(Kind.Text, s[i..open], false, false));
            char t = s[open + 1];
            string close = t == '{' ? "}}" : t == '%' ? "%}" : "#}";
            int end = s.IndexOf(close, open + 2, StringComparison.Ordinal);
            if (end < 0) throw new JinjaException($"unclosed tag at character {open}");
            var inner = s[(open + 2)..end];
            bool stripBefore = inner.StartsWith('-'), stripAfter = inner.EndsWith('-') && inner.Length > 0;
            if (stripBefore) inner = inner[1..];
            if (stripAfter && inner.Length > 0) inner = inner[..^1];
            if (inner.StartsWith('+')) inner = inner[1..];
            var kind = t == '{' ? Kind.Output : t == '%' ? Kind.Statement : Kind.Comment;
            raw.Add(new(kind, inner.Trim(), stripBefore, stripAfter));
            i = end + 2;
        }
        // Whitespace control, applied to the text on either side of each tag.
        var texts = raw.Select(p => p.Text).ToList();
        for (int k = 0; k < raw.Count; k++)
        {
            var p = raw[k];
            if (p.Kind == Kind.Text) continue;
            bool block = p.Kind is Kind.Statement or Kind.Comment;
            if (k > 0 && raw[k - 1].Kind == Kind.Text)
            {
                if (p.StripBefore) texts[k - 1] = texts[k - 1].TrimEnd();
                else if (block)
                {
                    // lstrip_blocks: spaces and tabs from the start of the line up to a block tag, judged
                    // on the source text (a newline trim_blocks removed still starts the line).
                    var prev = raw[k - 1].Text;
                    int nl = prev.LastIndexOf('\n');
                    var tail = prev[(nl + 1)..];
                    if (tail.Length > 0 && tail.All(c => c is ' ' or '\t') && (nl >= 0 || k - 1 == 0) && texts[k - 1].EndsWith(tail))
                        texts[k - 1] = texts[k - 1][..^tail.Length];
                }
            }
            if (k + 1 < raw.Count && raw[k + 1].Kind == Kind.Text)
            {
                if (p.StripAfter) texts[k + 1] = texts[k + 1].TrimStart();
                else if (block && texts[k + 1].StartsWith('\n')) texts[k + 1] = texts[k + 1][1..]; // trim_blocks
                else if (block && texts[k + 1].StartsWith("\r\n")) texts[k + 1] = texts[k + 1][2..];
            }
        }
        return raw.Select((p, k) => p with { Text = texts[k] }).Where(p => p.Kind != Kind.Comment).ToList();
    }

    static int IndexOfTag(string s, int from)
    {
        for (int i = from; i < s.Length - 1; i++)
            if (s[i] == '{' && s[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    static List<Node> Block(List<Piece> pieces, ref int i, out string? end, params string[] enders)
    {
        var nodes = new List<Node>();
        end = null;
        while (i < pieces.Count)
        {
            var p = pieces[i++];
            switch (p.Kind)
            {
                case Kind.Text: if (p.Text.Length > 0) nodes.Add(new TextNode(p.Text)); break;
                case Kind.Output: nodes.Add(new OutputNode(JinjaExpressionParser.Parse(p.Text))); break;
                case Kind.Statement:
                {
                    var word = p.Text.Split((char[])[' ', '\t', '\n'], 2)[0];
                    var rest = p.Text[word.Length..].Trim();
                    if (enders.Contains(word)) { end = p.Text; return nodes; }
                    switch (word)
                    {
                        case "if": nodes.Add(If(pieces, ref i, rest)); break;
                        case "for": nodes.Add(For(pieces, ref i, rest)); break;
                        case "set": nodes.Add(Set(rest)); break;
                        case "generation" or "endgeneration": break; // transformers' assistant-mask markers: no output
                        default: throw new JinjaException($"unsupported or unexpected tag {{% {p.Text} %}}");
                    }
                    break;
                }
            }
        }
        if (enders.Length > 0) throw new JinjaException($"missing {{% {enders[^1]} %}}");
        return nodes;
    }

    static IfNode If(List<Piece> pieces, ref int i, string cond)
    {
        var branches = new List<(JinjaExpr, List<Node>)>();
        List<Node>? elseBody = null;
        var c = JinjaExpressionParser.Parse(cond);
        while (true)
        {
            var body = Block(pieces, ref i, out var end, "elif", "else", "endif");
            branches.Add((c, body));
            var w = end!.Split(' ', 2);
            if (w[0] == "elif") { c = JinjaExpressionParser.Parse(w[1]); continue; }
            if (w[0] == "else") { elseBody = Block(pieces, ref i, out _, "endif"); }
            return new IfNode(branches, elseBody);
        }
    }

    static ForNode For(List<Piece> pieces, ref int i, string header)
    {
        int inAt = header.IndexOf(" in ", StringComparison.Ordinal);
        if (inAt < 0) throw new JinjaException($"malformed for: {header}");
        var targets = header[..inAt].Split(',').Select(t => t.Trim()).ToArray();
        var iter = JinjaExpressionParser.Parse(header[(inAt + 4)..], out var rest, false, "if");
        JinjaExpr? filter = null;
        if (rest.Count > 0)
        {
            // "for x in xs if cond": re-lex the part after "if".
            int ifAt = header.LastIndexOf(" if ", StringComparison.Ordinal);
            filter = JinjaExpressionParser.Parse(header[(ifAt + 4)..]);
        }
        var body = Block(pieces, ref i, out var end, "else", "endfor");
        List<Node>? elseBody = end == "else" ? Block(pieces, ref i, out _, "endfor") : null;
        return new ForNode(targets, iter, filter, body, elseBody);
    }

    static SetNode Set(string text)
    {
        int eq = text.IndexOf('=');
        if (eq < 0) throw new JinjaException($"block set ({{% set {text} %}}) is not supported");
        var target = text[..eq].Trim();
        var value = JinjaExpressionParser.Parse(text[(eq + 1)..]);
        int dot = target.IndexOf('.');
        return dot < 0 ? new SetNode(target, null, value) : new SetNode(target[..dot], target[(dot + 1)..], value);
    }

    static void Run(List<Node> nodes, JinjaScope scope, StringBuilder sb)
    {
        foreach (var node in nodes)
        {
            switch (node)
            {
                case TextNode t: sb.Append(t.Text); JinjaLimits.CheckLength(sb.Length); break;
                case OutputNode o: sb.Append(Str(o.Expr(scope))); JinjaLimits.CheckLength(sb.Length); break;
                case IfNode f:
                {
                    bool done = false;
                    foreach (var (cond, body) in f.Branches)
                        if (Truthy(cond(scope))) { Run(body, scope, sb); done = true; break; }
                    if (!done && f.Else is not null) Run(f.Else, scope, sb);
                    break;
                }
                case SetNode s:
                    if (s.Attr is null) scope.Set(s.Name, s.Value(scope));
                    else if (scope.Get(s.Name) is OrderedDictionary<string, object?> ns) ns[s.Attr] = s.Value(scope);
                    else throw new JinjaException($"cannot set attribute {s.Attr} of {s.Name}");
                    break;
                case ForNode f: RunFor(f, scope, sb); break;
            }
        }
    }

    static void RunFor(ForNode f, JinjaScope scope, StringBuilder sb)
    {
        var source = f.Iter(scope);
        var items = JinjaBuiltins.Items(source).ToList();
        if (f.Filter is not null)
        {
            var kept = new List<object?>();
            foreach (var it in items) { JinjaLimits.Iterate(); scope.Push(); Bind(f.Targets, it, scope); if (Truthy(f.Filter(scope))) kept.Add(it); scope.Pop(); }
            items = kept;
        }
        if (items.Count == 0) { if (f.Else is not null) Run(f.Else, scope, sb); return; }
        for (int k = 0; k < items.Count; k++)
        {
            JinjaLimits.Iterate();
            scope.Push();
            Bind(f.Targets, items[k], scope);
            scope.Set("loop", new OrderedDictionary<string, object?>
            {
                ["index"] = (long)k + 1, ["index0"] = (long)k, ["first"] = k == 0, ["last"] = k == items.Count - 1,
                ["length"] = (long)items.Count, ["revindex"] = (long)(items.Count - k), ["revindex0"] = (long)(items.Count - k - 1),
                ["previtem"] = k > 0 ? items[k - 1] : Undefined.Value, ["nextitem"] = k + 1 < items.Count ? items[k + 1] : Undefined.Value,
            });
            Run(f.Body, scope, sb);
            scope.Pop();
        }
    }

    static void Bind(string[] targets, object? item, JinjaScope scope)
    {
        if (targets.Length == 1) { scope.Set(targets[0], item); return; }
        var parts = JinjaBuiltins.Items(item).ToList();
        if (parts.Count != targets.Length) throw new JinjaException($"cannot unpack {parts.Count} values into {targets.Length}");
        for (int j = 0; j < targets.Length; j++) scope.Set(targets[j], parts[j]);
    }
}
