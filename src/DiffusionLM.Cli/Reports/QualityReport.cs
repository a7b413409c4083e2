using System.Globalization;
using System.Text;
using DiffusionLM.Analysis.Quality;
using DiffusionLM.IO;
using ScottPlot;

namespace DiffusionLM.Cli.Reports;

/// <summary>The Markdown table and the figure of `dlm bench quality`.</summary>
public static class QualityReport
{
    internal static string F(double x, string f = "F2") => double.IsFinite(x) ? x.ToString(f, CultureInfo.InvariantCulture) : "–";
    internal static string Ci(Interval i, string f = "F2") => $"{F(i.value, f)} [{F(i.low, f)}, {F(i.high, f)}]";

    public static string Markdown(QualityResult r)
    {
        var o = r.options;
        var sb = new StringBuilder();
        var floor = r.teacher_floor;
        sb.AppendLine($"Judge gen-PPL of {o.GenLength}-token continuations of {r.openings} story openings ({o.Samples} samples per cell, 95% bootstrap interval), " +
            $"LLaDA's sampler in {BlockWords(o)} at temperature {F(o.Temperature, "G")}; teacher's floor {Ci(floor.gen_ppl)}, its entropy {Ci(floor.entropy, "F3")} nats.");
        sb.AppendLine();
        sb.AppendLine("| model | sampler | " + string.Join(" | ", o.Steps.Select(s => $"{s} steps")) + " |");
        sb.AppendLine("|---|---|" + string.Concat(o.Steps.Select(_ => "---:|")));
        sb.AppendLine($"| teacher (stories260K, autoregressive) | floor | " + string.Join(" | ", o.Steps.Select(_ => Ci(floor.gen_ppl))) + " |");
        foreach (var m in r.models)
            foreach (var remask in o.Remaskings)
                sb.AppendLine($"| {m.name} | {remask} | " + string.Join(" | ", o.Steps.Select(s => Cell(m, remask, s) is { } c ? Ci(c.gen_ppl) : "–")) + " |");
        sb.AppendLine();
        sb.AppendLine("Unigram entropy of a continuation's tokens (nats, mean with 95% interval; the teacher's floor " + F(floor.entropy.value, "F3") + "):");
        sb.AppendLine();
        sb.AppendLine("| model | sampler | " + string.Join(" | ", o.Steps.Select(s => $"{s} steps")) + " |");
        sb.AppendLine("|---|---|" + string.Concat(o.Steps.Select(_ => "---:|")));
        foreach (var m in r.models)
            foreach (var remask in o.Remaskings)
                sb.AppendLine($"| {m.name} | {remask} | " + string.Join(" | ", o.Steps.Select(s => Cell(m, remask, s) is { } c ? Ci(c.entropy, "F3") : "–")) + " |");
        sb.AppendLine();
        var t = r.teacher_held_out;
        if (t is null)
            sb.AppendLine("Held-out likelihood: skipped (--elbo-stories 0).");
        else
        {
            sb.AppendLine("Held-out likelihood (whole held-out teacher stories, the last 5% of the corpus; models: ELBO bound; teacher: exact):");
            sb.AppendLine();
            sb.AppendLine("| model | parameters | tokenizer | nats/token | nats/char |");
            sb.AppendLine("|---|---:|---|---:|---:|");
            sb.AppendLine($"| teacher (exact) | 260,032 | judge's | {F(t.nll_per_token, "F3")} | {F(t.nll_per_char, "F4")} |");
            foreach (var m in r.models)
                sb.AppendLine($"| {m.name} | {m.parameters:N0} | {(m.judge_tokenizer ? "judge's (ids scored as written)" : "own (text re-tokenized by the judge)")} | " +
                    (m.held_out is { } h ? $"{F(h.nll_per_token, "F3")} ± {F(1.96 * h.standard_error, "F4")} | {F(h.nll_per_char, "F4")}" : "– | –") + " |");
        }
        sb.AppendLine();
        sb.AppendLine($"CPU: {r.cpu}, {r.threads} torch threads; seed {o.Seed}. Continuations are cut at their first end of story (<s> or eos) and scored given <s> + the opening.");
        return sb.ToString();
    }

