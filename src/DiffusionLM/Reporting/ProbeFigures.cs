using DiffusionLM.Analysis.Probe;
using ScottPlot;

namespace DiffusionLM.Reporting;

/// <summary>
/// The probe's figures (headless PNG, ScottPlot):
/// figure2.png, the paper's Figure 2 for one prompt: the top-k tokens and their probabilities at every
/// masked position, laid out as a table in column groups of 32 positions, each cell shaded by probability;
/// entropy_heatmap.png, prompts × positions entropy;
/// measures.png, the per-position measures with 95% bands;
/// stepwise_entropy.png (with --steps), mean entropy of still-masked positions after each step.
/// </summary>
public static class ProbeFigures
{
    public const string Figure2File = "figure2.png", HeatmapFile = "entropy_heatmap.png", MeasuresFile = "measures.png", StepwiseFile = "stepwise_entropy.png";
    const string Font = "DejaVu Sans";

    public static void WriteAll(string dir, ProbeResult r, int figurePrompt)
    {
        if (figurePrompt < 0 || figurePrompt >= r.Prompts.Count)
            throw new DlmException($"--figure-prompt {figurePrompt} is out of range (0..{r.Prompts.Count - 1})");
        Figure2(Path.Combine(dir, Figure2File), r.Prompts[figurePrompt], figurePrompt);
        EntropyHeatmap(Path.Combine(dir, HeatmapFile), r);
        Measures(Path.Combine(dir, MeasuresFile), r);
        if (r.Stepwise is not null) Stepwise(Path.Combine(dir, StepwiseFile), r);
    }

    /// <summary>Figure 2: a table of the top-k tokens per position. Rows are positions; column groups hold 32 positions each.</summary>
    public static void Figure2(string path, PromptProbe p, int index)
    {
        int n = p.Top.Length, k = p.Top[0].Length;
        int rows = Math.Min(n, 32), groups = (n + rows - 1) / rows;
        const double posWidth = 0.45, gap = 0.25, cellWidth = 1.0;
        double groupWidth = posWidth + k * cellWidth + gap;
        const int cellPx = 150, rowPx = 22, headerRows = 4, footerRows = 1;
        double width = groups * groupWidth - gap;
        int totalRows = rows + headerRows;

        var plot = new Plot();
        plot.Layout.Frameless();
        plot.HideGrid();
        plot.Axes.SetLimits(-0.1, width + 0.1, -0.6 - footerRows, totalRows - 0.4);

        Text(plot, $"Prompt {index} ({p.Prompt.Id}) followed by {n} masks, one forward pass: the top-{k} tokens at every masked position",
            0, totalRows - 1, 17, Colors.Black, Alignment.MiddleLeft, bold: true);
        Text(plot, "prompt: " + TokenDisplay.OneLine(p.Prompt.Text, 170), 0, totalRows - 2, 13, Colors.Black, Alignment.MiddleLeft);
        Text(plot, "cell shade = probability (white 0 → blue 1); tokens without their leading space; ␣ space, ↵ newline, <|eos|> end of sequence; H = entropy (nats)",
            0, totalRows - 3, 12, Colors.DimGray, Alignment.MiddleLeft);

        for (int g = 0; g < groups; g++)
        {
            double x0 = g * groupWidth;
            double headerY = rows;
            Text(plot, "pos", x0 + posWidth / 2, headerY, 12, Colors.DimGray, Alignment.MiddleCenter, bold: true);
            for (int j = 0; j < k; j++)
                Text(plot, $"top-{j + 1}", x0 + posWidth + (j + 0.5) * cellWidth, headerY, 12, Colors.DimGray, Alignment.MiddleCenter, bold: true);
            for (int row = 0; row < rows; row++)
            {
                int i = g * rows + row;
                if (i >= n) break;
                double y = rows - 1 - row;
                Text(plot, (i + 1).ToString(), x0 + posWidth - 0.05, y, 12, Colors.Black, Alignment.MiddleRight);
                for (int j = 0; j < k; j++)
                {
                    var t = p.Top[i][j];
                    double left = x0 + posWidth + j * cellWidth;
                    var rect = plot.Add.Rectangle(left + 0.02, left + cellWidth - 0.02, y - 0.45, y + 0.45);
                    rect.FillColor = Shade(t.Probability);
                    rect.LineWidth = 0;
                    var ink = t.Probability > 0.55 ? Colors.White : Colors.Black;
                    Text(plot, TokenDisplay.Visible(t.Text, 12), left + 0.06, y, 13, ink, Alignment.MiddleLeft, bold: j == 0);
                    Text(plot, t.Probability.ToString("0.00"), left + cellWidth - 0.06, y, 11, ink, Alignment.MiddleRight);
                }
            }
        }
        // Entropy of each position in small print under its group, every 8 positions, so the figure reads on its own.
        for (int g = 0; g < groups; g++)
        {
            var hs = Enumerable.Range(g * rows, Math.Min(rows, n - g * rows)).Where(i => i % 8 == 0 || i == n - 1)
                .Select(i => $"H{i + 1}={p.Entropy[i]:0.0}");
            Text(plot, string.Join("  ", hs), g * groupWidth, -1.1, 11, Colors.DimGray, Alignment.MiddleLeft);
        }
        plot.SavePng(path, (int)Math.Ceiling((width + 0.2) * cellPx), (totalRows + footerRows + 1) * rowPx);
    }

