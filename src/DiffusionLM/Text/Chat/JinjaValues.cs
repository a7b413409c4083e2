using System.Globalization;
using System.Text;

namespace DiffusionLM.Text.Chat;

/// <summary>Jinja's "undefined": falsy, renders as nothing, iterates as empty.</summary>
public sealed class Undefined
{
    public static readonly Undefined Value = new();
    Undefined() { }
    public override string ToString() => "";
}

/// <summary>
/// Python/Jinja value semantics over plain .NET values: null (None), <see cref="Undefined"/>, bool,
/// long, double, string, List&lt;object?&gt; and OrderedDictionary&lt;string, object?&gt; (dicts and
/// namespaces). Rendering, truthiness, equality and JSON follow Python's (json.dumps with
/// ensure_ascii=False, as transformers' tojson filter).
/// </summary>
public static class JinjaValues
{
    public static bool Truthy(object? v) => v switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        System.Collections.ICollection c => c.Count > 0,
        _ => true,
    };

    public static string Str(object? v) => v switch
    {
        null => "None",
        Undefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => PyFloat(d),
        string s => s,
        _ => Repr(v),
    };

    public static string Repr(object? v) => v switch
    {
        string s => "'" + s.Replace("\\", "\\\\").Replace("'", "\\'").Replace("\n", "\\n") + "'",
        List<object?> l => "[" + string.Join(", ", l.Select(Repr)) + "]",
        OrderedDictionary<string, object?> d => "{" + string.Join(", ", d.Select(kv => Repr(kv.Key) + ": " + Repr(kv.Value))) + "}",
        _ => Str(v),
    };

    static string PyFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        var s = d.ToString("R", CultureInfo.InvariantCulture);
        return s.Contains('.') || s.Contains('E') ? s : s + ".0";
    }

    public static new bool Equals(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (a is null || b is null) return a is null && b is null;
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a) == ToDouble(b);
        if (a is string sa && b is string sb) return sa == sb;
        if (a is List<object?> la && b is List<object?> lb) return la.Count == lb.Count && la.Zip(lb).All(p => Equals(p.First, p.Second));
        return ReferenceEquals(a, b) || a.Equals(b);
    }

    public static bool IsNumber(object? v) => v is long or double or bool;
    public static double ToDouble(object? v) => v switch { long l => l, double d => d, bool b => b ? 1 : 0, _ => throw new JinjaException($"{Repr(v)} is not a number") };

    /// <summary>Python's json.dumps(v, ensure_ascii=False, indent=indent): ", " and ": " separators, keys in order.</summary>
    public static string ToJson(object? v, int? indent = null)
    {
        var sb = new StringBuilder();
        Write(v, 0);
        return sb.ToString();

        void NewLine(int level) { if (indent is int n) { sb.Append('\n'); sb.Append(' ', n * level); } }
        void Write(object? x, int level)
        {
            switch (x)
            {
                case null or Undefined: sb.Append("null"); break;
                case bool b: sb.Append(b ? "true" : "false"); break;
                case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
                case double d: sb.Append(double.IsFinite(d) ? PyFloat(d) : d > 0 ? "Infinity" : d < 0 ? "-Infinity" : "NaN"); break;
                case string s: WriteString(s); break;
                case List<object?> list:
                    if (list.Count == 0) { sb.Append("[]"); break; }
                    sb.Append('[');
                    for (int i = 0; i < list.Count; i++)
                    {
                        if (i > 0) sb.Append(indent is null ? ", " : ",");
                        NewLine(level + 1); Write(list[i], level + 1);
                    }
                    NewLine(level); sb.Append(']'); break;
                case OrderedDictionary<string, object?> dict:
                    if (dict.Count == 0) { sb.Append("{}"); break; }
                    sb.Append('{');
                    int k = 0;
                    foreach (var (key, val) in dict)
                    {
                        if (k++ > 0) sb.Append(indent is null ? ", " : ",");
                        NewLine(level + 1); WriteString(key); sb.Append(": "); Write(val, level + 1);
                    }
                    NewLine(level); sb.Append('}'); break;
                default: WriteString(Str(x)); break;
            }
        }
        void WriteString(string s)
        {
            sb.Append('"');
            foreach (var c in s)
                switch (c)
                {
                    case '"': sb.Append("\\\""); break;
                    case '\\': sb.Append("\\\\"); break;
                    case '\n': sb.Append("\\n"); break;
                    case '\r': sb.Append("\\r"); break;
                    case '\t': sb.Append("\\t"); break;
                    case '\b': sb.Append("\\b"); break;
                    case '\f': sb.Append("\\f"); break;
                    default:
                        if (c < 0x20) sb.Append("\\u").Append(((int)c).ToString("x4")); else sb.Append(c);
                        break;
                }
            sb.Append('"');
        }
    }

    /// <summary>Converts parsed JSON / .NET objects into template values.</summary>
    public static object? From(object? v) => v switch
    {
        null => null,
        string or bool or long or double or Undefined => v,
        int i => (long)i,
        float f => (double)f,
        OrderedDictionary<string, object?> => v,
        IDictionary<string, object?> d => new OrderedDictionary<string, object?>(d.Select(kv => KeyValuePair.Create(kv.Key, From(kv.Value)))),
        IDictionary<string, string> d => new OrderedDictionary<string, object?>(d.Select(kv => KeyValuePair.Create(kv.Key, (object?)kv.Value))),
        System.Collections.IEnumerable e => e.Cast<object?>().Select(From).ToList(),
        _ => v,
    };
}

/// <summary>An error while parsing or rendering a chat template.</summary>
public sealed class JinjaException(string message) : Exception(message);
