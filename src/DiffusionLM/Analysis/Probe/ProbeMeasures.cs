using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Probe;

/// <summary>
/// Information measures of predicted distributions, on tensors whose last dimension is the vocabulary.
/// Everything is computed in float64 from log-probabilities: KL values near zero (far positions, where
/// the prompt no longer matters) are differences of nearly equal numbers and float32 would drown them.
/// Terms with p = 0 contribute 0 (the limit of p·log p).
/// </summary>
public static class ProbeMeasures
{
    /// <summary>log softmax in float64.</summary>
    public static Tensor LogProbs(Tensor logits) => logits.to_type(ScalarType.Float64).log_softmax(-1);

    /// <summary>H(p) = −Σ p log p, in nats.</summary>
    public static Tensor Entropy(Tensor logp)
    {
        var p = logp.exp();
        return -torch.where(p.gt(0), p * logp, torch.zeros_like(p)).sum(-1);
    }

    /// <summary>KL(p ‖ q) = Σ p (log p − log q), in nats; <paramref name="logq"/> broadcasts against <paramref name="logp"/>.</summary>
    public static Tensor Kl(Tensor logp, Tensor logq)
    {
        var p = logp.exp();
        return torch.where(p.gt(0), p * (logp - logq), torch.zeros_like(p)).sum(-1);
    }

    /// <summary>
    /// KL of p and q both conditioned on "not token <paramref name="id"/>" (renormalised without it): how far
    /// the prediction is from the unigram among the tokens that are not eos. NaN where p puts all its mass on the id.
    /// </summary>
    public static Tensor KlWithout(Tensor logp, Tensor logq, long id)
    {
        var p = logp.exp();
        var keepP = torch.log1p(-p.select(-1, id)).unsqueeze(-1);                // log(1 − p_id)
        var keepQ = torch.log1p(-logq.exp().select(-1, id)).unsqueeze(-1);      // log(1 − q_id)
        var pCond = p / keepP.exp();
        var terms = torch.where(p.gt(0), pCond * ((logp - keepP) - (logq - keepQ)), torch.zeros_like(p));
        var kl = terms.sum(-1) - terms.select(-1, id);
        // 1 − p_id = 0: the conditional distribution does not exist.
        return torch.where(keepP.squeeze(-1).isinf(), torch.full_like(kl, double.NaN), kl);
    }
}
