using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Sampling;

/// <summary>Distribution helpers the samplers share (all draws from an explicit generator).</summary>
internal static class Categorical
{
    /// <summary>
    /// One draw per row of the last dimension from probabilities <paramref name="probs"/> (float64,
    /// rows need not be normalised): the exponential race argmax p / E with E = -log u, the same
    /// distribution as torch.multinomial / Categorical.sample, from our generator.
    /// </summary>
    public static Tensor Sample(Tensor probs, Generator g)
    {
        var p64 = probs.to_type(ScalarType.Float64);
        var u = torch.rand(p64.shape, dtype: ScalarType.Float64, device: p64.device, generator: g);
        // 1e-300 keeps log(0) away; u = 0 has probability ~2^-53 per entry.
        var e = u.clamp_min(1e-300).log().neg_();
        return p64.div(e).argmax(-1);
    }

    /// <summary>
    /// k distinct indices drawn without replacement with probabilities proportional to <paramref name="weights"/>
    /// (1-D): Gumbel-top-k, which has the law of sequential draws without replacement (torch.multinomial
    /// with replacement=False). Zero-weight entries are only drawn when fewer than k have weight.
    /// </summary>
    public static long[] WithoutReplacement(Tensor weights, int k, Generator g)
    {
        if (k == 0) return [];
        using var scope = torch.NewDisposeScope();
        var w = weights.to_type(ScalarType.Float64);
        var u = torch.rand(w.shape, dtype: ScalarType.Float64, generator: g, device: w.device).clamp_min(1e-300);
        var keys = w.log() - u.log().neg().log();
        var (_, idx) = torch.topk(keys, k);
        return idx.data<long>().ToArray();
    }

    /// <summary>Dream's top_p_logits: keep the smallest prefix of sorted tokens whose mass exceeds p (the first always).</summary>
    public static Tensor TopP(Tensor logits, double topP)
    {
        var (sorted, indices) = torch.sort(logits, dim: -1, descending: true);
        var cum = torch.softmax(sorted, -1).cumsum(-1);
        var remove = cum.gt(topP);
        // Shift right so the token that crosses p is kept.
        remove = torch.cat(new[] { torch.zeros_like(remove.narrow(-1, 0, 1)), remove.narrow(-1, 0, remove.shape[^1] - 1) }, -1);
        var mask = torch.zeros_like(remove).scatter(-1, indices, remove);
        return logits.masked_fill(mask, float.MinValue);
    }

    /// <summary>Dream's top_k_logits: logits below the k-th largest get the dtype's minimum.</summary>
    public static Tensor TopK(Tensor logits, int topK)
    {
        int k = (int)Math.Min(topK, logits.shape[^1]);
        var (vals, _) = torch.topk(logits, k);
        var kth = vals.narrow(-1, k - 1, 1);
        return logits.masked_fill(logits.lt(kth), float.MinValue);
    }

    /// <summary>Sets the mask token's logit to -inf: a denoiser's prediction never is the mask.</summary>
    public static Tensor NoMask(Tensor logits, long maskId) =>
        logits.index_fill(-1, torch.tensor(new long[] { maskId }), double.NegativeInfinity);
}
