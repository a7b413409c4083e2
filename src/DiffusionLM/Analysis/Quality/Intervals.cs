namespace DiffusionLM.Analysis.Quality;

/// <summary>95% intervals of the benchmark's figures.</summary>
public static class Intervals
{
    /// <summary>
    /// exp(Σ nll / Σ tokens) over samples (the corpus-level perplexity of MDLM/SEDD's gen-PPL), with a percentile
    /// bootstrap over samples: 1,000 resamples from a generator seeded by <paramref name="seed"/>, so the interval
    /// is reproducible. Samples are the unit because tokens within a sample are dependent.
    /// </summary>
    public static Interval RatioBootstrap(double[] nll, int[] tokens, long seed, int resamples = 1000)
    {
        long total = tokens.Sum(t => (long)t);
        if (total == 0) return new Interval(double.NaN, double.NaN, double.NaN);
        double point = Math.Exp(nll.Sum() / total);
        var rng = new Random(unchecked((int)(seed * 7919 + 17)));
        var stats = new double[resamples];
        int n = nll.Length;
        for (int r = 0; r < resamples; r++)
        {
            double s = 0; long t = 0;
            for (int i = 0; i < n; i++) { int k = rng.Next(n); s += nll[k]; t += tokens[k]; }
            stats[r] = t == 0 ? double.NaN : Math.Exp(s / t);
        }
        var sorted = stats.Where(double.IsFinite).Order().ToArray();
        if (sorted.Length == 0) return new Interval(point, double.NaN, double.NaN);
        return new Interval(point, Quantile(sorted, 0.025), Quantile(sorted, 0.975));
    }

    /// <summary>Mean with the normal 95% interval (± 1.96 standard errors).</summary>
    public static Interval Mean(double[] xs)
    {
        if (xs.Length == 0) return new Interval(double.NaN, double.NaN, double.NaN);
        double m = xs.Average();
        double se = xs.Length > 1 ? Math.Sqrt(xs.Sum(x => (x - m) * (x - m)) / (xs.Length - 1) / xs.Length) : double.NaN;
        return new Interval(m, m - 1.96 * se, m + 1.96 * se);
    }

    /// <summary>
    /// The standard error of the ratio estimator Σ nll / Σ tokens over units (stories): the linearised variance
    /// n/(n−1)·Σ (nll_i − R·tokens_i)² / (Σ tokens)²; NaN for fewer than two units.
    /// </summary>
    public static double RatioStandardError(double[] nll, int[] tokens)
    {
        int n = nll.Length;
        long total = tokens.Sum(t => (long)t);
        if (n < 2 || total == 0) return double.NaN;
        double ratio = nll.Sum() / total;
        double sum = 0;
        for (int i = 0; i < n; i++) sum += Math.Pow(nll[i] - ratio * tokens[i], 2);
        return Math.Sqrt(sum * n / (n - 1)) / total;
    }

    /// <summary>Linear interpolation between order statistics (numpy's default).</summary>
    public static double Quantile(double[] sorted, double q)
    {
        double pos = q * (sorted.Length - 1);
        int lo = (int)Math.Floor(pos), hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
    }
}
