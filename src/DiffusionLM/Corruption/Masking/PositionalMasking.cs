using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption.Masking;

/// <summary>
/// A schedule per position (the family of AR-Diffusion and Hyperschedules): position i of the corruptible span
/// keeps its token with α_t^(i) = 1 − t^{λ_i}, where u_i ∈ [0, 1] is its distance from the prompt (0 next to the
/// prompt, or at the start of a window without one; 1 at the far end) and λ_i = e^{γ(1/2 − u_i)} (γ = 2 by
/// default: λ from e to 1/e). For t &lt; 1, t^λ falls with λ, so far positions are masked earlier; every position is
/// clean at t = 0 and masked at t = 1.
/// <para>
/// The rate w_i = −α'/(1 − α) = λ_i·t^{λ_i−1}/t^{λ_i} = λ_i/t depends on the position only, which the denoiser
/// sees, so the weighted cross-entropy Σ_masked (λ_i/t)·CE_i is each position's own masked-chain ELBO: a bound.
/// </para>
/// </summary>
public sealed class PositionalMasking(int maskId, double gamma = 2.0, double eps = 1e-3) : RateMaskingProcess(maskId, eps)
{
    public override string Corruption => MaskedCorruption.Positional.Spelling;
    public double Gamma { get; } = gamma;

    /// <summary>λ_i per position [B, L] float64: the prompt (a prefix) is where u counts from.</summary>
    public Tensor Exponents(Tensor x0, Tensor? promptMask)
    {
        using var scope = NewDisposeScope();
        long b = x0.shape[0], l = x0.shape[1];
        var pos = arange(l, dtype: ScalarType.Float64).view(1, -1).expand(b, l);
        var start = promptMask is null ? zeros(b, 1, dtype: ScalarType.Float64) : promptMask.sum(1, type: ScalarType.Float64).view(-1, 1);
        var span = (l - 1.0 - start).clamp_min(1.0);
        var u = ((pos - start) / span).clamp(0.0, 1.0);
        return (Gamma * (0.5 - u)).exp().MoveToOuterDisposeScope();
    }

    public override Tensor MaskProbability(Tensor x0, Tensor t, Tensor? promptMask)
    {
        using var scope = NewDisposeScope();
        return Column(t).pow(Exponents(x0, promptMask)).MoveToOuterDisposeScope();
    }

    public override Tensor RateWeight(Tensor x0, Tensor t, Tensor? promptMask)
    {
        using var scope = NewDisposeScope();
        return (Exponents(x0, promptMask) / Column(t)).MoveToOuterDisposeScope();
    }

    /// <summary>Masking is an erasure channel per position: I = α_t^(i)·H, averaged over a span of positions u ∈ [0, 1].</summary>
    public override double AnalyticInformation(double t, double[] unigram, TorchSharp.torch.Generator g)
    {
        const int grid = 64;
        double h = MaskedProcess.Entropy(unigram), sum = 0;
        for (int k = 0; k < grid; k++)
        {
            double u = (double)k / (grid - 1);
            sum += 1.0 - Math.Pow(t, Math.Exp(Gamma * (0.5 - u)));
        }
        return h * sum / grid;
    }
}
