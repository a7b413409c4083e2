using static DiffusionLM.Text.Chat.JinjaValues;

namespace DiffusionLM.Text.Chat;

/// <summary>The filters, tests, attribute/index rules and string/dict methods chat templates use.</summary>
public static class JinjaBuiltins
{
    public static object? Filter(string name, object? v, List<object?> args, Dictionary<string, object?> kw)
    {
        object? Arg(int i, string key, object? fallback) => i < args.Count ? args[i] : kw.TryGetValue(key, out var x) ? x : fallback;
        switch (name)
        {
            case "trim": return Str(v).Trim(WhiteSpace);
            case "length" or "count": return v switch
            {
                string s => (long)s.Length, System.Collections.ICollection c => (long)c.Count, Undefined => 0L,
                _ => throw new JinjaException($"length of {Repr(v)}"),
            };
            case "tojson": return ToJson(v, Arg(0, "indent", null) is long n ? (int)n : null);
            case "upper": return Str(v).ToUpperInvariant();
            case "lower": return Str(v).ToLowerInvariant();
            case "string": return Str(v);
            case "safe": return v;
            case "capitalize": { var s = Str(v); return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant(); }
            case "first": return Items(v).FirstOrDefault(Undefined.Value);
            case "last": { var l = Items(v).ToList(); return l.Count == 0 ? Undefined.Value : l[^1]; }
            case "join": return string.Join(Str(Arg(0, "d", "")), Items(v).Select(Str));
            case "default" or "d":
            {
                bool boolean = Truthy(Arg(1, "boolean", false));
                return v is Undefined || boolean && !Truthy(v) ? Arg(0, "default_value", "") : v;
            }
            case "list": return Items(v).ToList();
            case "reverse": return v is string rs ? new string(rs.Reverse().ToArray()) : Items(v).Reverse().ToList();
            case "items": return v is OrderedDictionary<string, object?> d
                ? d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList()
                : throw new JinjaException("items of a non-mapping");
            case "int": return v switch { long l => l, double dv => (long)dv, string s when long.TryParse(s, out var p) => p, _ => 0L };
            case "float": return v switch { long l => (double)l, double dv => dv, string s when double.TryParse(s, System.Globalization.CultureInfo.InvariantCulture, out var p) => p, _ => 0.0 };
            case "replace": return Str(v).Replace(Str(args[0]), Str(args[1]));
            case "title": return System.Globalization.CultureInfo.InvariantCulture.TextInfo.ToTitleCase(Str(v).ToLowerInvariant());
            default: throw new JinjaException($"unsupported filter \"{name}\"");
        }
    }

    /// <summary>Python's str.strip() whitespace (Jinja's trim uses it).</summary>
    static readonly char[] WhiteSpace = [' ', '\t', '\n', '\r', '\v', '\f', '\u001c', '\u001d', '\u001e', '\u001f', '\u0085', '\u00a0', '\u1680',
        '\u2000', '\u2001', '\u2002', '\u2003', '\u2004', '\u2005', '\u2006', '\u2007', '\u2008', '\u2009', '\u200a', '\u2028', '\u2029', '\u202f', '\u205f', '\u3000'];

    public static bool Test(string name, object? v, List<object?> args) => name switch
    {
        "defined" => v is not Undefined,
        "undefined" => v is Undefined,
        "none" => v is null,
        "string" => v is string,
        "number" => v is long or double,
        "integer" => v is long,
        "float" => v is double,
        "boolean" => v is bool,
        "true" => v is true,
        "false" => v is false,
        "mapping" => v is OrderedDictionary<string, object?>,
        "sequence" or "iterable" => v is List<object?> or string or OrderedDictionary<string, object?>,
        "odd" => v is long o && o % 2 != 0,
        "even" => v is long e && e % 2 == 0,
        "eq" or "equalto" or "==" => JinjaValues.Equals(v, args[0]),
        "ne" or "!=" => !JinjaValues.Equals(v, args[0]),
        "in" => args[0] is List<object?> l && l.Any(x => JinjaValues.Equals(x, v)) || args[0] is string s && v is string sub && s.Contains(sub),
        _ => throw new JinjaException($"unsupported test \"{name}\""),
    };

    public static IEnumerable<object?> Items(object? v) => v switch
    {
        List<object?> l => l,
        string s => s.Select(c => (object?)c.ToString()),
        OrderedDictionary<string, object?> d => d.Keys,
        Undefined or null => [],
        _ => throw new JinjaException($"{Repr(v)} is not iterable"),
    };

    public static object? Attr(object? v, string name) => v switch
    {
        OrderedDictionary<string, object?> d => d.TryGetValue(name, out var x) ? x : Undefined.Value,
        Undefined => throw new JinjaException($"attribute \"{name}\" of an undefined value"),
        _ => Undefined.Value,
    };

