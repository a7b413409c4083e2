using DiffusionLM.Models;
using System.Globalization;
using System.Text;
using DiffusionLM.CorruptionBench;
using DiffusionLM.IO;
using ScottPlot;

namespace DiffusionLM.Cli.Reports;

/// <summary>The Markdown tables and figures of `dlm bench corruption`.</summary>
public static class CorruptionBenchReport
{
    static string F(double x, string f = "F3") => double.IsFinite(x) ? x.ToString(f, CultureInfo.InvariantCulture) : "–";
    static string Pm(Estimate? e, string f = "F3") => e is null ? "–" : $"{F(e.mean, f)} ± {F(e.se, f)}";
    static string Ci(Estimate e, string f = "F3") => $"{F(e.mean, f)} [{F(e.low, f)}, {F(e.high, f)}]";

    public static string Markdown(CorruptionBenchResult r)
    {
        var sb = new StringBuilder();
        foreach (var bed in r.testbeds)
        {
            var steps = bed.runs[0].gen.Select(g => g.steps).ToArray();
            sb.AppendLine($"### {bed.name}: {bed.description}");
            sb.AppendLine();
            sb.AppendLine($"{bed.train_steps} steps × batch {bed.batch_size} × {bed.seq_len} tokens per model ({bed.parameters:N0} parameters)" +
                (bed.exact_nll is { } nll ? $"; exact NLL of the held-out rows {F(nll, "F4")} nats/token." : "."));
            sb.AppendLine();
            sb.AppendLine("| corruption | loss is a bound | uniform bound ± SE | own bound ± SE | best bound − uniform's (paired, 95%) | steps to uniform's final bound | Bayes-optimal bound ± SE |");
            sb.AppendLine("|---|---|---:|---:|---:|---:|---:|");
            foreach (var run in bed.runs)
                sb.AppendLine($"| {run.corruption} | {(run.claims_bound ? "yes" : "no")} | {Pm(run.uniform_bound, "F4")} | {Pm(run.own_bound, "F4")} | " +
                    $"{(run.corruption == MaskedCorruption.Uniform.Spelling ? "0" : Ci(run.best_bound_vs_uniform, "F4"))} | {run.steps_to_uniform_final?.ToString(CultureInfo.InvariantCulture) ?? "not reached"} | {Pm(run.bayes_bound, "F4")} |");
            sb.AppendLine();
            sb.AppendLine("| corruption | " + string.Join(" | ", steps.Select(s => $"gen ppl, {s} steps [95%]")) + " | " + string.Join(" | ", steps.Select(s => $"entropy, {s} steps")) + " |");
            sb.AppendLine("|---|" + string.Concat(steps.Select(_ => "---:|")) + string.Concat(steps.Select(_ => "---:|")));
            void GenRow(string label, List<GenCell> gen) =>
                sb.AppendLine($"| {label} | " + string.Join(" | ", gen.Select(g => $"{F(g.gen_ppl, "F2")} [{F(g.ppl_low, "F2")}, {F(g.ppl_high, "F2")}]")) +
                    " | " + string.Join(" | ", gen.Select(g => Pm(g.entropy))) + " |");
            foreach (var run in bed.runs)
            {
                GenRow(run.corruption, run.gen);
                if (run.gen_raw_posterior is { } raw) GenRow($"{run.corruption} (raw posterior)", raw);
            }
            sb.AppendLine();
            sb.AppendLine($"Samples: {bed.runs[0].gen[0].samples} per cell, temperature 1, LLaDA low-confidence remasking, one block. Bounds in nats/token over " +
                $"{bed.runs[0].uniform_bound.n} held-out rows × {r.options.Mc} Monte-Carlo draws; the uniform bound (masked ELBO, linear schedule) is valid for every model; " +
                "\"best\" is the own bound where the loss is one, else the uniform bound." +
                (bed.runs.Any(x => x.gen_raw_posterior is not null)
                    ? " A token-dependent corruption's samples read the clean conditional (the mask evidence log m_t(v) removed from its logits, t from the row's share of masks); \"raw posterior\" is the same sampler on its raw logits." : ""));
            sb.AppendLine();
        }
        sb.AppendLine($"CPU: {r.cpu}; seed {r.options.Seed}.");
        return sb.ToString();
    }

