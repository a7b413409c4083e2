using DiffusionLM.Analysis.Probe;

namespace DiffusionLM.Analysis.Audit;

/// <summary>The chi-square distribution's upper tail, for the p-values of the audit's tests.</summary>
public static class ChiSquare
{
    /// <summary>P(X ≥ x) for X ~ χ²(dof): the regularized upper incomplete gamma Q(dof/2, x/2).</summary>
    public static double UpperTail(double x, double dof)
    {
        if (dof <= 0) throw new ArgumentOutOfRangeException(nameof(dof), dof, "degrees of freedom must be positive");
        if (x <= 0) return 1.0;
        return UpperIncompleteGamma(dof / 2, x / 2);
    }

    /// <summary>Q(a, x): the series of P for x &lt; a + 1, else the continued fraction of Q (Lentz), both to ~1e-15.</summary>
    static double UpperIncompleteGamma(double a, double x)
    {
        double logFront = a * Math.Log(x) - x - ConfidenceInterval.LogGamma(a);
        if (x < a + 1)
        {
            double term = 1.0 / a, sum = term;
            for (int n = 1; n < 10_000 && Math.Abs(term) > Math.Abs(sum) * 1e-16; n++)
            {
                term *= x / (a + n);
                sum += term;
            }
            return Math.Clamp(1.0 - sum * Math.Exp(logFront), 0.0, 1.0);
        }
        const double tiny = 1e-300;
        double b = x + 1 - a, c = 1 / tiny, d = 1 / b, h = d;
        for (int i = 1; i < 10_000; i++)
        {
            double an = -i * (i - a);
            b += 2;
            d = an * d + b; if (Math.Abs(d) < tiny) d = tiny;
            c = b + an / c; if (Math.Abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = d * c;
            h *= delta;
            if (Math.Abs(delta - 1) < 1e-16) break;
        }
        return Math.Clamp(Math.Exp(logFront) * h, 0.0, 1.0);
    }
}