    public static object? Index(object? v, object? key) => v switch
    {
        OrderedDictionary<string, object?> d => key is string k && d.TryGetValue(k, out var x) ? x : Undefined.Value,
        List<object?> l when key is long i => (i < 0 ? i + l.Count : i) is var j && j >= 0 && j < l.Count ? l[(int)j] : Undefined.Value,
        string s when key is long i => (i < 0 ? i + s.Length : i) is var j && j >= 0 && j < s.Length ? s[(int)j].ToString() : Undefined.Value,
        Undefined => throw new JinjaException($"index {Repr(key)} of an undefined value"),
        _ => Undefined.Value,
    };

    public static object? Slice(object? v, object? start, object? stop, object? step)
    {
        var items = v is string s ? s.Select(c => (object?)c.ToString()).ToList() : Items(v).ToList();
        int n = items.Count, st = step is long k ? (int)k : 1;
        if (st == 0) throw new JinjaException("slice step cannot be zero");
        int Norm(object? x, int fallback) => x is long i ? (int)(i < 0 ? Math.Max(i + n, st > 0 ? 0 : -1) : Math.Min(i, st > 0 ? n : n - 1)) : fallback;
        int a = Norm(start, st > 0 ? 0 : n - 1), b = Norm(stop, st > 0 ? n : -1);
        var result = new List<object?>();
        for (int i = a; st > 0 ? i < b : i > b; i += st) result.Add(items[i]);
        return v is string ? string.Concat(result.Select(Str)) : result;
    }

    public static object? Method(object? v, string name, List<object?> args)
    {
        switch (v)
        {
            case string s:
                string? chars = args.Count > 0 && args[0] is string c ? c : null;
                return name switch
                {
                    "strip" => chars is null ? s.Trim(WhiteSpace) : s.Trim(chars.ToCharArray()),
                    "lstrip" => chars is null ? s.TrimStart(WhiteSpace) : s.TrimStart(chars.ToCharArray()),
                    "rstrip" => chars is null ? s.TrimEnd(WhiteSpace) : s.TrimEnd(chars.ToCharArray()),
                    "upper" => s.ToUpperInvariant(),
                    "lower" => s.ToLowerInvariant(),
                    "startswith" => s.StartsWith(Str(args[0]), StringComparison.Ordinal),
                    "endswith" => s.EndsWith(Str(args[0]), StringComparison.Ordinal),
                    "replace" => s.Replace(Str(args[0]), Str(args[1])),
                    "split" => (chars is null ? s.Split(WhiteSpace, StringSplitOptions.RemoveEmptyEntries) : s.Split(chars)).Select(x => (object?)x).ToList(),
                    _ => throw new JinjaException($"unsupported string method \"{name}\""),
                };
            case OrderedDictionary<string, object?> d:
                return name switch
                {
                    "get" => args.Count > 0 && args[0] is string k && d.TryGetValue(k, out var x) ? x : args.Count > 1 ? args[1] : null,
                    "items" => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
                    "keys" => d.Keys.Select(k => (object?)k).ToList(),
                    "values" => d.Values.ToList(),
                    _ => throw new JinjaException($"unsupported mapping method \"{name}\""),
                };
            default: throw new JinjaException($"unsupported method \"{name}\" on {Repr(v)}");
        }
    }

    /// <summary>The globals transformers gives chat templates (raise_exception) and Jinja's own (namespace, range, dict).</summary>
    public static void AddGlobals(JinjaScope scope)
    {
        scope.Set("raise_exception", (JinjaFunction)((a, _) => throw new JinjaException("chat template raised: " + Str(a.FirstOrDefault()))));
        scope.Set("namespace", (JinjaFunction)((_, kw) => new OrderedDictionary<string, object?>(kw)));
        scope.Set("dict", (JinjaFunction)((_, kw) => new OrderedDictionary<string, object?>(kw)));
        scope.Set("range", (JinjaFunction)((a, _) =>
        {
            if (a.Count is < 1 or > 3 || a.Any(x => x is not long)) throw new JinjaException("range() takes 1 to 3 integers");
            long start = a.Count > 1 ? (long)a[0]! : 0, stop = a.Count > 1 ? (long)a[1]! : (long)a[0]!, step = a.Count > 2 ? (long)a[2]! : 1;
            if (step == 0) throw new JinjaException("range() step must not be zero");
            JinjaLimits.Iterate(Math.Max(0, step > 0 ? (stop - start + step - 1) / step : (start - stop - step - 1) / -step));
            var r = new List<object?>();
            for (long i = start; step > 0 ? i < stop : i > stop; i += step) r.Add(i);
            return r;
        }));
    }
}
