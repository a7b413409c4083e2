using DiffusionLM.Corruption;
using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Audit;

/// <summary>
/// Summary of a per-position measure across positions: the spread the paper's first finding is about. Positions
/// without a value (NaN: never corrupted) are left out of the summary; the standard deviation is the population one.
/// </summary>
public sealed record PositionSpread(double Min, double Max, double Mean, double Std, int ArgMin, int ArgMax, double[] PerPosition)
{
    public static PositionSpread Of(double[] perPosition)
    {
        var finite = perPosition.Where(double.IsFinite).ToArray();
        if (finite.Length == 0) return new PositionSpread(double.NaN, double.NaN, double.NaN, double.NaN, -1, -1, perPosition);
        double mean = finite.Average();
        double std = Math.Sqrt(finite.Sum(v => (v - mean) * (v - mean)) / finite.Length);
        int argMin = Array.IndexOf(perPosition, finite.Min()), argMax = Array.IndexOf(perPosition, finite.Max());
        return new PositionSpread(finite.Min(), finite.Max(), mean, std, argMin, argMax, perPosition);
    }
}

/// <summary>
/// The trained denoiser at one time t over held-out windows: accuracy of its argmax and mean log-probability
/// of x_0, per position. "All" counts every position, a position the corruption left untouched as known
/// exactly (accuracy 1, log-prob 0: the masked family's logits there are never trained, and the token is in
/// plain sight); "Corrupted" counts only the positions the corruption touched.
/// </summary>
/// <param name="CorrectCorrupted">per position: corrupted draws whose argmax was x_0.</param>
/// <param name="CountCorrupted">per position: corrupted draws.</param>
/// <param name="WindowLogProb">[window][position]: mean log-prob of x_0 over the draws that corrupted it (NaN if none did).</param>
/// <param name="WindowAccuracy">[window][position]: the same for the accuracy.</param>
public sealed record DenoiserAt(double T, double[] Accuracy, double[] LogProb, double[] CorruptedShare,
    double AccuracyCorrupted, double LogProbCorrupted, long[] CorrectCorrupted, long[] CountCorrupted, double[][] WindowLogProb, double[][] WindowAccuracy)
{
    public double MeanAccuracy => Accuracy.Average();
    public double MeanLogProb => LogProb.Average();
    public double MeanCorruptedShare => CorruptedShare.Average();
    public long CorruptedCount => CountCorrupted.Sum();
}

/// <summary>
/// D1 (smooth corruption) measured: how the information x_t keeps about x_0 falls with t, analytically per
/// token and empirically through the trained denoiser, and how unevenly it falls across positions.
/// </summary>
public static class InformationCurve
{
    /// <summary><paramref name="count"/> times from 0 to 1 evenly, pulled in to [ε, 1 − ε] so every family's corruption is defined.</summary>
    public static double[] Times(int count, double eps = 1e-3)
    {
        if (count < 2) throw new DlmException($"the D1 curve needs at least 2 times; got {count}");
        return Enumerable.Range(0, count).Select(k => Math.Clamp((double)k / (count - 1), eps, 1 - eps)).ToArray();
    }

    /// <summary>The largest change between adjacent points of a curve: one step that loses much more than the others is not smooth.</summary>
    public static double LargestJump(IReadOnlyList<double> curve)
    {
        double jump = 0;
        for (int k = 1; k < curve.Count; k++) jump = Math.Max(jump, Math.Abs(curve[k] - curve[k - 1]));
        return jump;
    }

    /// <summary>The corpus unigram as probabilities (add-nothing: only observed tokens carry mass).</summary>
    public static double[] Probabilities(long[] counts)
    {
        double total = counts.Sum();
        if (total <= 0) throw new DlmException("the unigram counts are all zero");
        return counts.Select(c => c / total).ToArray();
    }

    /// <summary>I(x_t; x_0) at every time, in nats, from the family's own formula (or Monte-Carlo estimate).</summary>
    public static double[] Analytic(IDiffusionObjective objective, double[] times, double[] unigram, Generator g)
        => times.Select(t => objective.AnalyticInformation(t, unigram, g)).ToArray();

