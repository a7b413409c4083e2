using System.Globalization;
using System.Text;
using DiffusionLM.Analysis.Generation;
using DiffusionLM.Analysis.Quality;
using DiffusionLM.IO;
using ScottPlot;

namespace DiffusionLM.Cli.Reports;

/// <summary>The Markdown table and the figure of `dlm bench generation`.</summary>
public static class GenerationReport
{
    static string F(double x, string f = "F2") => QualityReport.F(x, f);
    static string Ci(Interval i, string f = "F2") => QualityReport.Ci(i, f);

    public static string Markdown(GenerationResult r)
    {
        var o = r.options;
        var baseline = r.cells[0];
        var sb = new StringBuilder();
        sb.AppendLine($"{o.GenLength}-token continuations of {r.openings} story openings by {r.model}, blocks of {o.BlockLength} (samplers without blocks decode the " +
            $"{o.GenLength} tokens as one), temperature {F(o.Temperature, "G")}; judge {r.judge}. Quality: {o.Samples} samples per cell generated {o.BatchSize} at a time " +
            $"(gen-PPL with 95% bootstrap interval, unigram entropy in nats). Speed: generated tokens only (samples × {o.GenLength}, the prompt excluded) per second of " +
            $"sampler calls, at batch {o.BatchSize} (the judged run) and at batch 1 (the first {o.TimingSamples} samples again, one at a time); {r.threads} torch thread(s). " +
            $"Speed-up: over the baseline ({baseline.sampler} {baseline.setting}, no cache) at the same batch size, in the same run. " +
            $"Equal quality (=): gen-PPL ≤ {F(baseline.quality.gen_ppl.high)} (the top of the baseline's interval) and entropy ≥ {F(baseline.quality.entropy.low, "F3")} (the bottom of its interval). " +
            $"Teacher's own continuations (floor): {Ci(r.teacher_floor.gen_ppl)}, entropy {Ci(r.teacher_floor.entropy, "F3")}.");
        sb.AppendLine();
        foreach (var b in r.best)
            sb.AppendLine($"- **Fastest at equal quality, batch {b.batch_size}: {b.label}, {F(b.speedup)}× the baseline ({F(b.tokens_per_second, "F0")} tokens/s).**");
        sb.AppendLine();
        sb.AppendLine($"| sampler | pace | cache | gen-PPL [95%] | entropy [95%] | = | NFE / sample | positions / sample | tokens/s (batch {o.BatchSize}) | speed-up | tokens/s (batch 1) | speed-up |");
        sb.AppendLine("|---|---|---|---:|---:|:-:|---:|---:|---:|---:|---:|---:|");
        foreach (var c in r.cells)
            sb.AppendLine($"| {c.sampler}{(c.blocks ? "" : " (one block)")} | {c.setting} | {c.cache} | {Ci(c.quality.gen_ppl)} | {Ci(c.quality.entropy, "F3")} | {(c.equal_quality ? "=" : "")} | " +
                $"{F(c.batched.nfe_per_sample, "F1")} | {F(c.batched.positions_per_sample, "F0")} | {F(c.batched.tokens_per_second, "F0")} | {F(c.speedup_batched)}× | " +
                (c.single is { } s ? $"{F(s.tokens_per_second, "F0")} | {F(c.speedup_single!.Value)}×" : "– | –") + " |");
        var cached = r.cells.Where(c => c.cache_drift is { steps: > 0 }).ToList();
        if (cached.Count > 0)
        {
            sb.AppendLine();
            sb.AppendLine($"Cache drift ({o.DriftSamples} samples per cached cell, every step also computed uncached): total variation between the cached and the uncached " +
                "predictions at the block's masked positions (0: identical, 1: disjoint), and the largest logit difference; by step within the block (step 0 is exact).");
            sb.AppendLine();
            sb.AppendLine("| sampler | pace | cache | mean TV | max TV | largest logit difference | mean TV by step in block (0, 1, 2, …) |");
            sb.AppendLine("|---|---|---|---:|---:|---:|---|");
            foreach (var c in cached)
            {
                var d = c.cache_drift!;
                sb.AppendLine($"| {c.sampler} | {c.setting} | {c.cache} | {F(d.mean_tv, "F4")} | {F(d.max_tv, "F4")} | {F(d.max_abs_logit, "F3")} | " +
                    string.Join(", ", d.by_step_in_block.Take(8).Select(v => F(v, "F4"))) + (d.by_step_in_block.Length > 8 ? ", …" : "") + " |");
            }
        }
        sb.AppendLine();
        sb.AppendLine($"CPU: {r.cpu}; seed {o.Seed}. NFE: forward calls a sample waited for (a batch runs until its last row is done). " +
            "Positions: those the denoiser recomputed per sample (rows × window per call), what a block cache lowers. " +
            "prefix and dual caches are approximations for a bidirectional model (keys/values outside the recomputed window are those of the block's first step).");
        return sb.ToString();
    }

