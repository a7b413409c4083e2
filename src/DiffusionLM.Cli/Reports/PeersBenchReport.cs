using System.Globalization;
using System.Text;
using DiffusionLM.Cli.Bench;
using DiffusionLM.IO;
using ScottPlot;

namespace DiffusionLM.Cli.Reports;

public sealed record PeersResult(string cpu, int threads, PeersOptions options, List<PeersModelResult> models);

/// <summary>The Markdown tables and the figure of `dlm bench peers`.</summary>
public static class PeersBenchReport
{
    static string F(double x, string f = "F1") => double.IsFinite(x) ? x.ToString(f, CultureInfo.InvariantCulture) : "–";
    const string Ours = PeersBenchmark.Ours, OursBf16 = PeersBenchmark.OursBf16;

    public static string Markdown(PeersResult r)
    {
        var sb = new StringBuilder();
        sb.AppendLine($"CPU: {r.cpu}; {r.threads} threads for every engine; one engine at a time, llama.cpp and Python each in its own process.");
        foreach (var m in r.models)
        {
            sb.AppendLine();
            sb.AppendLine($"### {m.name} ({m.parameters:N0} parameters; d_model {m.config.DModel}, {m.config.NLayers} layers, {m.config.NHeads}/{m.config.NKvHeads} heads, vocab {m.config.VocabSize})");
            sb.AppendLine();
            sb.AppendLine("| engine | tokens | forward tokens/s | DiffusionLM fp32 ÷ engine | DiffusionLM bf16 matmul ÷ engine |");
            sb.AppendLine("|---|---:|---:|---:|---:|");
            foreach (var f in m.forward)
            {
                double Ratio(string engine) => m.forward.FirstOrDefault(x => x.engine == engine && x.tokens == f.tokens) is { } o ? o.tokens_per_second / f.tokens_per_second : double.NaN;
                sb.AppendLine($"| {f.engine} | {f.tokens} | {F(f.tokens_per_second, "F0")} | {F(Ratio(Ours), "F2")} | {F(Ratio(OursBf16), "F2")} |");
            }
            sb.AppendLine();
            sb.AppendLine("| engine | max |Δ logit| vs DiffusionLM | max |logit| |");
            sb.AppendLine("|---|---:|---:|");
            foreach (var p in m.parity) sb.AppendLine($"| {p.engine} | {p.max_abs_diff:G3} | {F(p.max_abs_logit, "F2")} |");
            if (m.generation.Count > 0)
            {
                double Best(string engine) => m.generation.Where(g => g.engine == engine).Select(g => g.tokens_per_second).DefaultIfEmpty(double.NaN).Max();
                sb.AppendLine();
                sb.AppendLine($"| engine | setting | network calls | seconds | tokens/s | same tokens as DiffusionLM 1/step | DiffusionLM fp32 best ÷ engine | bf16 best ÷ engine |");
                sb.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|");
                foreach (var g in m.generation)
                    sb.AppendLine($"| {g.engine} | {g.setting} | {g.nfe} | {F(g.seconds, "F2")} | {F(g.tokens_per_second, "F1")} | {F(100 * g.agreement_with_one_per_step, "F0")}% | {F(Best(Ours) / g.tokens_per_second, "F2")} | {F(Best(OursBf16) / g.tokens_per_second, "F2")} |");
            }
            if (m.note.Length > 0) { sb.AppendLine(); sb.AppendLine(m.note); }
        }
        sb.AppendLine();
        sb.AppendLine($"Generation: {r.options.GenLength} tokens in blocks of {r.options.BlockLength}, greedy (temperature 0), low-confidence order; " +
            $"\"same tokens\" is the share of generated positions equal to DiffusionLM's one-token-per-step output (the quality proxy: greedy decoding of identical weights). " +
            "\"bf16 matmul\" is `--matmul bf16`: the projections multiply bf16 copies of the weights with float32 accumulation, and oneDNN may take libtorch's other float32 products in bf16; its logits' distance from float32 is in the parity table.");
        return sb.ToString();
    }

    public static void Figure(PeersResult r, string path)
    {
        var plt = new Plot();
        var bars = new List<Bar>();
        var labels = new List<Tick>();
        double x = 0;
        var palette = new[] { Colors.C0, Colors.C1, Colors.C2, Colors.C3, Colors.C4, Colors.C5 };
        var engines = r.models.SelectMany(m => m.forward.Select(f => f.engine)).Distinct().ToList();
        foreach (var m in r.models)
            foreach (var len in m.forward.Select(f => f.tokens).Distinct())
            {
                double start = x;
                foreach (var f in m.forward.Where(f => f.tokens == len))
                    bars.Add(new Bar { Position = x++, Value = f.tokens_per_second, FillColor = palette[engines.IndexOf(f.engine) % palette.Length] });
                labels.Add(new Tick((start + x - 1) / 2, $"{m.name}\n{len} tokens"));
                x += 1;
            }
        plt.Add.Bars(bars);
        for (int i = 0; i < engines.Count; i++)
            plt.Legend.ManualItems.Add(new LegendItem { LabelText = engines[i], FillColor = palette[i % palette.Length] });
        plt.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(labels.ToArray());
        plt.Axes.Margins(bottom: 0);
        plt.YLabel("forward tokens/s (one sequence)");
        plt.Title($"Forward throughput on identical weights ({r.cpu}, {r.threads} threads)");
        plt.ShowLegend(Alignment.UpperRight);
        AtomicFile.WriteAllBytes(path, plt.GetImageBytes(1000, 560, ImageFormat.Png));
    }
}
