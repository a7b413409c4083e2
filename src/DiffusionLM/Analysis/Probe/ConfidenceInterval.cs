namespace DiffusionLM.Analysis.Probe;

/// <summary>A mean over prompts with its 95% confidence interval; Low/High are null with fewer than two values.</summary>
/// <param name="N">how many values went into the mean (undefined values, e.g. NaN, are left out).</param>
public readonly record struct Interval(double Mean, double? Low, double? High, int N);

/// <summary>
/// 95% confidence intervals over prompts. Means of continuous measures (entropy, KL, eos mass) get
/// the Student-t interval mean ± t(0.975, n−1)·s/√n; shares of yes/no outcomes (structural top-1) get
/// the Wilson score interval, which stays inside [0, 1] and is not degenerate at 0% or 100%.
/// </summary>
public static class ConfidenceInterval
{
    public const double Level = 0.95;
    const double Z975 = 1.959963984540054;

    /// <summary>Student-t interval of the mean of the finite values; NaN values are skipped.</summary>
    public static Interval Mean(IEnumerable<double> values)
    {
        var xs = values.Where(double.IsFinite).ToArray();
        int n = xs.Length;
        if (n == 0) return new Interval(double.NaN, null, null, 0);
        double mean = xs.Average();
        if (n < 2) return new Interval(mean, null, null, n);
        double ss = 0;
        foreach (var x in xs) ss += (x - mean) * (x - mean);
        double half = StudentTQuantile(0.975, n - 1) * Math.Sqrt(ss / (n - 1) / n);
        return new Interval(mean, mean - half, mean + half, n);
    }

    /// <summary>Wilson score interval of the share of true outcomes.</summary>
    public static Interval Share(IEnumerable<bool> outcomes)
    {
        int n = 0, k = 0;
        foreach (var o in outcomes) { n++; if (o) k++; }
        if (n == 0) return new Interval(double.NaN, null, null, 0);
        double p = (double)k / n, z2 = Z975 * Z975;
        double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
        double half = Z975 * Math.Sqrt(p * (1 - p) / n + z2 / (4.0 * n * n)) / (1 + z2 / n);
        return new Interval(p, Math.Max(0, centre - half), Math.Min(1, centre + half), n);
    }

    /// <summary>The p-quantile of Student's t with <paramref name="dof"/> degrees of freedom (p in (0.5, 1)), by bisection on the CDF.</summary>
    public static double StudentTQuantile(double p, double dof)
    {
        if (!(p > 0.5 && p < 1)) throw new ArgumentOutOfRangeException(nameof(p), "p must lie in (0.5, 1)");
        if (!(dof > 0)) throw new ArgumentOutOfRangeException(nameof(dof), "degrees of freedom must be positive");
        double lo = 0, hi = 1;
        while (StudentTCdf(hi, dof) < p) hi *= 2;
        for (int i = 0; i < 200 && hi - lo > 1e-12 * hi; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (StudentTCdf(mid, dof) < p) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    /// <summary>P(T ≤ t) = 1 − ½·I_{ν/(ν+t²)}(ν/2, ½) for t ≥ 0, by symmetry otherwise.</summary>
    public static double StudentTCdf(double t, double dof)
    {
        double tail = 0.5 * RegularizedBeta(dof / (dof + t * t), dof / 2, 0.5);
        return t >= 0 ? 1 - tail : tail;
    }

    /// <summary>The regularized incomplete beta function I_x(a, b), by its continued fraction (modified Lentz).</summary>
    public static double RegularizedBeta(double x, double a, double b)
    {
        if (x <= 0) return 0;
        if (x >= 1) return 1;
        // The continued fraction converges fast for x < (a+1)/(a+b+2); use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a) otherwise.
        if (x > (a + 1) / (a + b + 2)) return 1 - RegularizedBeta(1 - x, b, a);
        double logFront = LogGamma(a + b) - LogGamma(a) - LogGamma(b) + a * Math.Log(x) + b * Math.Log(1 - x);
        const double tiny = 1e-300;
        double c = 1, d = 1 - (a + b) * x / (a + 1);
        if (Math.Abs(d) < tiny) d = tiny;
        d = 1 / d;
        double f = d;
        for (int m = 1; m <= 500; m++)
        {
            // Even step: d_{2m} = m(b−m)x / ((a+2m−1)(a+2m)).
            double num = m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
            d = 1 + num * d; if (Math.Abs(d) < tiny) d = tiny; d = 1 / d;
            c = 1 + num / c; if (Math.Abs(c) < tiny) c = tiny;
            f *= c * d;
            // Odd step: d_{2m+1} = −(a+m)(a+b+m)x / ((a+2m)(a+2m+1)).
            num = -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1));
            d = 1 + num * d; if (Math.Abs(d) < tiny) d = tiny; d = 1 / d;
            c = 1 + num / c; if (Math.Abs(c) < tiny) c = tiny;
            double delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-15) break;
        }
        return Math.Exp(logFront) * f / a;
    }

    /// <summary>ln Γ(x) for x &gt; 0 (Lanczos, g = 7, 9 terms; relative error ~1e-15).</summary>
    public static double LogGamma(double x)
    {
        if (x < 0.5) return Math.Log(Math.PI / Math.Abs(Math.Sin(Math.PI * x))) - LogGamma(1 - x);
        ReadOnlySpan<double> g =
        [
            0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
            12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
        ];
        x -= 1;
        double sum = g[0];
        for (int i = 1; i < g.Length; i++) sum += g[i] / (x + i);
        double t = x + 7.5;
        return 0.5 * Math.Log(2 * Math.PI) + (x + 0.5) * Math.Log(t) - t + Math.Log(sum);
    }
}