    /// <summary>Judge gen-PPL against batched tokens/s, one series per sampler, marker shape per cache; the baseline's interval as a band.</summary>
    public static void Figure(GenerationResult r, string path)
    {
        var plt = new Plot();
        var colors = new[] { Colors.C0, Colors.C1, Colors.C2, Colors.C3, Colors.C4, Colors.C5, Colors.C6, Colors.C7, Colors.C8, Colors.C9 };
        var shapes = new Dictionary<string, MarkerShape> { ["none"] = MarkerShape.FilledCircle, ["prefix"] = MarkerShape.FilledSquare, ["dual"] = MarkerShape.FilledTriangleUp };
        var baseline = r.cells[0];
        var band = plt.Add.HorizontalSpan(Math.Log10(baseline.quality.gen_ppl.low), Math.Log10(baseline.quality.gen_ppl.high));
        band.FillColor = Colors.Gray.WithAlpha(0.2);
        band.LegendText = "baseline's 95% interval";
        int k = 0;
        foreach (var group in r.cells.GroupBy(c => c.sampler))
        {
            var color = colors[k++ % colors.Length];
            foreach (var byCache in group.GroupBy(c => c.cache))
            {
                double[] xs = byCache.Select(c => Math.Log10(c.batched.tokens_per_second)).ToArray();
                double[] ys = byCache.Select(c => Math.Log10(c.quality.gen_ppl.value)).ToArray();
                var points = plt.Add.ScatterPoints(xs, ys);
                points.Color = color;
                points.MarkerShape = shapes.GetValueOrDefault(byCache.Key, MarkerShape.FilledDiamond);
                points.MarkerSize = 9;
                points.LegendText = $"{group.Key}, cache {byCache.Key}";
            }
        }
        var all = r.cells.Select(c => c.quality.gen_ppl.value).Where(v => v > 0 && double.IsFinite(v)).ToArray();
        var speeds = r.cells.Select(c => c.batched.tokens_per_second).Where(v => v > 0 && double.IsFinite(v)).ToArray();
        LogTicks(plt.Axes.Left, all.Min(), all.Max());
        LogTicks(plt.Axes.Bottom, speeds.Min(), speeds.Max());
        plt.XLabel($"generated tokens/s at batch {r.options.BatchSize} (log scale)");
        plt.YLabel("judge gen-PPL (stories260K; log scale)");
        plt.Title($"Speed against quality: {r.options.GenLength} tokens, {r.options.Samples} samples per point");
        plt.ShowLegend(Alignment.UpperLeft);
        AtomicFile.WriteAllBytes(path, plt.GetImageBytes(1100, 700, ImageFormat.Png));
    }

    /// <summary>Ticks of a log10 axis labelled in the plotted quantity (1, 2, 5 per decade), limits a little beyond the data.</summary>
    static void LogTicks(IAxis axis, double min, double max)
    {
        double lo = Math.Log10(min) - 0.05, hi = Math.Log10(max) + 0.05;
        var ticks = new List<double>();
        for (double d = Math.Floor(lo); d <= hi; d++)
            foreach (var m in new[] { 1.0, 2.0, 5.0 }) { double t = Math.Log10(m) + d; if (t >= lo && t <= hi) ticks.Add(t); }
        axis.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks.ToArray(), ticks.Select(t => Math.Pow(10, t).ToString("G3", CultureInfo.InvariantCulture)).ToArray());
        axis.Min = lo; axis.Max = hi;
    }
}
