using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>
/// The uniform family's objective: UDLM's continuous-time ELBO (Schiff et al. 2024, "Simple Guidance Mechanisms
/// for Discrete Diffusion Models", eq. for L∞), derived here for any schedule α_t and a draw set of K tokens.
/// </summary>
/// <remarks>
/// <para><b>Parameterisation.</b> The network's softmax over the K tokens, x_θ, is UDLM's: it plays the part of a
/// prior over x_0 that the corrupted token x_t itself is then added to by Bayes' rule,
/// p_θ(x_0 | x_t) ∝ x_θ(x_0)·q(x_t | x_0) ∝ x_θ(x_0)·(Kα_t[x_0 = x_t] + 1 − α_t). Per position the exact posterior
/// has this form with x_θ = p(x_0 | the other positions of x_t), since x_t^i depends on the sequence only through
/// x_0^i; so nothing is lost, and the network is spared learning the likelihood of its own input token (which
/// would otherwise have to become a point mass at x_t as t → 0, where the rates below grow like 1/t).
/// <see cref="PosteriorLogProbabilities"/> is that posterior; <see cref="DenoiseAt"/> and the sampler use it.</para>
/// <para><b>The bound.</b> The forward chain mixes at rate β_t = −α'_t/α_t: every token jumps to each of the K
/// tokens at rate β_t/K. Given x_0, the reverse chain jumps from x to y ≠ x at rate (β_t/K)·r_y with
/// r_y = x̄_y/x̄_x, where x̄ = Kα_t·onehot(x_0) + (1 − α_t) is K·q(· | x_0); the model's reverse rate is the same
/// with x̄^θ = Kα_t·x_θ + (1 − α_t), i.e. the true rate averaged over p_θ(x_0 | x_t). The ELBO per unit time is
/// the KL rate between the two chains (Campbell et al. 2022; SEDD's score entropy):
/// L_t = (β_t/K)·Σ_{y≠x} [r^θ_y − r_y + r_y·log(r_y / r^θ_y)] ≥ 0,
/// which is UDLM's (α'_t/(Kα_t))·(term1 − term2) term for term, with Σ_y x̄_y = Σ_y x̄^θ_y = K.</para>
/// <para><b>The ends, exactly.</b> The integral runs over [ε, 1 − ε] and the two ends are closed exactly rather than
/// dropped: −log p(x_0) ≤ E_{x_ε}[−log p_θ(x_0 | x_ε)] + ∫_ε^{1−ε} E L_t dt + KL(q(x_{1−ε} | x_0) ‖ U_K). The first term
/// (reconstruction) is the decoder the sampler's last step uses; it is O(ε) for any reasonable x_θ, because the
/// Bayes factor Kα_ε/(1 − α_ε) ≈ K/ε pins the posterior to x_ε, but it is estimated, not assumed. The last (prior)
/// term is in closed form (<see cref="PriorKl"/>): ≈ (K − 1)·α²/2 with α = α_{1−ε} (linear: ε), 2.5e-4 nats for
/// K = 500. Cutting at 1 − ε also keeps β_t = 1/α_t (linear schedule) finite: at t = 1 it is 0·∞ (L_t → 0 like α_t).
/// Each row of a batch draws one antithetic u (as <see cref="MaskedProcess.SampleTimes"/>); u below a share w
/// makes it a reconstruction row (weight 1/w), the rest map onto [ε, 1 − ε] (weight (1 − 2ε)/(1 − w)), so the
/// estimate is unbiased for the whole bound and, with w = 1/B, exactly one row per batch reconstructs.</para>
/// <para>Positions whose clean token lies outside the set (a special token in the text) are left clean and not
/// counted, like prompt positions: the uniform kernel has no state for them.</para>
/// </remarks>
public sealed partial class UniformProcess : IDiffusionObjective
{
    /// <summary>The ELBO's time cut-off at both ends: the integral covers [ε, 1 − ε]; see the remarks.</summary>
    public double Eps { get; }

    /// <summary>Last time of the integral, where the prior term is taken.</summary>
    public double MaxTime => 1.0 - Eps;

