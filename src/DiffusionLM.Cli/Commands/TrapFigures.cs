using DiffusionLM.Analysis.Trap;
using ScottPlot;

namespace DiffusionLM.Cli.Commands;

/// <summary>The trap's figures (headless PNG).</summary>
public static class TrapFigures
{
    static readonly Color[] Palette =
    [
        Colors.Black, Colors.Red, Colors.Blue, Colors.Green, Colors.Orange, Colors.Purple, Colors.Brown,
        Colors.Magenta, Colors.Teal, Colors.Olive, Colors.Navy, Colors.Gray, Colors.DeepPink,
    ];

    /// <summary>Trap rate against tokens per step, one line per sampler, the product-of-marginals rate dashed.</summary>
    public static void TrapRate(string path, string language, IReadOnlyList<TrapPoint> points, double predicted)
    {
        var plt = new Plot();
        int c = 0;
        foreach (var curve in points.GroupBy(p => p.Curve))
        {
            var ordered = curve.OrderBy(p => p.TokensPerStep).ToArray();
            var s = plt.Add.Scatter(ordered.Select(p => p.TokensPerStep).ToArray(), ordered.Select(p => p.TrapRate).ToArray());
            s.LegendText = curve.Key;
            s.Color = Palette[c++ % Palette.Length];
            s.LineWidth = Bold(curve.Key) ? 3 : 1.5f;
            s.MarkerSize = 6;
        }
        var line = plt.Add.HorizontalLine(predicted);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Black;
        line.LineWidth = 2;
        line.LegendText = $"product of marginals (exact): {predicted:F3}";
        plt.Title($"Marginal trap on '{language}' (temperature 1)");
        plt.XLabel("tokens committed per step (sentence length / committing steps per sample)");
        plt.YLabel("invalid samples (fraction)");
        plt.Axes.SetLimitsY(-0.02, Math.Max(0.2, Math.Min(1.02, Math.Max(predicted, points.Max(p => p.TrapRate)) + 0.05)));
        plt.ShowLegend(Alignment.UpperLeft);
        plt.SavePng(path, 1000, 650);
    }

    /// <summary>The adaptive parallel samplers (threshold, factor or entropy budget), drawn bold.</summary>
    static bool Bold(string curve) => curve != TrapExperiment.Baseline && TrapExperiment.Adaptive(curve);

    /// <summary>
    /// The equal-cost comparison: trap rate against committing steps per sample (what a sample costs alone) for the
    /// adaptive parallel samplers (threshold, factor, entropy budget) and the one-token-per-step baseline.
    /// </summary>
    public static void TrapRateByCommittingSteps(string path, string language, IReadOnlyList<TrapPoint> points, double predicted)
    {
        var plt = new Plot();
        int c = 0;
        foreach (var curve in points.Where(p => p.Curve == TrapExperiment.Baseline || TrapExperiment.Adaptive(p.Curve)).GroupBy(p => p.Curve))
        {
            var ordered = curve.OrderBy(p => p.CommittingSteps).ToArray();
            var s = plt.Add.Scatter(ordered.Select(p => p.CommittingSteps).ToArray(), ordered.Select(p => p.TrapRate).ToArray());
            s.LegendText = curve.Key;
            s.Color = Palette[c++ % Palette.Length];
            s.LineWidth = Bold(curve.Key) ? 3 : 1.5f;
            s.MarkerSize = 7;
        }
        var line = plt.Add.HorizontalLine(predicted);
        line.LinePattern = LinePattern.Dashed;
        line.Color = Colors.Black;
        line.LegendText = $"product of marginals (exact): {predicted:F3}";
        plt.Title($"Marginal trap on '{language}' at equal cost (temperature 1)");
        plt.XLabel("committing steps per sample (its network calls had it run alone)");
        plt.YLabel("invalid samples (fraction)");
        plt.Axes.SetLimitsY(-0.02, 1.02);
        plt.ShowLegend(Alignment.UpperRight);
        plt.SavePng(path, 1000, 650);
    }

    /// <summary>Quality against NFE (forward calls per text; each text runs alone) on natural text: judge perplexity when there is a judge, else the duplicate rate.</summary>
    public static void Natural(string path, IReadOnlyList<NaturalPoint> points)
    {
        bool judged = points.All(p => p.GenPpl is not null);
        var plt = new Plot();
        int c = 0;
        foreach (var curve in points.GroupBy(p => p.Curve))
        {
            var ordered = curve.OrderBy(p => p.Nfe).ToArray();
            var s = plt.Add.Scatter(ordered.Select(p => p.Nfe).ToArray(),
                ordered.Select(p => judged ? p.GenPpl!.Value : p.DuplicateRate).ToArray());
            s.LegendText = curve.Key;
            s.Color = Palette[c++ % Palette.Length];
            s.MarkerSize = 6;
        }
        plt.Title(judged ? "Natural text: judge perplexity against NFE" : "Natural text: adjacent duplicates against NFE (no judge wired)");
        plt.XLabel("network calls per text (NFE)");
        plt.YLabel(judged ? "generative perplexity under the judge" : "adjacent duplicate token pairs (fraction)");
        plt.ShowLegend(Alignment.UpperRight);
        plt.SavePng(path, 1000, 650);
    }

    /// <summary>The joint-vs-marginal gap: expected PMI between masked positions by distance.</summary>
    public static void Pmi(string path, IReadOnlyList<PmiPoint> points)
    {
        var plt = new Plot();
        var s = plt.Add.Scatter(points.Select(p => (double)p.Distance).ToArray(), points.Select(p => p.MeanPmi).ToArray());
        s.MarkerSize = 6;
        s.LegendText = "E[log p(x_j|c,x_i) - log p(x_j|c)]";
        plt.Title("Joint vs product of marginals: mean PMI of masked positions by distance");
        plt.XLabel("distance |i - j| between the masked positions");
        plt.YLabel("mean PMI (nats)");
        plt.ShowLegend(Alignment.UpperRight);
        plt.SavePng(path, 1000, 650);
    }
}