    /// <summary>Prompts × positions entropy.</summary>
    public static void EntropyHeatmap(string path, ProbeResult r)
    {
        int prompts = r.Prompts.Count, n = r.Options.Masks;
        var data = new double[prompts, n];
        for (int p = 0; p < prompts; p++) for (int i = 0; i < n; i++) data[p, i] = r.Prompts[p].Entropy[i];
        // Cell (p, i) centred on x = i + 1 (position), y = p (prompt index, 0 at the bottom).
        var plot = PositionHeatmap(data, n, prompts, "entropy (nats)");
        plot.Title($"Entropy of p(x_i | prompt, {n} masks) for {prompts} prompts");
        plot.XLabel("masked position i (distance from the prompt)");
        plot.YLabel("prompt (index in probe.json)");
        plot.SavePng(path, 1200, Math.Clamp(200 + prompts * 6, 500, 1400));
    }

    /// <summary>The per-position measures with 95% bands: information measures (nats) on top, probabilities below.</summary>
    public static void Measures(string path, ProbeResult r)
    {
        var a = r.Aggregate;
        int n = r.Options.Masks;
        var multiplot = new Multiplot();
        multiplot.AddPlots(2);
        var nats = multiplot.GetPlot(0);
        var shares = multiplot.GetPlot(1);
        Band(nats, a.Entropy, "entropy H(p)", Colors.Navy);
        if (a.KlUnigram is not null) Band(nats, a.KlUnigram, "KL(p ‖ unigram)", Colors.DarkOrange);
        if (a.KlUnigramNoEos is not null) Band(nats, a.KlUnigramNoEos, "KL(p ‖ unigram), both without eos", Colors.Peru);
        Band(nats, a.PromptInformation, "prompt information KL(p ‖ p_masks-only)", Colors.ForestGreen);
        Line(nats, a.MutualInformation, "mutual information I(x_i; prompt) over the prompt set", Colors.LimeGreen);
        if (a.MixtureKlUnigram is not null) Line(nats, a.MixtureKlUnigram, "KL(mean prediction ‖ unigram)", Colors.Gray);
        nats.Title($"Information measures per masked position, mean over {r.Prompts.Count} prompts with 95% intervals");
        nats.YLabel("nats");
        nats.XLabel("masked position i (distance from the prompt)");
        nats.ShowLegend(Edge.Right);
        nats.Axes.SetLimitsX(0, n + 1);

        Band(shares, a.StructuralShare, "structural share of top-1 (punctuation, frequent 1%, eos)", Colors.Purple);
        Band(shares, a.ContentMass, "content mass: p(not structural)", Colors.DarkOrange);
        Band(shares, a.EosMass, "eos mass p(eos)", Colors.Crimson);
        shares.Title("Structural top-1 share, content mass and eos mass per masked position");
        shares.YLabel("probability / share");
        shares.XLabel("masked position i (distance from the prompt)");
        shares.ShowLegend(Edge.Right);
        shares.Axes.SetLimits(0, n + 1, -0.02, 1.02);
        multiplot.SavePng(path, 1600, 1000);
    }