    /// <summary>Times of a batch: per row t, whether it is a reconstruction row, and the weight of its term.</summary>
    public sealed record TimeDraw(double[] Times, bool[] Reconstruction, double[] Weights);

    /// <summary>Antithetic u_i = (u + i/B) mod 1; u_i &lt; w reconstructs at ε, the rest map onto [ε, 1 − ε]; w = 1/max(B, 2).</summary>
    public TimeDraw SampleTimes(long batch, Generator g)
    {
        double u0 = rand(1, dtype: ScalarType.Float64, generator: g).item<double>();
        double w = 1.0 / Math.Max(batch, 2);
        var times = new double[batch];
        var recon = new bool[batch];
        var weights = new double[batch];
        for (int i = 0; i < batch; i++)
        {
            double u = (u0 + (double)i / batch) % 1.0;
            recon[i] = u < w;
            times[i] = recon[i] ? Eps : Eps + (MaxTime - Eps) * (u - w) / (1 - w);
            weights[i] = recon[i] ? 1.0 / w : (MaxTime - Eps) / (1 - w);
        }
        return new TimeDraw(times, recon, weights);
    }

    public Tensor Loss(IDenoiser model, TrainingBatch batch, Generator g)
    {
        using var scope = NewDisposeScope();
        long b = batch.Ids.shape[0];
        var draw = SampleTimes(b, g);
        var counted = Counted(batch.Ids, batch.PromptMask);
        var times = tensor(draw.Times, dtype: ScalarType.Float64);
        var sample = Corrupt(batch.Ids, times, counted.logical_not(), g);
        var logits = model.Logits(sample.Noisy, time: model.Config.TimeConditioning ? times.to_type(ScalarType.Float32) : null);
        var terms = TokenTerms(SetLogProbabilities(logits), sample.Noisy, batch.Ids, draw);
        var mask = counted.to_type(ScalarType.Float64);
        var n = mask.sum(1);
        var perRow = (terms * mask).sum(1) / n.clamp_min(1) + PriorKl(Schedule.Alpha(MaxTime)) * n.gt(0).to_type(ScalarType.Float64);
        return perRow.mean().to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>Positions that are corrupted and counted: not prompt, and a clean token of the set.</summary>
    public Tensor Counted(Tensor x0, Tensor? promptMask)
    {
        var inSet = SetIndexOf(x0).ge(0);
        return promptMask is null ? inSet : inSet & promptMask.logical_not();
    }

    /// <summary>Each position's term of the bound, already weighted: [B, L] float64 (meaningless where not counted).</summary>
    Tensor TokenTerms(Tensor logX, Tensor noisy, Tensor x0, TimeDraw draw)
    {
        int k = K;
        var alpha = tensor(draw.Times.Select(Schedule.Alpha).ToArray(), dtype: ScalarType.Float64).view(-1, 1);
        var beta = tensor(draw.Times.Select(t => -Schedule.AlphaDerivative(t) / Schedule.Alpha(t)).ToArray(), dtype: ScalarType.Float64).view(-1, 1);
        var ka = alpha * k;
        var keepOut = 1.0 - alpha;                                  // b = 1 − α_t
        var xi = SetIndexOf(noisy).clamp_min(0);
        var zi = SetIndexOf(x0).clamp_min(0);
        var same = xi.eq(zi);

        // log x̄^θ_y = log(Kα·x_θ(y) + b) = log b + softplus(log x_θ(y) + log(Kα/b)), stable at both ends.
        var logBarTheta = keepOut.log().unsqueeze(-1) + nn.functional.softplus(logX + (ka / keepOut).log().unsqueeze(-1));
        var sumLogBarTheta = logBarTheta.sum(-1);
        var logBarThetaX = logBarTheta.gather(-1, xi.unsqueeze(-1)).squeeze(-1);
        var logBarThetaZ = logBarTheta.gather(-1, zi.unsqueeze(-1)).squeeze(-1);
        var barZ = ka + keepOut;                                     // x̄ at y = x_0
        var barX = where(same, barZ.expand_as(logBarThetaX), keepOut.expand_as(logBarThetaX));
        var sumRLogR = (barZ * (barZ / barX).log() + (k - 1) * keepOut * (keepOut / barX).log()) / barX;
        var sumRLogRTheta = (keepOut * sumLogBarTheta + ka * logBarThetaZ) / barX - k / barX * logBarThetaX;
        var rate = beta / k * (k * (-logBarThetaX).exp() - k / barX + sumRLogR - sumRLogRTheta);

        // −log p_θ(x_0 | x_ε) = −[log x_θ(x_0) + log(Kα[x_0 = x_ε] + b) − log x̄^θ_{x_ε}].
        var logLikelihood = where(same, barZ.expand_as(logBarThetaX), keepOut.expand_as(logBarThetaX)).log();
        var recon = -(logX.gather(-1, zi.unsqueeze(-1)).squeeze(-1) + logLikelihood - logBarThetaX);

        var isRecon = tensor(draw.Reconstruction).view(-1, 1);
        var weights = tensor(draw.Weights, dtype: ScalarType.Float64).view(-1, 1);
        return where(isRecon, recon, rate) * weights;
    }

    /// <summary>KL(q(x_T | x_0) ‖ uniform over the K tokens) in nats for x_0 in the set, where α = α_T.</summary>
    public double PriorKl(double alpha)
    {
        double stay = alpha + (1 - alpha) / K, other = (1 - alpha) / K;
        double kl = stay * Math.Log(K * stay);
        if (other > 0) kl += (K - 1) * other * Math.Log(K * other);
        return kl;
    }

    /// <summary>[..] int64: each id's index in <see cref="Tokens"/>, −1 outside the set.</summary>
    public Tensor SetIndexOf(Tensor ids) => setIndex.index_select(0, ids.flatten()).view(ids.shape);

    /// <summary>[..] int64: the ids of set indices.</summary>
    public Tensor TokensOf(Tensor indices) => tokenTable.index_select(0, indices.flatten()).view(indices.shape);

    /// <summary>log x_θ: the denoiser's logits restricted to the K tokens (special tokens are −∞), float64 [.., K].</summary>
    public Tensor SetLogProbabilities(Tensor logits) =>
        logits.index_select(-1, tokenTable).to_type(ScalarType.Float64).log_softmax(-1);

    /// <summary>
    /// log p_θ(x_0 | x_t) over the K tokens ([.., K] float64): x_θ times the likelihood of the token seen,
    /// Kα_t[x_0 = x_t] + 1 − α_t, normalised. <paramref name="alpha"/> broadcasts against x_t's index ([B, 1] or a scalar);
    /// where x_t is outside the set (a protected special token) x_θ is returned as is.
    /// </summary>
    public Tensor PosteriorLogProbabilities(Tensor logX, Tensor noisy, Tensor alpha)
    {
        using var scope = NewDisposeScope();
        var xi = SetIndexOf(noisy);
        var oneHot = nn.functional.one_hot(xi.clamp_min(0), K).to_type(ScalarType.Float64) * xi.ge(0).unsqueeze(-1).to_type(ScalarType.Float64);
        var a = alpha.to_type(ScalarType.Float64).unsqueeze(-1);
        var likelihood = (a * K * oneHot + (1.0 - a)).log();
        return (logX + likelihood).log_softmax(-1).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The ancestral step p(x_s | x_t) = Σ_{x_0} q(x_s | x_t, x_0)·π(x_0) for s &lt; t, over the K tokens ([.., K] float64),
    /// given π = p_θ(x_0 | x_t) ([.., K]) and x_t's set index <paramref name="xtIndex"/> ([..]). With Bayes' rule
    /// q(x_s = j | x_t = i, x_0 = z) = q(i | j)·q(j | z)/q(i | z), where q(i | j) = A[i = j] + (1 − A)/K, A = α_t/α_s,
    /// q(j | z) = α_s[j = z] + (1 − α_s)/K and q(i | z) = d_z = α_t[i = z] + (1 − α_t)/K, the sum over z is closed:
    /// p(j) = q(i | j)·[α_s·π(j)/d_j + ((1 − α_s)/K)·(π(i)/d_i + (1 − π(i))/e)], with d_i = α_t + (1 − α_t)/K and
    /// d_z = e = (1 − α_t)/K for z ≠ i. At s = 0 (α_s = 1) it is π itself. Needs t &gt; 0 (e &gt; 0 or α_t = 1 never met).
    /// </summary>
    public Tensor ReverseProbabilities(Tensor posterior, Tensor xtIndex, double alphaS, double alphaT)
    {
        if (!(alphaS > 0 && alphaS >= alphaT && alphaT < 1))
            throw new DlmException($"a reverse step needs 0 < α_t ≤ α_s with α_t < 1 (got α_s = {alphaS}, α_t = {alphaT})");
        using var scope = NewDisposeScope();
        int k = K;
        double a = alphaT / alphaS, di = alphaT + (1 - alphaT) / k, e = (1 - alphaT) / k;
        var pi = posterior.to_type(ScalarType.Float64);
        var oneHot = nn.functional.one_hot(xtIndex, k).to_type(ScalarType.Float64);
        var piI = (pi * oneHot).sum(-1, keepdim: true);
        var d = oneHot * di + (1 - oneHot) * e;
        var inner = alphaS * pi / d + (1 - alphaS) / k * (piI / di + (1 - piI) / e);
        var forward = oneHot * a + (1 - a) / k;
        return (forward * inner).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// I(x_t; x_0) for x_0 ~ <paramref name="unigram"/> (over all V ids), exactly: H(x_t) − H(x_t | x_0), with
    /// q(x_t = j) = α·u_j + (1 − α)[j ∈ set]/K. A clean id of the set stays with α + (1 − α)/K and moves to each other
    /// set id with (1 − α)/K; an id outside the set stays with α and moves to each set id with (1 − α)/K.
    /// </summary>
    public double AnalyticInformation(double t, double[] unigram, Generator g)
    {
        if (unigram.Length != VocabSize) throw new DlmException($"the unigram has {unigram.Length} entries, the vocabulary {VocabSize}");
        double a = Schedule.Alpha(t), move = (1 - a) / K;
        double hx = 0, hCond = 0;
        for (int j = 0; j < VocabSize; j++)
        {
            double u = unigram[j];
            bool inSet = InSet(j);
            double q = a * u + (inSet ? move : 0);
            hx -= Xlogx(q);
            if (u <= 0) continue;
            double rowEntropy = inSet
                ? -Xlogx(a + move) - (K - 1) * Xlogx(move)
                : -Xlogx(a) - K * Xlogx(move);
            hCond += u * rowEntropy;
        }
        return Math.Max(0, hx - hCond);
    }

    static double Xlogx(double v) => v > 0 ? v * Math.Log(v) : 0;

    /// <summary>
    /// Corrupts at one time t and returns p_θ(x_0 | x_t) as logits [B, L, V] (log-probabilities; −∞ off the set):
    /// the network's x_θ with the corrupted token's evidence added (see the remarks). Every counted position is corrupted.
    /// </summary>
    public (Tensor Logits, Tensor Corrupted) DenoiseAt(IDenoiser model, Tensor x0, double t, Tensor? protectedMask, Generator g)
    {
        using var scope = NewDisposeScope();
        var counted = Counted(x0, protectedMask);
        var times = full(new long[] { x0.shape[0] }, t, dtype: ScalarType.Float64);
        var sample = Corrupt(x0, times, counted.logical_not(), g);
        var logits = model.Logits(sample.Noisy, time: model.Config.TimeConditioning ? times.to_type(ScalarType.Float32) : null);
        var post = PosteriorLogProbabilities(SetLogProbabilities(logits), sample.Noisy, tensor(Schedule.Alpha(t), dtype: ScalarType.Float64));
        var offSet = torch.full(new long[] { x0.shape[0], x0.shape[1], VocabSize }, float.NegativeInfinity, dtype: ScalarType.Float32);
        var expanded = tokenTable.view(1, 1, -1).expand(x0.shape[0], x0.shape[1], K);
        var result = offSet.scatter(-1, expanded, post.to_type(ScalarType.Float32));
        return (result.MoveToOuterDisposeScope(), counted.MoveToOuterDisposeScope());
    }
}
