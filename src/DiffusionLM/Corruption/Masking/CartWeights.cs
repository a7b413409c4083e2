using static TorchSharp.torch;

namespace DiffusionLM.Corruption.Masking;

/// <summary>
/// Dream's context-adaptive token-level noise rescheduling (CART; Ye et al. 2025, "Dream 7B", the loss weight of its
/// training recipe, as reproduced by ZHZisZZ/dllm's Dream trainer): a masked position i is weighted by how much
/// visible context sits near it,
/// w_i = ½ Σ_{j ≠ i, x_t^j visible} p·(1 − p)^{|i − j| − 1},
/// a geometric kernel in the distance (p = 0.3), in place of the ELBO's 1/t. Visible positions get 0. A masked token
/// next to visible ones on both sides gets about p, one deep inside a masked span almost nothing. The weight depends
/// on x_t only, not on t, so the loss is no longer the ELBO (no bound is claimed for it).
/// </summary>
public static class CartWeights
{
    public const double DefaultP = 0.3;

    /// <param name="masked">[B, L] bool: the positions masked in x_t (prompt positions count as visible).</param>
    /// <returns>[B, L] float64 weights, zero at visible positions.</returns>
    public static Tensor Compute(Tensor masked, double p = DefaultP)
    {
        if (!(p > 0 && p <= 1)) throw new DlmException($"CART's geometric p must be in (0, 1]; got {p}");
        using var scope = NewDisposeScope();
        long l = masked.shape[1];
        var idx = arange(l, dtype: ScalarType.Float64);
        var distance = (idx.view(1, -1) - idx.view(-1, 1)).abs();
        var kernel = (Math.Log(p) + (distance - 1).clamp_min(0) * Math.Log(1 - Math.Min(p, 1 - 1e-12))).exp() * 0.5;
        kernel = kernel.masked_fill(distance == 0, 0.0);
        var maskedF = masked.to_type(ScalarType.Float64);
        var visible = 1.0 - maskedF;
        return (visible.matmul(kernel) * maskedF).MoveToOuterDisposeScope();
    }
}
