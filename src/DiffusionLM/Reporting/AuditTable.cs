using DiffusionLM.Models;
using System.Globalization;
using System.Text;
using System.Text.Json;
using DiffusionLM.Analysis.Audit;
using DiffusionLM.Corruption;
using DiffusionLM.IO;

namespace DiffusionLM.Reporting;

/// <summary>
/// The audit's outputs: audit.json (every measurement), audit.md (the paper's Table 1 with the numbers in
/// each cell, the paper's mark beside them and the mark the measurement earns by a stated rule) and the D1 figure.
/// </summary>
public static class AuditTable
{
    public const string JsonFile = "audit.json", MarkdownFile = "audit.md";
    public static readonly string[] Properties = ["D1", "D2", "D3", "L1", "L2"];

    /// <summary>
    /// The paper's Table 1 (arXiv 2512.22630): continuous diffusion on embeddings against discrete diffusion on
    /// tokens (masked and uniform alike). D3 of discrete diffusion is partial: masked samplers never revise a committed token.
    /// </summary>
    public static string PaperMark(string process, string property) => (Continuous(process), property) switch
    {
        (true, "L1" or "L2") => "✗",
        (true, _) => "✓",
        (false, "D1" or "L2") => "✗",
        (false, "D3") => "◐",
        (false, _) => "✓",
    };

    static bool Continuous(string process) => Spellings.Find<DiffusionProcess>(process)?.Continuous == true;

    static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static string ToJson(AuditReport report) => JsonSerializer.Serialize(report, Json);

    /// <summary>Writes audit.json, audit.md and d1_curves.png into <paramref name="dir"/>, each atomically.</summary>
    public static void WriteAll(string dir, AuditReport report)
    {
        Directory.CreateDirectory(dir);
        string figure = Path.Combine(dir, AuditFigures.D1File);
        string temp = Path.Combine(dir, "." + AuditFigures.D1File + ".tmp.png");
        AuditFigures.D1Curves(temp, report.Families);
        File.Move(temp, figure, overwrite: true);
        AtomicFile.WriteAllText(Path.Combine(dir, JsonFile), ToJson(report));
        AtomicFile.WriteAllText(Path.Combine(dir, MarkdownFile), Markdown(report));
    }

    /// <summary>The mark a measurement earns, by the rules printed under the table.</summary>
    public static string MeasuredMark(FamilyAudit f, string property) => property switch
    {
        "D1" => f.D1.PathStepRatio is { } ratio ? (ratio <= 0.75 ? "✓" : "✗") : "?",
        "D2" => !f.D2.Available ? "?" : f.D2.Passes ? "✓" : "✗",
        "D3" => (f.D3.RevisionsPerPosition > 0, f.D3.StepsIndependentOfLength) switch
        {
            (true, true) => "✓",
            (false, false) => "✗",
            _ => "◐",
        },
        "L1" => f.L1.DiscreteShare >= 0.99 ? "✓" : "✗",
        "L2" => f.L2 is null || f.L2.Points.Count == 0 ? "?" : f.L2.Points.MinBy(p => p.Steps)!.TrapRate <= 0.05 ? "✓" : "✗",
        _ => throw new ArgumentOutOfRangeException(nameof(property)),
    };