    /// <summary>
    /// Runs the denoiser at time t on every window (rows of <paramref name="windows"/>, all of one length), <paramref name="draws"/>
    /// corruptions each, <paramref name="batch"/> rows per forward, and averages per position.
    /// </summary>
    public static DenoiserAt Denoise(IDiffusionObjective objective, IDenoiser model, long[][] windows, double t, int draws, int batch, Generator g)
    {
        if (windows.Length == 0) throw new DlmException("the D1 denoiser measure needs at least one held-out window");
        int len = windows[0].Length;
        if (windows.Any(w => w.Length != len)) throw new DlmException("held-out windows must all have the same length");
        var acc = new double[len];
        var logp = new double[len];
        var corrupted = new double[len];
        var correctC = new long[len];
        var countC = new long[len];
        var windowSum = new double[windows.Length][];
        var windowHits = new double[windows.Length][];
        var windowCount = new int[windows.Length][];
        for (int w = 0; w < windows.Length; w++) { windowSum[w] = new double[len]; windowHits[w] = new double[len]; windowCount[w] = new int[len]; }
        double accC = 0, logpC = 0;
        long nC = 0, rows = 0;
        using var noGrad = no_grad();
        for (int d = 0; d < draws; d++)
        {
            for (int start = 0; start < windows.Length; start += batch)
            {
                using var scope = NewDisposeScope();
                var chunk = windows.Skip(start).Take(batch).ToArray();
                var x0 = tensor(chunk.SelectMany(w => w).ToArray(), dtype: ScalarType.Int64).view(chunk.Length, len);
                var (logits, touched) = objective.DenoiseAt(model, x0, t, null, g);
                var (rowAcc, rowLogp, rowTouched) = Score(logits, x0, touched);
                for (int r = 0; r < chunk.Length; r++)
                    for (int i = 0; i < len; i++)
                    {
                        int k = r * len + i;
                        acc[i] += rowAcc[k];
                        logp[i] += rowLogp[k];
                        if (!rowTouched[k]) continue;
                        corrupted[i]++;
                        countC[i]++;
                        if (rowAcc[k] > 0.5) correctC[i]++;
                        windowSum[start + r][i] += rowLogp[k];
                        windowHits[start + r][i] += rowAcc[k];
                        windowCount[start + r][i]++;
                        accC += rowAcc[k]; logpC += rowLogp[k]; nC++;
                    }
                rows += chunk.Length;
            }
        }
        for (int i = 0; i < len; i++) { acc[i] /= rows; logp[i] /= rows; corrupted[i] /= rows; }
        double[][] PerWindow(double[][] sums) =>
            sums.Select((row, w) => row.Select((v, i) => windowCount[w][i] > 0 ? v / windowCount[w][i] : double.NaN).ToArray()).ToArray();
        return new DenoiserAt(t, acc, logp, corrupted, nC > 0 ? accC / nC : double.NaN, nC > 0 ? logpC / nC : double.NaN, correctC, countC,
            PerWindow(windowSum), PerWindow(windowHits));
    }

    /// <summary>
    /// Whether a per-position measure differs between positions beyond chance: a one-way analysis of variance with the
    /// windows as replicates (<paramref name="perWindow"/>[window][position], NaN where a window gives no value). Windows
    /// are independent draws of text, the draws within one window are not (the same tokens), so each window contributes
    /// one value per position. (k − 1)·F is referred to χ²(k − 1), the large-sample law of F with many residual degrees of freedom.
    /// </summary>
    public static (double Statistic, int DegreesOfFreedom, double PValue) Heterogeneity(double[][] perWindow)
    {
        int len = perWindow.Length == 0 ? 0 : perWindow[0].Length;
        var groups = Enumerable.Range(0, len).Select(i => perWindow.Select(w => w[i]).Where(double.IsFinite).ToArray()).Where(v => v.Length > 0).ToArray();
        int k = groups.Length, n = groups.Sum(v => v.Length);
        if (k < 2 || n <= k) return (0, 0, 1.0);
        double grand = groups.SelectMany(v => v).Average();
        double between = groups.Sum(v => v.Length * (v.Average() - grand) * (v.Average() - grand));
        double within = groups.Sum(v => { double m = v.Average(); return v.Sum(x => (x - m) * (x - m)); });
        if (within <= 0) return between > 0 ? (double.PositiveInfinity, k - 1, 0.0) : (0, k - 1, 1.0);
        double f = between / (k - 1) / (within / (n - k));
        double statistic = (k - 1) * f;
        return (statistic, k - 1, ChiSquare.UpperTail(statistic, k - 1));
    }

    /// <summary>
    /// The spread within one window: for every window, the standard deviation across its corrupted positions of
    /// the denoiser's log-prob of x_0 (how unevenly one corruption level removes information from one text),
    /// averaged over windows; and the mean of each window's lowest and highest position.
    /// </summary>
    public static (double MeanStd, double MeanMin, double MeanMax) WithinWindow(double[][] windowLogProb)
    {
        var stats = windowLogProb.Select(w => w.Where(double.IsFinite).ToArray()).Where(v => v.Length >= 2).Select(v =>
        {
            double mean = v.Average();
            return (Std: Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / v.Length), Min: v.Min(), Max: v.Max());
        }).ToArray();
        if (stats.Length == 0) return (double.NaN, double.NaN, double.NaN);
        return (stats.Average(s => s.Std), stats.Average(s => s.Min), stats.Average(s => s.Max));
    }

    /// <summary>
    /// Per position of a [B, L] batch: accuracy and log-probability of x_0, with untouched positions counted
    /// as known exactly, and which positions were touched. Flat arrays in row-major order.
    /// </summary>
    public static (double[] Accuracy, double[] LogProb, bool[] Touched) Score(Tensor logits, Tensor x0, Tensor touched)
    {
        using var scope = NewDisposeScope();
        var logp = nn.functional.log_softmax(logits.to_type(ScalarType.Float32), -1).gather(-1, x0.unsqueeze(-1)).squeeze(-1);
        var hit = logits.argmax(-1).eq(x0);
        var known = touched.logical_not();
        var a = where(known, ones_like(logp), hit.to_type(ScalarType.Float32)).to_type(ScalarType.Float64);
        var l = where(known, zeros_like(logp), logp).to_type(ScalarType.Float64);
        return (a.contiguous().data<double>().ToArray(), l.contiguous().data<double>().ToArray(), touched.contiguous().data<bool>().ToArray());
    }
}
