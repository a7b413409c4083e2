using DiffusionLM.Models;
using DiffusionLM.Analysis.Audit;
using ScottPlot;

namespace DiffusionLM.Reporting;

/// <summary>
/// The audit's figure (headless PNG, ScottPlot), d1_curves.png: for every audited model, top: the analytic
/// I(x_t; x_0) / H(x_0) against t; second: three single tokens' pointwise information along a path of the chain
/// (a masked token falls off a cliff, a gaussian one slides); third: the trained denoiser's accuracy on x_0 against t
/// (a position the corruption left untouched counts as known); bottom: that accuracy per position at the spread's fixed t,
/// on corrupted positions only, which shows how unevenly the same corruption level removes information across positions.
/// </summary>
public static class AuditFigures
{
    public const string D1File = "d1_curves.png";

    static readonly Dictionary<string, Color> FamilyColors = new()
    {
        [DiffusionProcess.Masked.Spelling] = Colors.Crimson, [DiffusionProcess.Uniform.Spelling] = Colors.ForestGreen, [DiffusionProcess.Gaussian.Spelling] = Colors.RoyalBlue,
    };
    static readonly Color[] Extra = [Colors.DarkOrange, Colors.Purple, Colors.Teal, Colors.Brown, Colors.Gray];

    public static void D1Curves(string path, IReadOnlyList<FamilyAudit> families)
    {
        if (families.Count == 0) throw new DlmException("no audited model to draw");
        var multiplot = new Multiplot();
        multiplot.AddPlots(4);
        var (analytic, paths, denoiser, spread) = (multiplot.GetPlot(0), multiplot.GetPlot(1), multiplot.GetPlot(2), multiplot.GetPlot(3));
        int extra = 0;
        foreach (var f in families)
        {
            var color = FamilyColors.TryGetValue(f.Process, out var c) && families.Count(x => x.Process == f.Process) == 1
                ? c : Extra[extra++ % Extra.Length];
            string label = families.Count(x => x.Process == f.Process) == 1 ? f.Process : $"{f.Process} ({Path.GetFileName(f.Model.TrimEnd('/'))})";
            Add(analytic, f.D1.Times, f.D1.InformationNormalised, $"{label}: largest step {f.D1.LargestJumpNormalised:F3} of H", color, markers: true);
            Add(denoiser, f.D1.Times, f.D1.Denoiser.Accuracy, $"{label}", color, markers: true);
            if (f.D1.TokenPathFine is { Examples.Length: > 0 } tp)
                for (int k = 0; k < tp.Examples.Length; k++)
                    Add(paths, tp.ExampleTimes, tp.Examples[k], k == 0 ? $"{label}: largest step {tp.MeanLargestStepShare:P0} of a token's information (mean)" : null, color, markers: false, width: 1.5f);
            var a = f.D1.Spread.AccuracyCorrupted;
            Add(spread, a.PerPosition.Select((_, i) => i + 1.0).ToArray(), a.PerPosition,
                $"{label}: min {a.Min:F2}, max {a.Max:F2}, std {a.Std:F3} (same at every position: p = {f.D1.Spread.HeterogeneityPValue:G2})", color, markers: false);
        }
        var even = analytic.Add.Line(0, 1, 1, 0);
        even.Color = Colors.Gray;
        even.LinePattern = LinePattern.Dashed;
        even.LegendText = "even loss (1 − t)";
        analytic.Title("D1, analytic: information x_t keeps about x_0, I(x_t; x_0) / H(x_0), per token");
        analytic.XLabel("diffusion time t");
        analytic.YLabel("I / H");
        analytic.Axes.SetLimits(-0.02, 1.02, -0.03, 1.05);
        analytic.ShowLegend(Alignment.UpperRight);

        paths.Title("D1, one token: its pointwise information log q(x_t|x_0)/q(x_t) along a path of the chain, / −log p(x_0) (three paths per family)");
        paths.XLabel("diffusion time t");
        paths.YLabel("i(x_t; x_0) / i(x_0; x_0)");
        paths.Axes.SetLimitsX(-0.02, 1.02);
        paths.ShowLegend(Alignment.UpperRight);

        denoiser.Title("D1, empirical: trained denoiser's accuracy on x_0 at time t (held-out windows; untouched positions count as known)");
        denoiser.XLabel("diffusion time t");
        denoiser.YLabel("accuracy");
        denoiser.Axes.SetLimits(-0.02, 1.02, -0.03, 1.05);
        denoiser.ShowLegend(Alignment.UpperRight);

        double t = families[0].D1.Spread.T;
        spread.Title($"D1, spread: the denoiser's accuracy on corrupted positions, per position, at t = {t:0.##} (same corruption level everywhere)");
        spread.XLabel("position in the window");
        spread.YLabel("accuracy");
        spread.Axes.SetLimitsY(-0.03, 1.05);
        spread.ShowLegend(Alignment.UpperRight);
        multiplot.SavePng(path, 1400, 1900);
    }

    static void Add(Plot plot, double[] xs, double[] ys, string? label, Color color, bool markers, float width = 2.5f)
    {
        var points = xs.Zip(ys).Where(p => double.IsFinite(p.Second)).ToArray();
        if (points.Length == 0) return;
        var line = plot.Add.Scatter(points.Select(p => p.First).ToArray(), points.Select(p => p.Second).ToArray());
        line.Color = color;
        line.LineWidth = width;
        line.MarkerSize = markers ? 6 : 0;
        if (label is not null) line.LegendText = label;
    }
}