    public static string Cell(FamilyAudit f, string property)
    {
        var c = CultureInfo.InvariantCulture;
        string numbers = property switch
        {
            "D1" => (f.D1.TokenPath is { } tp && f.D1.TokenPathFine is { } fine
                    ? string.Format(c, "one token's largest step: {0:P0} of its information in {1} steps, {2:P0} in {3}; ", tp.MeanLargestStepShare, tp.Steps, fine.MeanLargestStepShare, fine.Steps)
                    : "") +
                string.Format(c, "largest step of the mean curve I/H {0:F3} (even {1:F3}); at t={2:0.##}: accuracy per position {3:F2}–{4:F2} (same everywhere: p = {5}); " +
                "log p(x_0) within a window {6:F1} to {7:F1} nats (std {8:F2})",
                f.D1.LargestJumpNormalised, f.D1.EvenStep, f.D1.Spread.T, f.D1.Spread.AccuracyCorrupted.Min, f.D1.Spread.AccuracyCorrupted.Max,
                P(f.D1.Spread.HeterogeneityPValue), f.D1.Spread.WithinWindowLogProbMin, f.D1.Spread.WithinWindowLogProbMax, f.D1.Spread.WithinWindowLogProbStd),
            "D2" => !f.D2.Available ? f.D2.Note ?? "not measured"
                : double.IsFinite(f.D2.ClosedFormStayRate)
                    ? string.Format(c, "p = {0} ({1}); x_t = x_0: {2:P1} closed form vs {3:P1} chain", P(f.D2.PValue), f.D2.Passes ? "pass" : "fail",
                        f.D2.ClosedFormStayRate, f.D2.ChainStayRate)
                    : string.Format(c, "p = {0} ({1}); {2}", P(f.D2.PValue), f.D2.Passes ? "pass" : "fail", f.D2.Note),
            "D3" => string.Format(c, "{0:F2} revisions/position ({1:P0} revised); NFE {2} at {3} tokens, {4} at {5}",
                f.D3.RevisionsPerPosition, f.D3.RevisedShare, f.D3.Nfe, f.D3.GenLength, f.D3.NfeLong, f.D3.GenLengthLong),
            "L1" => string.Format(c, "{0:P0} of states discrete, {1:P0} valid sequences ({2:P0} real tokens)", f.L1.DiscreteShare, f.L1.ValidSequenceShare, f.L1.RealTokenShare)
                + Rounding(f.L1, c),
            "L2" => f.L2 is null ? "not measured" : "invalid: " + string.Join(" → ", f.L2.Points.OrderByDescending(p => p.Steps).Select(p =>
                string.Format(c, "{0:P1} in {1} step{2}", p.TrapRate, p.Steps, p.Steps == 1 ? "" : "s"))) +
                string.Format(c, " ({0} samples, {1})", f.L2.Points[0].Samples, f.L2.Sampler),
            _ => throw new ArgumentOutOfRangeException(nameof(property)),
        };
        return $"paper {PaperMark(f.Process, property)} · measured {MeasuredMark(f, property)}<br>{numbers}";
    }

    static string Rounding(L1Result l1, CultureInfo c)
    {
        if (l1.Rounding is not { Count: > 0 } r) return "";
        var mid = r.MinBy(x => Math.Abs(x.T - 0.5))!;
        var first = r.MinBy(x => x.T)!;
        return string.Format(c, "; rounding x_t to the nearest token misses x_0 {0:P1} at t={1:0.##}, {2:P1} at t={3:0.##}; rounding the denoiser's x̂_0: {4:P1}, {5:P1}",
            mid.NoisyRate, mid.T, first.NoisyRate, first.T, mid.DenoisedRate, first.DenoisedRate);
    }

    static string P(double p) => p < 1e-4 ? p.ToString("0.0e+0", CultureInfo.InvariantCulture) : p.ToString("0.000", CultureInfo.InvariantCulture);