    /// <summary>Mean entropy of still-masked positions after j denoising steps.</summary>
    public static void Stepwise(string path, ProbeResult r)
    {
        var s = r.Stepwise!;
        int steps = s.MeanEntropy.Length, n = r.Options.Masks;
        var data = new double[steps, n];
        for (int j = 0; j < steps; j++) for (int i = 0; i < n; i++) data[j, i] = s.MeanEntropy[j][i].Mean;
        // Row j (steps done) centred on y = j, step 0 at the bottom.
        var plot = PositionHeatmap(data, n, steps, "mean entropy of still-masked positions (nats)");
        plot.Title($"Stepwise probe: {s.Options.Sampler}, {steps} steps; white = committed in every prompt");
        plot.XLabel("masked position i (distance from the prompt)");
        plot.YLabel("denoising steps done (0 = single pass)");
        plot.SavePng(path, 1200, 800);
    }

    /// <summary>
    /// A rows × positions heatmap: cell (r, i) centred on x = i + 1, y = r (row 0 at the bottom), Viridis,
    /// NaN cells white, integer row ticks, a colour bar with <paramref name="label"/>.
    /// </summary>
    static Plot PositionHeatmap(double[,] data, int positions, int rows, string label)
    {
        var plot = new Plot();
        var hm = plot.Add.Heatmap(data);
        hm.Colormap = new ScottPlot.Colormaps.Viridis();
        hm.NaNCellColor = Colors.White;
        hm.FlipVertically = true;
        hm.Extent = new CoordinateRect(0.5, positions + 0.5, -0.5, rows - 0.5);
        plot.Add.ColorBar(hm).Label = label;
        plot.Axes.SetLimits(0.5, positions + 0.5, -0.5, rows - 0.5);
        plot.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true };
        return plot;
    }

    static void Band(Plot plot, Interval[] values, string label, Color color)
    {
        var points = values.Select((v, i) => (X: i + 1.0, v)).Where(t => double.IsFinite(t.v.Mean)).ToArray();
        if (points.Length == 0) return;
        var xs = points.Select(t => t.X).ToArray();
        var lows = points.Select(t => t.v.Low ?? t.v.Mean).ToArray();
        var highs = points.Select(t => t.v.High ?? t.v.Mean).ToArray();
        var fill = plot.Add.FillY(xs, lows, highs);
        fill.FillColor = color.WithAlpha(0.22);
        fill.LineWidth = 0;
        fill.MarkerSize = 0;
        var line = plot.Add.ScatterLine(xs, points.Select(t => t.v.Mean).ToArray());
        line.Color = color;
        line.LineWidth = 2;
        line.LegendText = label;
    }

    static void Line(Plot plot, double[] values, string label, Color color)
    {
        var points = values.Select((v, i) => (X: i + 1.0, Y: v)).Where(t => double.IsFinite(t.Y)).ToArray();
        if (points.Length == 0) return;
        var line = plot.Add.ScatterLine(points.Select(t => t.X).ToArray(), points.Select(t => t.Y).ToArray());
        line.Color = color;
        line.LineWidth = 2;
        line.LinePattern = LinePattern.Dashed;
        line.LegendText = label;
    }

    static Color Shade(double p)
    {
        p = Math.Clamp(p, 0, 1);
        // White to a saturated blue (#1f4e9c), linear in probability.
        byte Mix(int from, int to) => (byte)Math.Round(from + (to - from) * p);
        return new Color(Mix(255, 0x1f), Mix(255, 0x4e), Mix(255, 0x9c));
    }

    static void Text(Plot plot, string text, double x, double y, float size, Color color, Alignment alignment, bool bold = false)
    {
        var t = plot.Add.Text(text, x, y);
        t.LabelFontSize = size;
        t.LabelFontColor = color;
        t.LabelAlignment = alignment;
        t.LabelFontName = Font;
        t.LabelBold = bold;
    }
}
