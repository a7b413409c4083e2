using System.Globalization;
using System.Text;
using static DiffusionLM.Text.Chat.JinjaValues;

namespace DiffusionLM.Text.Chat;

/// <summary>Variables of a template run: a stack of scopes (a for loop opens one, as in Jinja).</summary>
public sealed class JinjaScope
{
    readonly List<Dictionary<string, object?>> _frames = [new(StringComparer.Ordinal)];
    public object? Get(string name)
    {
        for (int i = _frames.Count - 1; i >= 0; i--) if (_frames[i].TryGetValue(name, out var v)) return v;
        return Undefined.Value;
    }
    public void Set(string name, object? value) => _frames[^1][name] = value;
    public void Push() => _frames.Add(new(StringComparer.Ordinal));
    public void Pop() => _frames.RemoveAt(_frames.Count - 1);
}

/// <summary>A compiled expression: evaluates against a scope.</summary>
public delegate object? JinjaExpr(JinjaScope scope);

/// <summary>
/// Jinja's expression grammar with its precedence (parser.py): conditional (a if c else b) → or → and →
/// not → comparisons (==, !=, &lt;, &gt;, &lt;=, &gt;=, in, not in) → + − → ~ → * / // % → ** → unary
/// with postfix (.attr, [index or slice], call), filters (|f(args)) and tests (is [not] t(args)).
/// </summary>
public sealed class JinjaExpressionParser
{
    readonly List<string> _t;
    int _i;

    JinjaExpressionParser(List<string> tokens) { _t = tokens; }

    /// <param name="conditional">false where Jinja parses without "a if b else c" (a for loop's iterable, before its "if" filter).</param>
    public static JinjaExpr Parse(string source, out List<string> rest, bool conditional, params string[] stopWords)
    {
        var tokens = Lex(source);
        JinjaLimits.CheckExpression(tokens);
        var p = new JinjaExpressionParser(tokens);
        var e = conditional ? p.Conditional() : p.Or();
        rest = p._t.Skip(p._i).ToList();
        if (rest.Count > 0 && !stopWords.Contains(rest[0])) throw new JinjaException($"unexpected \"{rest[0]}\" in expression \"{source}\"");
        return e;
    }

    public static JinjaExpr Parse(string source)
    {
        var e = Parse(source, out var rest, true);
        if (rest.Count > 0) throw new JinjaException($"unexpected \"{rest[0]}\" in expression \"{source}\"");
        return e;
    }

    public static List<string> Lex(string s)
    {
        var list = new List<string>();
        int i = 0;
        string[] ops = ["**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|", "="];
        while (i < s.Length)
        {
            char c = s[i];
            if (char.IsWhiteSpace(c)) { i++; continue; }
            if (c is '\'' or '"')
            {
                var sb = new StringBuilder("\u0001"); // marks a string literal token
                i++;
                while (i < s.Length && s[i] != c)
                {
                    if (s[i] == '\\' && i + 1 < s.Length)
                    {
                        char n = s[++i];
                        switch (n)
                        {
                            case 'n': sb.Append('\n'); break;
                            case 't': sb.Append('\t'); break;
                            case 'r': sb.Append('\r'); break;
                            case '\\' or '\'' or '"': sb.Append(n); break;
                            default: sb.Append('\\').Append(n); break; // Python keeps unknown escapes
                        }
                        i++;
                        continue;
                    }
                    sb.Append(s[i++]);
                }
                if (i >= s.Length) throw new JinjaException($"unterminated string in \"{s}\"");
                i++;
                list.Add(sb.ToString());
                continue;
            }
            if (char.IsDigit(c))
            {
                int st = i;
                while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.' && i + 1 < s.Length && char.IsDigit(s[i + 1]))) i++;
                list.Add(s[st..i]);
                continue;
            }
            if (char.IsLetter(c) || c == '_')
            {
                int st = i;
                while (i < s.Length && (char.IsLetterOrDigit(s[i]) || s[i] == '_')) i++;
                list.Add(s[st..i]);
                continue;
            }
            var op = ops.FirstOrDefault(o => string.CompareOrdinal(s, i, o, 0, o.Length) == 0)
                ?? throw new JinjaException($"unexpected character '{c}' in \"{s}\"");
            list.Add(op);
            i += op.Length;
        }
        return list;
    }

    string? Peek(int k = 0) => _i + k < _t.Count ? _t[_i + k] : null;
    bool Accept(string tok) { if (Peek() == tok) { _i++; return true; } return false; }
    void Expect(string tok) { if (!Accept(tok)) throw new JinjaException($"expected \"{tok}\", found \"{Peek() ?? "end"}\""); }
    static bool IsString(string? t) => t is not null && t.Length > 0 && t[0] == '\u0001';
    static bool IsName(string? t) => t is not null && (char.IsLetter(t[0]) || t[0] == '_');

