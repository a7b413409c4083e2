using System.Text;

namespace DiffusionLM.Sampling;

/// <summary>
/// Help text generated from the registry, so that a default is printed from the options record that applies it:
/// the description of each sampler option of <c>dlm generate</c> (which samplers take it, with their defaults) and
/// the per-sampler listing of <c>dlm samplers</c>.
/// </summary>
public static class SamplerHelp
{
    /// <summary>The default of an option on an entry: its value in the entry's basis, as help prints it.</summary>
    public static string Default(SamplerRegistry.Entry entry, SamplerOption option) => SamplerOption.Format(option.ValueIn(entry.Basis));

    /// <summary>Every sampler's own option flag, in registry order (first use).</summary>
    public static IReadOnlyList<string> OwnFlags() =>
        SamplerRegistry.All.SelectMany(e => e.OwnOptions).Select(o => o.Flag).Distinct().ToList();

    /// <summary>
    /// The description of one sampler option for <c>dlm generate --help</c>: what it does (the first sampler's line),
    /// then the samplers that take it grouped by default, e.g. "(default 0.9: fast_dllm_threshold, dependency_aware)".
    /// A generic entry and the variants it stands for are named once, as "dream (and variants)" (just "llada" where
    /// its variants fix the option).
    /// </summary>
    public static string Describe(string flag)
    {
        var takers = SamplerRegistry.All.Select(e => (Entry: e, Option: e.OwnOptions.FirstOrDefault(o => o.Flag == flag)))
            .Where(t => t.Option is not null).ToList();
        if (takers.Count == 0) throw new InvalidOperationException($"no registered sampler takes {flag}");
        var first = takers[0].Option!;
        var groups = takers.GroupBy(t => Default(t.Entry, t.Option!)).Select(g =>
        {
            var names = new List<string>();
            foreach (var (e, _) in g)
            {
                var generic = g.FirstOrDefault(t => t.Entry.Generic && t.Entry.Basis.GetType() == e.Basis.GetType()).Entry;
                if (generic is null) names.Add(e.Name);
                else if (ReferenceEquals(generic, e))
                    names.Add(g.Count(t => t.Entry.Basis.GetType() == e.Basis.GetType()) > 1 ? e.Name + " (and variants)" : e.Name);
            }
            return $"{g.Key}: {string.Join(", ", names)}";
        });
        string choices = first.Choices is { } c ? $" [{string.Join(" | ", c)}]" : "";
        return $"{first.Help}{choices} (default {string.Join("; ", groups)})";
    }

    /// <summary>The listing of <c>dlm samplers</c>: every sampler, its family and abilities, its own options with defaults.</summary>
    public static string Listing()
    {
        var sb = new StringBuilder();
        foreach (var e in SamplerRegistry.All) sb.Append(Entry(e));
        return sb.ToString();
    }

    /// <summary>One sampler's block of <see cref="Listing"/>.</summary>
    public static string Entry(SamplerRegistry.Entry e)
    {
        var sb = new StringBuilder();
        var traits = new List<string> { e.Family };
        if (e.Blocks) traits.Add("--block-length");
        if (e.Cacheable) traits.Add("--cache");
        if (e.Remasks) traits.Add("remasks");
        if (e.Draws) traits.Add("random at temperature 0");
        sb.AppendLine($"{e.Name} [{string.Join(", ", traits)}]: {e.Description}");
        foreach (var o in e.OwnOptions)
        {
            string choices = o.Choices is { } c ? $" {string.Join("|", c)}" : "";
            sb.AppendLine($"    {o.Flag}{choices}: {o.Help} (default {Default(e, o)})");
        }
        return sb.ToString();
    }
}
