using System.Globalization;
using System.Text;
using DiffusionLM.IO;
using DiffusionLM.Teacher;
using ScottPlot;

namespace DiffusionLM.Cli.Reports;

/// <summary>The figure and the Markdown table of `dlm bench teacher`.</summary>
public static class TeacherBenchReport
{
    static string F(double x, string f = "F2") => double.IsFinite(x) ? x.ToString(f, CultureInfo.InvariantCulture) : "–";

    public static string Markdown(TeacherBenchResult r)
    {
        var o = r.options;
        var steps = o.Steps;
        var sb = new StringBuilder();
        sb.AppendLine($"| model | held-out perplexity | " + string.Join(" | ", steps.Select(s => $"gen ppl, {s} steps")) + $" | entropy, {steps[0]} steps |");
        sb.AppendLine("|---|---:|" + string.Concat(steps.Select(_ => "---:|")) + "---:|");
        var fl = r.teacher.floor;
        sb.AppendLine($"| teacher (stories260K, autoregressive) | {F(r.teacher.exact_ppl)} (exact) | " +
            string.Join(" | ", steps.Select(_ => $"{F(fl.gen_ppl)} (floor)")) + $" | {F(fl.entropy, "F3")} |");
        foreach (var m in r.models)
            sb.AppendLine($"| {m.name}: {m.init} | {F(m.elbo_ppl)} (ELBO bound) | " +
                string.Join(" | ", steps.Select(s => F(m.gen.First(g => g.steps == s).gen_ppl))) + $" | {F(m.gen.First(g => g.steps == steps[0]).entropy, "F3")} |");
        sb.AppendLine();
        sb.AppendLine($"Gen length {o.GenLength} from <s>, {o.Samples} samples per cell, temperature {F(o.Temperature, "G")}, LLaDA low-confidence remasking, one block; " +
            $"{o.TrainSteps} training steps of {o.BatchSize}×{o.SeqLen} tokens per denoiser (lr {F(o.ScratchLr, "G")} scratch, {F(o.FinetuneLr, "G")} fine-tune); " +
            $"ELBO: {o.ElboWindows} held-out windows × {o.McSamples} MC samples; corpus {r.corpus_stories} stories ({r.train_tokens} training, {r.heldout_tokens} held-out tokens); seed {o.Seed}.");
        return sb.ToString();
    }

    public static void Figure(TeacherBenchResult r, string path)
    {
        var plt = new Plot();
        var steps = r.options.Steps.OrderBy(s => s).ToArray();
        double[] xs = steps.Select(s => Math.Log2(s)).ToArray();
        var colors = new[] { Colors.C0, Colors.C1, Colors.C2, Colors.C3 };
        int i = 0;
        // Perplexities span orders of magnitude: plotted as log10, labelled in perplexity.
        foreach (var m in r.models)
        {
            double[] ys = steps.Select(s => Math.Log10(m.gen.First(g => g.steps == s).gen_ppl)).ToArray();
            var line = plt.Add.Scatter(xs, ys);
            line.LegendText = $"{m.name} (held-out ELBO ppl {F(m.elbo_ppl)})";
            line.Color = colors[i++ % colors.Length];
            line.LineWidth = 2;
            line.MarkerSize = 7;
        }
        var floor = plt.Add.HorizontalLine(Math.Log10(r.teacher.floor.gen_ppl));
        floor.LinePattern = LinePattern.Dashed;
        floor.Color = Colors.Black;
        floor.LineWidth = 1.5f;
        floor.LegendText = $"teacher's own samples: floor {F(r.teacher.floor.gen_ppl)} (teacher exact held-out ppl {F(r.teacher.exact_ppl)})";
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(xs, steps.Select(s => s.ToString(CultureInfo.InvariantCulture)).ToArray());
        plt.Axes.SetLimitsX(xs.First() - 0.3, xs.Last() + 0.3);
        var all = r.models.SelectMany(m => m.gen).Select(g => g.gen_ppl).Append(r.teacher.floor.gen_ppl).Where(v => double.IsFinite(v) && v > 0).ToArray();
        double lo = Math.Floor(Math.Log10(all.Min())), hi = Math.Ceiling(Math.Log10(all.Max()) + 0.05);
        var ticks = new List<double>();
        for (double d = lo; d <= hi; d++) foreach (var k in new[] { 1.0, 2.0, 5.0 }) { double t = Math.Log10(k) + d; if (t >= lo && t <= hi) ticks.Add(t); }
        plt.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray(),
            ticks.Select(t => Math.Pow(10, t)).Select(v => v.ToString(v >= 1000 ? "N0" : "G3", CultureInfo.InvariantCulture)).ToArray());
        plt.Axes.SetLimitsY(lo, hi);
        plt.XLabel($"sampling steps for {r.options.GenLength} tokens (LLaDA low-confidence)");
        plt.YLabel("gen perplexity under the teacher (log scale)");
        plt.Title("Price of parallel decoding: stories260K as teacher and judge");
        plt.ShowLegend(Alignment.UpperRight);
        AtomicFile.WriteAllBytes(path, plt.GetImageBytes(900, 560, ImageFormat.Png));
    }
}
