using System.Globalization;
using System.Text;
using DiffusionLM.Analysis.Probe;

namespace DiffusionLM.Reporting;

/// <summary>
/// The probe's numbers by distance band (position 1, 2-9, 10-30, 31-99, 100+): means over prompts and
/// positions of the band, and the most common top-1 tokens there. What the README quotes.
/// </summary>
public sealed record ProbeBand(string Name, int First, int Last, double Entropy, double? KlUnigram, double? KlUnigramNoEos,
    double PromptInformation, double MutualInformation, double StructuralShare, double ContentMass, double EosMass, IReadOnlyList<(string Token, double Share)> Top1)
{
    static readonly (int First, int Last)[] Bands = [(1, 1), (2, 9), (10, 30), (31, 99), (100, int.MaxValue)];

    public static IReadOnlyList<ProbeBand> Of(ProbeResult r)
    {
        int n = r.Options.Masks;
        var bands = new List<ProbeBand>();
        foreach (var (first, lastWanted) in Bands)
        {
            if (first > n) break;
            int last = Math.Min(lastWanted, n);
            var idx = Enumerable.Range(first - 1, last - first + 1).ToArray();
            double Avg(Func<PromptProbe, double[]?> pick) =>
                r.Prompts.SelectMany(p => idx.Select(i => pick(p)![i])).Where(double.IsFinite).DefaultIfEmpty(double.NaN).Average();
            var top1 = r.Prompts.SelectMany(p => idx.Select(i => p.Top[i][0].Text)).GroupBy(t => t)
                .Select(g => (Token: g.Key, Share: g.Count() / (double)(r.Prompts.Count * idx.Length)))
                .OrderByDescending(t => t.Share).ThenBy(t => t.Token, StringComparer.Ordinal).Take(5).ToArray();
            bands.Add(new ProbeBand(first == last ? $"{first}" : lastWanted == int.MaxValue ? $"{first}+" : $"{first}-{last}", first, last,
                Avg(p => p.Entropy), r.HasUnigram ? Avg(p => p.KlUnigram) : null, r.HasUnigram ? Avg(p => p.KlUnigramNoEos) : null,
                Avg(p => p.PromptInformation), idx.Select(i => r.Aggregate.MutualInformation[i]).Average(),
                r.Prompts.SelectMany(p => idx.Select(i => p.Top1Structural[i])).Count(b => b) / (double)(r.Prompts.Count * idx.Length),
                Avg(p => p.ContentMass), Avg(p => p.EosMass), top1));
            if (last == n) break;
        }
        return bands;
    }

    /// <summary>A Markdown table of the bands.</summary>
    public static string Markdown(IReadOnlyList<ProbeBand> bands)
    {
        static string F(double? v) => v is { } x && double.IsFinite(x) ? x.ToString("0.00", CultureInfo.InvariantCulture) : "–";
        var sb = new StringBuilder();
        sb.AppendLine("| positions | entropy (nats) | KL(p‖unigram) | KL without eos | prompt information (vs masks only) | I(x_i; prompt) | structural top-1 | content mass | eos mass | most common top-1 |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var b in bands)
        {
            var tops = string.Join(", ", b.Top1.Take(4).Select(t => $"`{TokenDisplay.Visible(t.Token, 16).Replace("|", "\\|")}` {t.Share:0%}"));
            sb.AppendLine($"| {b.Name} | {F(b.Entropy)} | {F(b.KlUnigram)} | {F(b.KlUnigramNoEos)} | {F(b.PromptInformation)} | {F(b.MutualInformation)} | {b.StructuralShare:0%} | {F(b.ContentMass)} | {F(b.EosMass)} | {tops} |");
        }
        return sb.ToString();
    }
}