    JinjaExpr Conditional()
    {
        var a = Or();
        if (Peek() == "if")
        {
            _i++;
            var cond = Or();
            JinjaExpr b = Accept("else") ? Conditional() : _ => Undefined.Value;
            return s => Truthy(cond(s)) ? a(s) : b(s);
        }
        return a;
    }

    JinjaExpr Or() { var a = And(); while (Accept("or")) { var l = a; var r = And(); a = s => { var x = l(s); return Truthy(x) ? x : r(s); }; } return a; }
    JinjaExpr And() { var a = Not(); while (Accept("and")) { var l = a; var r = Not(); a = s => { var x = l(s); return !Truthy(x) ? x : r(s); }; } return a; }
    JinjaExpr Not() { if (Accept("not")) { var e = Not(); return s => !Truthy(e(s)); } return Compare(); }

    JinjaExpr Compare()
    {
        var a = Math1();
        while (true)
        {
            var op = Peek();
            if (op is "==" or "!=" or "<" or ">" or "<=" or ">=" or "in") { _i++; }
            else if (op == "not" && Peek(1) == "in") { _i += 2; op = "not in"; }
            else return a;
            var l = a; var r = Math1(); var o = op;
            a = s => CompareOp(o, l(s), r(s));
        }
    }

    static object CompareOp(string op, object? x, object? y) => op switch
    {
        "==" => JinjaValues.Equals(x, y),
        "!=" => !JinjaValues.Equals(x, y),
        "in" => Contains(y, x),
        "not in" => !Contains(y, x),
        _ => Order(op, x, y),
    };

    static bool Order(string op, object? x, object? y)
    {
        int c = x is string a && y is string b ? string.CompareOrdinal(a, b) : ToDouble(x).CompareTo(ToDouble(y));
        return op switch { "<" => c < 0, ">" => c > 0, "<=" => c <= 0, _ => c >= 0 };
    }

