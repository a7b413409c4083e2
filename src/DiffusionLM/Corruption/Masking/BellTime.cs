using static TorchSharp.torch;

namespace DiffusionLM.Corruption.Masking;

/// <summary>
/// The bell-shaped time sampling of Hong et al. 2026 ("Understanding and Accelerating the Training of Masked Diffusion
/// Language Models", arXiv 2605.13026): the training loss draws t from a bell on (0, 1) instead of uniformly, so that
/// fewer steps go to nearly clean inputs (t → 0, where the 1/t weight is largest but a token's neighbours are all
/// visible) and to nearly empty ones (t → 1, where no local context is left). The exact density of the paper was not
/// findable here; the form used is Beta(2, 2), p(t) = 6t(1 − t), drawn by its quantile from MDLM's antithetic u, and the
/// 1/t weight is kept (no importance correction), so the loss is the ELBO reweighted by 6t(1 − t): not a bound.
/// </summary>
public static class BellTime
{
    /// <summary>
    /// The Beta(2, 2) quantile: F(t) = 3t² − 2t³ = u solved in closed form (the depressed cubic of s = t − ½ has
    /// three real roots; the one in [−½, ½] is cos((arccos(1 − 2u) − 2π)/3)).
    /// </summary>
    public static Tensor Quantile(Tensor u)
    {
        using var scope = NewDisposeScope();
        var theta = (1.0 - 2.0 * u.clamp(0.0, 1.0)).clamp(-1.0, 1.0).arccos();
        return (0.5 + ((theta - 2.0 * Math.PI) / 3.0).cos()).clamp(0.0, 1.0).MoveToOuterDisposeScope();
    }

    public static double Quantile(double u)
    {
        double theta = Math.Acos(Math.Clamp(1.0 - 2.0 * u, -1.0, 1.0));
        return Math.Clamp(0.5 + Math.Cos((theta - 2.0 * Math.PI) / 3.0), 0.0, 1.0);
    }

    public static double Cdf(double t) => t <= 0 ? 0 : t >= 1 ? 1 : 3 * t * t - 2 * t * t * t;
}
