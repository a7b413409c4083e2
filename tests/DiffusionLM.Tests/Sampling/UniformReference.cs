namespace DiffusionLM.Tests.Sampling;

/// <summary>
/// The uniform family's laws for K tokens and the linear schedule α_t = 1 − t, written out in float64 from the
/// kernel's definition alone, q(x_t = j | x_0 = z) = α_t·[j = z] + (1 − α_t)/K, with every sum over x_0 done by
/// brute force. Independent of UniformProcess: the tests compare the sampler and the objective with these.
/// </summary>
static class UniformReference
{
    /// <summary>q(j | z) for a keep probability α.</summary>
    public static double Kernel(double alpha, int z, int j, int k) => (z == j ? alpha : 0) + (1 - alpha) / k;

    /// <summary>p(x_0 = z | x_t) ∝ x_θ(z)·q(x_t | z): Bayes' rule with x_θ as the prior.</summary>
    public static double[] Posterior(double[] xTheta, int xt, double t)
    {
        int k = xTheta.Length;
        var w = Enumerable.Range(0, k).Select(z => xTheta[z] * Kernel(1 - t, z, xt, k)).ToArray();
        double sum = w.Sum();
        return w.Select(v => v / sum).ToArray();
    }

    /// <summary>
    /// The ancestral step p(x_s = j | x_t) = Σ_z p(x_0 = z | x_t)·q(x_t | x_s = j)·q(x_s = j | z)/q(x_t | z), s &lt; t,
    /// where q(x_t | x_s) keeps with α_t/α_s. At s = 0 it is the posterior itself.
    /// </summary>
    public static double[] Step(double[] xTheta, int xt, double t, double s)
    {
        int k = xTheta.Length;
        double alphaT = 1 - t, alphaS = 1 - s, a = alphaT / alphaS;
        var post = Posterior(xTheta, xt, t);
        return Enumerable.Range(0, k).Select(j => Enumerable.Range(0, k).Sum(z =>
            post[z] * Kernel(a, j, xt, k) * Kernel(alphaS, z, j, k) / Kernel(alphaT, z, xt, k))).ToArray();
    }
}