    static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string sub && s.Contains(sub, StringComparison.Ordinal),
        List<object?> l => l.Any(v => JinjaValues.Equals(v, item)),
        OrderedDictionary<string, object?> d => item is string k && d.ContainsKey(k),
        Undefined or null => false,
        _ => throw new JinjaException($"cannot test membership in {Repr(container)}"),
    };

    JinjaExpr Math1()
    {
        var a = Concat();
        while (Peek() is "+" or "-")
        {
            var op = _t[_i++]; var l = a; var r = Concat();
            a = s => op == "+" ? Add(l(s), r(s)) : Arith("-", l(s), r(s));
        }
        return a;
    }

    JinjaExpr Concat()
    {
        var a = Math2();
        while (Accept("~")) { var l = a; var r = Math2(); a = s => JinjaLimits.Checked(Str(l(s)) + Str(r(s))); }
        return a;
    }

    JinjaExpr Math2()
    {
        var a = Pow();
        while (Peek() is "*" or "/" or "//" or "%")
        {
            var op = _t[_i++]; var l = a; var r = Pow();
            a = s => Arith(op, l(s), r(s));
        }
        return a;
    }

    JinjaExpr Pow()
    {
        var a = Unary(true);
        while (Accept("**")) { var l = a; var r = Unary(true); a = s => Arith("**", l(s), r(s)); }
        return a;
    }

    static object? Add(object? x, object? y) => (x, y) switch
    {
        (string a, string b) => JinjaLimits.Checked(a + b),
        (List<object?> a, List<object?> b) => a.Concat(b).ToList(),
        _ when x is Undefined || y is Undefined => throw new JinjaException("cannot add an undefined value"),
        _ => Arith("+", x, y),
    };

    static object? Arith(string op, object? x, object? y)
    {
        if (op == "*" && x is string str && y is long n)
        {
            JinjaLimits.CheckLength(str.Length * Math.Max(0, Math.Min(n, int.MaxValue)));
            return string.Concat(Enumerable.Repeat(str, (int)Math.Max(0, n)));
        }
        if (x is long && y is long && op is "//" or "%" && (long)y == 0) throw new JinjaException("integer division or modulo by zero");
        if (x is long a && y is long b && op is not "/" and not "**")
            return op switch
            {
                "+" => a + b, "-" => a - b, "*" => a * b,
                "//" => (long)Math.Floor((double)a / b),
                "%" => ((a % b) + b) % b,
                _ => throw new JinjaException($"unknown operator {op}"),
            };
        double p = ToDouble(x), q = ToDouble(y);
        return op switch
        {
            "+" => p + q, "-" => p - q, "*" => p * q, "/" => p / q, "//" => Math.Floor(p / q),
            "%" => p - q * Math.Floor(p / q), "**" => x is long && y is long && q >= 0 ? (object)(long)Math.Pow(p, q) : Math.Pow(p, q),
            _ => throw new JinjaException($"unknown operator {op}"),
        };
    }

    JinjaExpr Unary(bool withFilter)
    {
        JinjaExpr node;
        if (Accept("-")) { var e = Unary(false); node = s => Arith("-", 0L, e(s)); }
        else if (Accept("+")) { node = Unary(false); }
        else node = Postfix(Primary());
        if (!withFilter) return node;
        while (true)
        {
            if (Accept("|"))
            {
                var name = _t[_i++];
                var args = Peek() == "(" ? Args() : ([], []);
                var inner = node;
                node = s => JinjaLimits.Checked(JinjaBuiltins.Filter(name, inner(s), args.Item1.Select(a => a(s)).ToList(), args.Item2.ToDictionary(kv => kv.Key, kv => kv.Value(s))));
            }
            else if (Peek() == "is")
            {
                _i++;
                bool negate = Accept("not");
                var name = _t[_i++];
                var args = Peek() == "(" ? Args() : ([], []);
                var inner = node;
                node = s => JinjaBuiltins.Test(name, inner(s), args.Item1.Select(a => a(s)).ToList()) != negate;
            }
            else return node;
        }
    }

    (List<JinjaExpr>, Dictionary<string, JinjaExpr>) Args()
    {
        Expect("(");
        var pos = new List<JinjaExpr>();
        var named = new Dictionary<string, JinjaExpr>(StringComparer.Ordinal);
        while (!Accept(")"))
        {
            if (IsName(Peek()) && Peek(1) == "=") { var n = _t[_i]; _i += 2; named[n] = Conditional(); }
            else pos.Add(Conditional());
            if (!Accept(",")) { Expect(")"); break; }
        }
        return (pos, named);
    }

    JinjaExpr Postfix(JinjaExpr node)
    {
        while (true)
        {
            if (Accept("."))
            {
                var name = _t[_i++];
                var inner = node;
                if (Peek() == "(")
                {
                    var args = Args();
                    node = s => JinjaBuiltins.Method(inner(s), name, args.Item1.Select(a => a(s)).ToList());
                }
                else node = s => JinjaBuiltins.Attr(inner(s), name);
            }
            else if (Accept("["))
            {
                var inner = node;
                JinjaExpr? start = null, stop = null, step = null;
                bool slice = false;
                if (Peek() != ":") start = Conditional();
                if (Accept(":"))
                {
                    slice = true;
                    if (Peek() is not (":" or "]")) stop = Conditional();
                    if (Accept(":") && Peek() != "]") step = Conditional();
                }
                Expect("]");
                if (slice) node = s => JinjaBuiltins.Slice(inner(s), start?.Invoke(s), stop?.Invoke(s), step?.Invoke(s));
                else { var k = start!; node = s => JinjaBuiltins.Index(inner(s), k(s)); }
            }
            else if (Peek() == "(")
            {
                var inner = node;
                var args = Args();
                node = s => inner(s) is JinjaFunction f
                    ? f(args.Item1.Select(a => a(s)).ToList(), args.Item2.ToDictionary(kv => kv.Key, kv => kv.Value(s)))
                    : throw new JinjaException("called a value that is not a function");
            }
            else return node;
        }
    }

    JinjaExpr Primary()
    {
        var t = Peek() ?? throw new JinjaException("expression ends too early");
        _i++;
        if (IsString(t))
        {
            var sb = new StringBuilder(t[1..]);
            while (IsString(Peek())) sb.Append(_t[_i++][1..]); // adjacent literals concatenate
            var str = sb.ToString();
            return _ => str;
        }
        if (char.IsDigit(t[0]))
        {
            object num = t.Contains('.') ? double.Parse(t, CultureInfo.InvariantCulture) : (object)long.Parse(t, CultureInfo.InvariantCulture);
            return _ => num;
        }
        switch (t)
        {
            case "true" or "True": return _ => true;
            case "false" or "False": return _ => false;
            case "none" or "None": return _ => null;
            case "(":
            {
                var e = Conditional();
                if (Accept(","))
                {
                    var items = new List<JinjaExpr> { e };
                    while (!Accept(")")) { items.Add(Conditional()); if (!Accept(",")) { Expect(")"); break; } }
                    return s => items.Select(x => x(s)).ToList();
                }
                Expect(")");
                return e;
            }
            case "[":
            {
                var items = new List<JinjaExpr>();
                while (!Accept("]")) { items.Add(Conditional()); if (!Accept(",")) { Expect("]"); break; } }
                return s => items.Select(x => x(s)).ToList();
            }
            case "{":
            {
                var pairs = new List<(JinjaExpr, JinjaExpr)>();
                while (!Accept("}"))
                {
                    var k = Conditional(); Expect(":"); pairs.Add((k, Conditional()));
                    if (!Accept(",")) { Expect("}"); break; }
                }
                return s => new OrderedDictionary<string, object?>(pairs.Select(p => KeyValuePair.Create(Str(p.Item1(s)), p.Item2(s))));
            }
        }
        if (IsName(t)) return s => s.Get(t);
        throw new JinjaException($"unexpected \"{t}\" in expression");
    }
}

/// <summary>A callable template value (raise_exception, namespace, range, ...).</summary>
public delegate object? JinjaFunction(List<object?> args, Dictionary<string, object?> kwargs);