    static readonly Color[] Palette = [Colors.C0, Colors.C1, Colors.C2, Colors.C3, Colors.C4, Colors.C5, Colors.C6];

    public static void Figures(CorruptionBenchResult r, string dir)
    {
        foreach (var bed in r.testbeds)
        {
            Save(Curve(bed), Path.Combine(dir, $"corruption_{bed.name}_bound.png"));
            Save(Gen(bed), Path.Combine(dir, $"corruption_{bed.name}_genppl.png"));
            Save(Decay(bed), Path.Combine(dir, $"corruption_{bed.name}_decay.png"));
        }
    }

    static void Save(Plot plt, string path) => AtomicFile.WriteAllBytes(path, plt.GetImageBytes(900, 560, ImageFormat.Png));

    static Plot Curve(TestbedResult bed)
    {
        var plt = new Plot();
        int i = 0;
        foreach (var run in bed.runs)
        {
            var line = plt.Add.Scatter(run.curve.Select(p => (double)p.step).ToArray(), run.curve.Select(p => p.own_bound ?? p.uniform_bound).ToArray());
            line.LegendText = run.corruption + (run.own_bound is null ? " (uniform bound)" : " (own bound)");
            line.Color = Palette[i++ % Palette.Length]; line.LineWidth = 2;
        }
        if (bed.exact_nll is { } nll) { var h = plt.Add.HorizontalLine(nll); h.LinePattern = LinePattern.Dashed; h.Color = Colors.Black; h.LegendText = "exact NLL"; }
        plt.XLabel("training step"); plt.YLabel("held-out bound (nats/token)");
        plt.Title($"{bed.name}: bound against training steps (equal compute)");
        plt.ShowLegend(Alignment.UpperRight);
        return plt;
    }

    static Plot Gen(TestbedResult bed)
    {
        var plt = new Plot();
        int i = 0;
        foreach (var run in bed.runs)
        {
            var xs = run.gen.Select(g => Math.Log2(g.steps) + (i - bed.runs.Count / 2.0) * 0.03).ToArray();
            var ys = run.gen.Select(g => g.gen_ppl).ToArray();
            var line = plt.Add.Scatter(xs, ys);
            line.LegendText = run.corruption; line.Color = Palette[i % Palette.Length]; line.LineWidth = 2;
            for (int k = 0; k < xs.Length; k++)
            {
                var bar = plt.Add.Line(xs[k], run.gen[k].ppl_low, xs[k], run.gen[k].ppl_high);
                bar.Color = Palette[i % Palette.Length]; bar.LineWidth = 1;
            }
            i++;
        }
        var steps = bed.runs[0].gen.Select(g => g.steps).OrderBy(s => s).ToArray();
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(steps.Select(s => Math.Log2(s)).ToArray(), steps.Select(s => s.ToString(CultureInfo.InvariantCulture)).ToArray());
        plt.XLabel("sampling steps"); plt.YLabel("judge perplexity of samples (95% bootstrap)");
        plt.Title($"{bed.name}: generation quality against steps");
        plt.ShowLegend(Alignment.UpperRight);
        return plt;
    }

    static Plot Decay(TestbedResult bed)
    {
        var plt = new Plot();
        int i = 0;
        foreach (var run in bed.runs.Where(x => x.decay is not null))
        {
            var ys = run.decay!.prompt_information;
            var line = plt.Add.Scatter(Enumerable.Range(1, ys.Length).Select(d => (double)d).ToArray(), ys);
            line.LegendText = run.corruption; line.Color = Palette[i++ % Palette.Length]; line.LineWidth = 2; line.MarkerSize = 3;
        }
        if (bed.exact_information_by_distance is { } exact)
        {
            var e = plt.Add.Scatter(Enumerable.Range(1, exact.Length).Select(d => (double)d).ToArray(), exact);
            e.LegendText = "exact I(x_i; opening)"; e.Color = Colors.Black; e.LinePattern = LinePattern.Dashed; e.LineWidth = 2;
        }
        plt.XLabel("distance from the opening (tokens)"); plt.YLabel("prompt information KL(p(x_i | opening) ‖ p(x_i | masks)) (nats)");
        plt.Title($"{bed.name}: information decay by distance");
        plt.ShowLegend(Alignment.UpperRight);
        return plt;
    }
}
