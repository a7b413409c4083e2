using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption.Masking;

/// <summary>
/// Ours: a masked process whose per-token masking rate follows the information the token carries. A clean token
/// v keeps with α_t(v) = 1 − t^{λ(v)}; λ(v) = exp(−β·z(v)) with z(v) the standardised self-information
/// −log p̂(v) of v under the training unigram (see <see cref="TokenScores.InformationRates"/>). With β &gt; 0 a token that
/// carries more information (a rare one) has a smaller λ and so a larger mask probability t^λ at every t &lt; 1: it is
/// hidden early and revealed late, once its context is back; frequent, predictable tokens are hidden last and come back
/// first. At t = 0 nothing is masked and at t = 1 everything is, for every v.
/// <para><b>Closed form (D2).</b> Positions are independent given x_0, and position i is masked at t with probability
/// t^{λ(x_0^i)}; between s &lt; t a visible token is masked with probability 1 − (1 − t^λ)/(1 − s^λ), whose product
/// over a grid telescopes to the closed form (ClosedFormCheck compares the two).</para>
/// <para><b>The bound (derivation).</b> Each position is a two-state chain (x_0 → m) with a rate that depends on x_0.
/// Its time reversal, given x_0, unmasks at rate w_t(x_0) = −α'_t(x_0)/(1 − α_t(x_0)) = λ(x_0)/t. Given only x_t,
/// the true reverse rate into v at a masked position is p(x_0^i = v | x_t)·w_t(v). The model's reverse process uses
/// R̂(m → v) = μθ(v | x_t)·w_t(v), with μθ = softmax of the denoiser's logits. The continuous-time ELBO of a CTMC
/// (Campbell et al. 2022; the per-path KL between the true and the model's reverse processes) is
/// −log pθ(x_0) ≤ ∫_0^1 E_{x_t∼q(·|x_0)} Σ_{i masked} [ Σ_v R̂(m→v) − R(m→x_0^i) + R(m→x_0^i)·log(R(m→x_0^i)/R̂(m→x_0^i)) ] dt
/// (the prior term vanishes: at t = 1 every token is masked under both processes), with R(m→x_0^i) = w_t(x_0^i) the
/// rate given x_0. Substituting gives, per masked position,
/// w_t(x_0)·(−log μθ(x_0 | x_t)) + Σ_v μθ(v | x_t)·w_t(v) − w_t(x_0),
/// which is <see cref="RateMaskingProcess.MaskedTerms"/>: the cross-entropy weighted by the token's own rate, plus a
/// rate-matching term (the GenMD4 form of Shi et al. 2024, eq. 11). When λ is constant the last two terms cancel and it
/// is the usual (1/t)·CE. Setting the derivative in μ_v to zero, −p(v | x_t)·w_t(v)/μ_v + w_t(v) = 0, the minimiser is
/// μ_v = p(x_0^i = v | x_t), the true posterior, which here includes the evidence that the position is still masked (p(v | x_vis)·t^{λ(v)}, renormalised); at that minimiser
/// the bound equals −log p(x_0) in expectation (the HMM testbed checks this within its standard error). Without the
/// rate-matching term the minimiser would be tilted by w_t(v) and the loss would fall below the NLL: not a bound.</para>
/// </summary>
public sealed class InformationMasking(int maskId, double[] exponents, double eps = 1e-3) : RateMaskingProcess(maskId, eps), ITokenDependentMasking
{
    /// <summary>β: how strongly the rate follows the information (the exponents are e^{−β·z}).</summary>
    public const double DefaultStrength = 0.5;

    public override string Corruption => MaskedCorruption.Information.Spelling;
    /// <summary>λ(v) per vocabulary entry.</summary>
    public double[] Exponents { get; } = exponents;
    Tensor? _table;
    Tensor Table => _table ??= tensor(Exponents, dtype: ScalarType.Float64).DetachFromDisposeScope();

    Tensor Lambda(Tensor x0) => Table.index_select(0, x0.flatten()).view(x0.shape);

    public override Tensor MaskProbability(Tensor x0, Tensor t, Tensor? promptMask)
    {
        using var scope = NewDisposeScope();
        return Column(t).pow(Lambda(x0)).MoveToOuterDisposeScope();
    }

    public override Tensor RateWeight(Tensor x0, Tensor t, Tensor? promptMask)
    {
        using var scope = NewDisposeScope();
        return (Lambda(x0) / Column(t)).MoveToOuterDisposeScope();
    }

    public override Tensor? VocabularyRateWeights(Tensor t, long vocabSize)
    {
        if (vocabSize != Exponents.Length) throw new DlmException($"corruption \"information\": {Exponents.Length} rates for logits over {vocabSize} tokens");
        using var scope = NewDisposeScope();
        return (Table.view(1, -1) / Column(t)).MoveToOuterDisposeScope();
    }

    /// <summary>log m_t(v) = λ(v)·log t.</summary>
    public Tensor LogMaskProbabilities(Tensor t, long vocabSize)
    {
        if (vocabSize != Exponents.Length) throw new DlmException($"corruption \"information\": {Exponents.Length} rates for logits over {vocabSize} tokens");
        using var scope = NewDisposeScope();
        return (Table.view(1, -1) * Column(t).log()).MoveToOuterDisposeScope();
    }

    /// <summary>Solves Σ_v p(v)·t^{λ(v)} = share for t by bisection (the sum rises from 0 at t = 0 to 1 at t = 1).</summary>
    public double TimeOfMaskedShare(double share, double[] unigram)
    {
        if (unigram.Length != Exponents.Length) throw new DlmException($"corruption \"information\": a unigram of {unigram.Length} entries for {Exponents.Length} rates");
        if (share <= 0) return 0;
        if (share >= 1) return 1;
        double total = unigram.Sum();
        double Expected(double t) => unigram.Select((p, v) => p * Math.Pow(t, Exponents[v])).Sum() / total;
        double lo = 0, hi = 1;
        for (int i = 0; i < 60; i++)
        {
            double mid = 0.5 * (lo + hi);
            if (Expected(mid) < share) lo = mid; else hi = mid;
        }
        return 0.5 * (lo + hi);
    }

    public override double AnalyticInformation(double t, double[] unigram, Generator g)
        => TokenDependentInformation(unigram, v => Math.Pow(t, v < Exponents.Length ? Exponents[v] : 1.0));
}
