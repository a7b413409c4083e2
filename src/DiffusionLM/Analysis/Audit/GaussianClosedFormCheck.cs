using DiffusionLM.Corruption;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Audit;

/// <summary>
/// The outcome of the D2 check of a continuous process: the noise x_t − x_0 drawn in closed form against the noise
/// accumulated by the chain, compared on its mean and its variance (two z statistics, summed as a χ²(2)).
/// </summary>
/// <param name="TheoryVariance">σ(t)² per coordinate, what both should have.</param>
public sealed record GaussianClosedFormCheckResult(
    string Process, double T, int Samples, int ChainSteps, double TheoryVariance,
    double ClosedFormMean, double ChainMean, double ClosedFormVariance, double ChainVariance,
    double MeanZ, double VarianceZ, double Statistic, int DegreesOfFreedom, double PValue)
{
    /// <summary>The closed form is consistent with the chain unless the test rejects at <paramref name="level"/>.</summary>
    public bool Passes(double level = 1e-3) => PValue >= level;
}

/// <summary>
/// D2 for continuous diffusion: q(x_t | x_0) drawn in one shot must be the law of the chain of small Gaussian steps.
/// Both are sampled <c>samples</c> times from the same x_0 ([L, D] vectors, e.g. token embeddings); every coordinate
/// of d = x_t − x_0 is one draw (coordinates are independent given x_0 under isotropic noise). The two pools are
/// compared by a two-sample z test of the means and one of the variances, the latter with the variance of the sample
/// variance estimated from the fourth moment, (m₄ − s⁴)/n, so it assumes no normality. z² + z² is referred to χ²(2).
/// A closed form or chain with the wrong noise law — standard deviations added instead of variances, a drift — is
/// rejected once the sample is large enough.
/// </summary>
public static class GaussianClosedFormCheck
{
    public static GaussianClosedFormCheckResult Run(IContinuousForwardProcess process, Tensor x0, double t, int samples, int chainSteps, Generator g)
    {
        if (x0.ndim != 2 || x0.numel() == 0) throw new DlmException("the closed-form check needs x_0 as a non-empty [length, dim] tensor");
        if (samples < 2) throw new DlmException($"the closed-form check needs at least 2 samples; got {samples}");
        if (chainSteps < 1) throw new DlmException($"the chain needs at least one step; got {chainSteps}");
        if (!(t > 0 && t <= 1)) throw new DlmException($"t must be in (0, 1]; got {t}");
        var times = Enumerable.Range(1, chainSteps).Select(k => k == chainSteps ? t : t * k / chainSteps).ToArray();

        double[] closed, chain;
        double theory;
        using (var scope = NewDisposeScope())
        {
            var clean = x0.to_type(ScalarType.Float64);
            var batch = clean.unsqueeze(0).expand(samples, x0.shape[0], x0.shape[1]).contiguous();
            closed = (process.SampleMarginal(batch, t, g).to_type(ScalarType.Float64) - batch).flatten().data<double>().ToArray();
            chain = (process.SimulateChain(batch, times, g).to_type(ScalarType.Float64) - batch).flatten().data<double>().ToArray();
            theory = process is GaussianProcess gp ? gp.Schedule.Sigma(t) * gp.Schedule.Sigma(t) : double.NaN;
        }
        var (m1, v1, q1) = Moments(closed);
        var (m2, v2, q2) = Moments(chain);
        double meanZ = (m1 - m2) / Math.Sqrt(v1 / closed.Length + v2 / chain.Length);
        double varZ = (v1 - v2) / Math.Sqrt(Math.Max(q1 - v1 * v1, 1e-300) / closed.Length + Math.Max(q2 - v2 * v2, 1e-300) / chain.Length);
        double statistic = meanZ * meanZ + varZ * varZ;
        return new GaussianClosedFormCheckResult(process.Name, t, samples, chainSteps, theory, m1, m2, v1, v2, meanZ, varZ,
            statistic, 2, ChiSquare.UpperTail(statistic, 2));
    }

    /// <summary>Mean, variance and fourth central moment.</summary>
    static (double Mean, double Variance, double Fourth) Moments(double[] x)
    {
        double mean = x.Average(), v = 0, q = 0;
        foreach (var a in x)
        {
            double c = (a - mean) * (a - mean);
            v += c; q += c * c;
        }
        return (mean, v / (x.Length - 1), q / x.Length);
    }
}