    public static string Markdown(AuditReport report)
    {
        var sb = new StringBuilder();
        sb.AppendLine("# The paper's Table 1, measured (`dlm audit`)");
        sb.AppendLine();
        sb.AppendLine($"{report.Families.Count} model(s){(report.Quick ? ", --quick (tiny models trained on the spot)" : "")}; {report.Seconds:F0} s in all. " +
            "Each cell: the paper's mark (arXiv 2512.22630, Table 1), the mark the measurement earns by the rules below, and the numbers.");
        sb.AppendLine();
        sb.AppendLine("| family | D1 smooth corruption | D2 tractable intermediate states | D3 iterative refinement | L1 discreteness | L2 structural dependency |");
        sb.AppendLine("|---|---|---|---|---|---|");
        foreach (var f in report.Families)
        {
            string kind = Continuous(f.Process) ? "continuous" : "discrete";
            sb.Append($"| **{f.Process}** ({kind})<br>`{f.Model}` |");
            foreach (var p in Properties) sb.Append(' ').Append(Cell(f, p)).Append(" |");
            sb.AppendLine();
        }
        sb.AppendLine();
        sb.AppendLine("Marks: ✓ satisfied, ✗ not, ◐ partly, ? not measured. The paper's D3 mark for discrete diffusion is \"partial\" " +
            "(committed tokens of masked samplers are never revised).");
        sb.AppendLine();
        sb.AppendLine("## How each cell is measured, and the rule for the measured mark");
        sb.AppendLine();
        var o = report.Options;
        var f0 = report.Families[0];
        sb.AppendLine($"- **D1** — I(x_t; x_0) per token at {o.Times} times from the family's formula (masked: α_t·H(x_0); uniform: the " +
            "symmetric channel's mutual information; gaussian: Monte Carlo) with the model's corpus unigram, divided by H(x_0). " +
            $"One token's path: {o.PathTokens} tokens drawn from the unigram are run through the chain over the same times, and the largest " +
            "one-step fall of the pointwise information log q(x_t|x_0)/q(x_t) is divided by the token's −log p(x_0) (1 = erased in one step; " +
            "above 1 = left pointing at another token). " +
            $"The same on a grid four times finer ({4 * (o.Times - 1)} steps): a token whose information falls continuously loses about a quarter as much in its " +
            "largest step where its fall is smooth and about half where the noise of its path dominates (increments of √dt); a token erased (or redrawn) at one " +
            "instant loses as much. ✓ when the finer grid's largest step is at most ¾ of the coarser one's. " +
            "(The mean curve's largest step depends on how t is parametrised — the gaussian schedule is exponential in t, which time warping compensates in training — so it is reported, not judged.) " +
            $"The spread, at t = {o.SpreadT} over {f0.D1.Spread.Draws} corrupted held-out windows, on corrupted positions only: the trained denoiser's " +
            "accuracy on x_0 per position (min–max across positions, and the p-value of an analysis of variance, windows as replicates, that it is the same at every position), " +
            "and within one window the range of log p(x_0 | x_t) across its positions (mean over windows of the lowest and highest, and the standard deviation): " +
            "the same corruption level removes very different amounts of information from different positions.");
        sb.AppendLine($"- **D2** — x_t at t = {o.D2T} drawn from the closed form and from the chain run step by step ({o.D2ChainSteps} steps) from {o.D2Tokens} held-out tokens: " +
            $"for the discrete families {o.D2Samples} samples each, compared by a chi-square test of homogeneity per position; for the gaussian one " +
            $"{Math.Min(o.D2Samples, 1000)} samples of the tokens' embeddings, x_t − x_0 compared by z tests of its mean and variance (χ²(2)). ✓ when p ≥ 0.001.");
        sb.AppendLine($"- **D3** — the family's default sampler at temperature 1 on {o.SamplerRows} held-out prompts, as many steps as tokens: " +
            "revisions = changes of a position's token after it was first proposed (the prior draw is not a proposal), per position. " +
            "NFE at two generation lengths with the same step count. ✓ when tokens are revised and the NFE does not grow with length; ◐ when only one holds.");
        sb.AppendLine("- **L1** — the sampler's intermediate states: discrete (token ids, not a continuous x_t) and valid (no mask id). ✓ when ≥ 99% are discrete. " +
            $"For a continuous model, the rounding error on {o.Windows} held-out windows at t ∈ {{{string.Join(", ", FamilyAuditor.RoundingTimes)}}}: the share of positions " +
            "whose x_t, or whose denoised x̂_0 = softmax(logits)·E, is nearest to another token's embedding than x_0's.");
        sb.AppendLine($"- **L2** — a model of the same family trained on the '{o.TrapLanguage}' trap language (TrapModel), sampled at temperature 1 " +
            $"with as many steps as words, two steps and one step ({o.TrapSamples} samples each): the share of samples outside the language. A masked sampler " +
            "commits one word per step in the first setting and all at once in the last; uniform and gaussian samplers update every position at every step. " +
            "✓ when the one-step rate is ≤ 5%.");
        sb.AppendLine();
        sb.AppendLine($"Figure: [{AuditFigures.D1File}]({AuditFigures.D1File}); every number: [{JsonFile}]({JsonFile}).");
        return sb.ToString();
    }
}