    static QualityCell? Cell(QualityModel m, string sampler, int steps) => m.cells.FirstOrDefault(c => c.sampler == sampler && c.steps == steps);

    public static void Figure(QualityResult r, string path)
    {
        var plt = new Plot();
        var steps = r.options.Steps.OrderBy(s => s).ToArray();
        double[] xs = steps.Select(s => Math.Log2(s)).ToArray();
        var colors = new[] { Colors.C0, Colors.C1, Colors.C2, Colors.C3, Colors.C4, Colors.C5 };
        int k = 0;
        // Perplexities span orders of magnitude: plotted as log10, labelled in perplexity.
        foreach (var m in r.models)
            foreach (var remask in r.options.Remaskings)
            {
                var cells = steps.Select(s => Cell(m, remask, s)).ToArray();
                if (cells.Any(c => c is null)) continue;
                double[] ys = cells.Select(c => Math.Log10(c!.gen_ppl.value)).ToArray();
                var color = colors[k++ % colors.Length];
                var line = plt.Add.Scatter(xs, ys);
                line.LegendText = $"{m.name}, {remask}";
                line.Color = color;
                line.LineWidth = 2;
                line.MarkerSize = 7;
                if (remask != r.options.Remaskings[0]) line.LinePattern = LinePattern.Dotted;
                // The 95% interval of each point as a vertical segment.
                for (int i = 0; i < xs.Length; i++)
                {
                    var (low, high) = (cells[i]!.gen_ppl.low, cells[i]!.gen_ppl.high);
                    if (!(low > 0 && high > 0)) continue;
                    var bar = plt.Add.Line(xs[i], Math.Log10(low), xs[i], Math.Log10(high));
                    bar.Color = color;
                    bar.LineWidth = 1.5f;
                    bar.MarkerSize = 0;
                }
            }
        double floorValue = r.teacher_floor.gen_ppl.value;
        var floor = plt.Add.HorizontalLine(Math.Log10(floorValue));
        floor.LinePattern = LinePattern.Dashed;
        floor.Color = Colors.Black;
        floor.LegendText = $"teacher's own continuations: floor {F(floorValue)}";
        var target = plt.Add.HorizontalLine(Math.Log10(2 * floorValue));
        target.LinePattern = LinePattern.Dotted;
        target.Color = Colors.Gray;
        target.LegendText = $"2 × floor ({F(2 * floorValue)})";
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(xs, steps.Select(s => s.ToString(CultureInfo.InvariantCulture)).ToArray());
        plt.Axes.SetLimitsX(xs.First() - 0.3, xs.Last() + 0.3);
        var all = r.models.SelectMany(m => m.cells).SelectMany(c => new[] { c.gen_ppl.low, c.gen_ppl.high }).Append(floorValue).Where(v => double.IsFinite(v) && v > 0).ToArray();
        double lo = Math.Floor(Math.Log10(all.Min()) * 4) / 4, hi = Math.Ceiling(Math.Log10(all.Max()) * 4) / 4 + 0.05;
        var ticks = new List<double>();
        for (double d = Math.Floor(lo); d <= hi; d++)
            foreach (var m in new[] { 1.0, 2.0, 3.0, 5.0, 7.0 }) { double t = Math.Log10(m) + d; if (t >= lo && t <= hi) ticks.Add(t); }
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray(),
            ticks.Select(t => Math.Pow(10, t).ToString("G3", CultureInfo.InvariantCulture)).ToArray());
        plt.Axes.SetLimitsY(lo, hi);
        plt.XLabel($"sampling steps for {r.options.GenLength} tokens after a story opening (LLaDA's sampler, {BlockWords(r.options)})");
        plt.YLabel("judge gen-PPL (stories260K; log scale)");
        plt.Title($"Quality against steps: {r.options.Samples} samples per point, 95% intervals");
        plt.ShowLegend(Alignment.LowerLeft);
        AtomicFile.WriteAllBytes(path, plt.GetImageBytes(960, 600, ImageFormat.Png));
    }

    static string BlockWords(QualityOptions o) => o.Block == o.GenLength ? "one block" : $"blocks of {o.Block}";
}
