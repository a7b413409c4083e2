using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>
/// Continuous diffusion on token embeddings (CDCD, Dieleman et al. 2022; Diffusion-LM, Li et al. 2022): x_0 is the
/// sequence of normalised embeddings e_{x0} (‖e‖ = √D), x_t = x_0 + σ(t)·ε (<see cref="GaussianSchedule"/>, VE),
/// and the denoiser predicts x_0 as a distribution over the vocabulary. Training minimises CDCD's surrogate, the
/// cross-entropy of that prediction, with self-conditioning and adaptive time warping; the likelihood bound that
/// <c>dlm eval</c> reports is <see cref="NegativeElbo"/>, the continuous-time VDM bound written for VE noise.
/// </summary>
/// <param name="embeddingsOf">the model whose embedding table <see cref="AnalyticInformation"/> measures; the
/// other members take the model as an argument and work without it.</param>
/// <param name="conditioningRate">share of pre-training rows (no SFT prompt) that keep a random clean prefix, so the
/// model learns to read a prompt as CDCD trains with conditioning masks; those positions leave the loss.</param>
/// <param name="selfConditioningRate">share of training steps whose second pass sees the first pass's x_0 estimate.</param>
public sealed class GaussianProcess(GaussianSchedule schedule, IContinuousDenoiser? embeddingsOf = null,
    double conditioningRate = 0.5, double selfConditioningRate = 0.5) : IDiffusionObjective, IContinuousForwardProcess
{
    public string Name => DiffusionProcess.Gaussian.Spelling;
    public GaussianSchedule Schedule { get; } = schedule;

    public static GaussianProcess ForModel(ModelConfig config, IDenoiser? model) =>
        new(GaussianSchedule.FromConfig(config), model as IContinuousDenoiser);

    static IContinuousDenoiser Continuous(IDenoiser model) => model as IContinuousDenoiser
        ?? throw new DlmException($"the gaussian process needs a denoiser of embeddings; {model.GetType().Name} reads token ids");

    /// <summary>x_t = e + σ(t)·ε at every position outside <paramref name="clean"/>, e itself inside; e [B, L, D], t [B].</summary>
    public Tensor Noise(Tensor e, Tensor t, Tensor? clean, Generator g)
    {
        using var scope = NewDisposeScope();
        var sigma = Schedule.Sigma(t.to_type(ScalarType.Float64)).to_type(ScalarType.Float32).view(-1, 1, 1);
        var eps = randn(e.shape, dtype: ScalarType.Float32, generator: g);
        var xt = e + sigma * eps;
        if (clean is not null) xt = where(clean.to_type(ScalarType.Bool).unsqueeze(-1), e, xt);
        return xt.MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The denoiser's x_0 logits at x_t ([B, L, D]) and times t ([B] float32), handing it the input scale c_in(σ(t)) of
    /// this schedule: the model reads values, not the schedule. Every caller of <see cref="IContinuousDenoiser.LogitsFromNoisy"/> goes through here.
    /// </summary>
    public Tensor Logits(IContinuousDenoiser m, Tensor xt, Tensor t, Tensor? selfCond = null, Tensor? clean = null, Tensor? attentionMask = null)
    {
        using var scale = Schedule.InputScaleAt(t);
        return m.LogitsFromNoisy(xt, t, scale, selfCond, clean, attentionMask);
    }

    /// <summary>
    /// Token ids read by a gaussian denoiser: their clean embeddings taken as a noise-free x_t at <paramref name="time"/>
    /// ([B] float32; default t = 0, the least noise the model was trained on), no self-conditioning, no position marked
    /// clean. So instruments that only know ids (dlm inspect --ids) see the model's reconstruction of a clean sequence.
    /// </summary>
    public Tensor LogitsOfIds(IDenoiser model, Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        using var scope = NewDisposeScope();
        var m = Continuous(model);
        long b = ids.shape[0], l = ids.shape[1];
        var e = m.DiffusionEmbeddings().index_select(0, ids.flatten()).view(b, l, -1);
        var logits = Logits(m, e, time ?? zeros(b, dtype: ScalarType.Float32), null, null, attentionMask);
        // As IDenoiser.Logits: inference stops at NaN logits instead of turning them into token 0.
        if (!is_grad_enabled()) NonFinite.CheckLogits(logits, "model");
        return logits.MoveToOuterDisposeScope();
    }

    /// <summary>E[e_{x0} | x_t] under the logits: softmax(logits)·E (score interpolation).</summary>
    public static Tensor Interpolate(Tensor logits, Tensor embeddings) => softmax(logits.to_type(ScalarType.Float32), -1).matmul(embeddings);

    /// <summary>
    /// CDCD's training loss: cross-entropy of the x_0 prediction at the noisy positions, averaged per row over them,
    /// at times drawn by <see cref="GaussianTimeWarp"/> (whose state it updates with each row's loss). Half of the
    /// steps first run the model without gradient and feed softmax(logits)·E back as the self-conditioning input.
    /// </summary>
    public Tensor Loss(IDenoiser model, TrainingBatch batch, Generator g)
    {
        using var scope = NewDisposeScope();
        var (m, table, e) = Embed(model, batch.Ids);
        var ids = batch.Ids;
        long b = ids.shape[0], l = ids.shape[1];
        var warp = m.TimeWarpState;
        var t = GaussianTimeWarp.SampleTimes(warp, b, g);
        var clean = batch.PromptMask ?? RandomPrefix(b, l, g);
        var xt = Noise(e, t, clean, g);
        var t32 = t.to_type(ScalarType.Float32);
        bool selfCondition = rand(1, dtype: ScalarType.Float64, generator: g).item<double>() < selfConditioningRate;
        Tensor? estimate = null;
        if (selfCondition)
            using (no_grad()) estimate = Interpolate(Logits(m, xt.detach(), t32, null, clean), table.detach());
        var logits = Logits(m, xt, t32, estimate, clean);
        var ce = nn.functional.cross_entropy(logits.flatten(0, 1), ids.flatten(), reduction: nn.Reduction.None).view(b, l);
        var noisy = clean.logical_not().to_type(ScalarType.Float32);
        var perRow = (ce * noisy).sum(1) / noisy.sum(1).clamp_min(1f);
        if (warp is not null)
            GaussianTimeWarp.Update(warp, t.data<double>().ToArray(), perRow.detach().to_type(ScalarType.Float64).data<double>().ToArray());
        return perRow.mean().MoveToOuterDisposeScope();
    }

    /// <summary>The denoiser of embeddings, its normalised table E [V, D] and the clean sequence e = E[ids] [B, L, D].</summary>
    static (IContinuousDenoiser Model, Tensor Table, Tensor Clean) Embed(IDenoiser model, Tensor ids)
    {
        var m = Continuous(model);
        var table = m.DiffusionEmbeddings();
        return (m, table, table.index_select(0, ids.flatten()).view(ids.shape[0], ids.shape[1], -1));
    }

    /// <summary>[B, L] bool: for a share <c>conditioningRate</c> of rows, a clean prefix of 1..L/2 positions (never the whole row).</summary>
    Tensor RandomPrefix(long b, long l, Generator g)
    {
        using var scope = NewDisposeScope();
        var pick = rand(b, dtype: ScalarType.Float64, generator: g) < conditioningRate;
        var len = (rand(b, dtype: ScalarType.Float64, generator: g) * (l / 2)).floor().to_type(ScalarType.Int64) + 1;
        len = where(pick, len.clamp_max(l - 1), zeros_like(len));
        return (arange(l).view(1, l) < len.view(b, 1)).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// The negative ELBO in nats per noisy token (Kingma et al. 2021, "Variational Diffusion Models", continuous time),
    /// for VE noise z_t = x + σ(t)ε on x = e_{x0}, SNR(t) = 1/σ(t)²:
    /// <code>
    ///   −log p(x_0) ≤ KL(q(z_1|x) ‖ N(0, σ_max² I))            prior:  ‖x‖²/(2σ_max²) = D/(2σ_max²)
    ///              + E[−log p(x_0 | z_0)]                       reconstruction at σ_min
    ///              + ½ ∫_0^1 (−dSNR/dt) E‖x − x̂(z_t, t)‖² dt    diffusion: −dSNR/dt = 2σ'/σ³ = 2 ln(σ_max/σ_min)/σ(t)²
    /// </code>
    /// The diffusion integral is estimated with one stratified t ~ U(0, 1) per row; x̂ = softmax(logits)·E from one
    /// forward without self-conditioning (x̂ must be a function of z_t alone; a self-conditioned second pass would be
    /// one too, this estimate simply does not use it). The decoder p(x_0 | z_0) is the model's own logits at t = 0
    /// (σ_min), a per-token categorical given the whole noisy sequence: any normalised decoder keeps the bound valid,
    /// and the model's is the one it was trained to be. With the exact posterior mean as x̂ and the exact posterior as
    /// decoder, the I-MMSE identity turns the sum into H(x_0) + KL(q(z_1) ‖ prior): the bound is tight up to the
    /// (tiny) prior mismatch. Prompt positions are clean and not counted.
    /// </summary>
    public Tensor NegativeElbo(IDenoiser model, TrainingBatch batch, Generator g)
    {
        using var scope = NewDisposeScope();
        var (diffusion, reconstruction, prior) = NegativeElboTerms(model, batch, g);
        return (diffusion + reconstruction + prior).MoveToOuterDisposeScope();
    }

    /// <summary>The three terms of <see cref="NegativeElbo"/> (same draws), each a scalar in nats per noisy token averaged over rows.</summary>
    public (Tensor Diffusion, Tensor Reconstruction, Tensor Prior) NegativeElboTerms(IDenoiser model, TrainingBatch batch, Generator g)
    {
        using var scope = NewDisposeScope();
        var (m, table, e) = Embed(model, batch.Ids);
        var ids = batch.Ids;
        long b = ids.shape[0], l = ids.shape[1];
        var clean = batch.PromptMask;
        var u = rand(1, dtype: ScalarType.Float64, generator: g);
        var t = (u + arange(b, dtype: ScalarType.Float64) / b).remainder(1.0);
        var xt = Noise(e, t, clean, g);
        var xHat = Interpolate(Logits(m, xt, t.to_type(ScalarType.Float32), null, clean), table);
        var diffusion = 0.5 * Schedule.SnrSlope(t).to_type(ScalarType.Float32).view(b, 1) * (e - xHat).square().sum(-1);
        var tMin = zeros(b, dtype: ScalarType.Float64);
        var z0 = Noise(e, tMin, clean, g);
        var logits0 = Logits(m, z0, tMin.to_type(ScalarType.Float32), null, clean);
        var reconstruction = nn.functional.cross_entropy(logits0.flatten(0, 1), ids.flatten(), reduction: nn.Reduction.None).view(b, l);
        var prior = e.square().sum(-1) / (2 * Schedule.SigmaMax * Schedule.SigmaMax);
        var noisy = clean is null ? ones(b, l, dtype: ScalarType.Float32) : clean.logical_not().to_type(ScalarType.Float32);
        var count = noisy.sum(1).clamp_min(1f);
        Tensor PerToken(Tensor term) => ((term * noisy).sum(1) / count).mean().MoveToOuterDisposeScope();
        return (PerToken(diffusion), PerToken(reconstruction), PerToken(prior));
    }

    /// <summary>
    /// I(x_t; x_0) in nats for one token x_0 ~ <paramref name="unigram"/> sent through the Gaussian channel
    /// z = e_{x0} + σ(t)ε over the model's normalised embedding table, by Monte Carlo over (x_0, ε):
    /// I = E[log q(z|x_0) − log Σ_w p(w) q(z|w)], the inner sum exact. <paramref name="samples"/> draws (4096 by default).
    /// </summary>
    public double AnalyticInformation(double t, double[] unigram, Generator g) => AnalyticInformation(t, unigram, g, 4096);

    public double AnalyticInformation(double t, double[] unigram, Generator g, int samples)
    {
        if (embeddingsOf is null)
            throw new DlmException("the gaussian process measures information over a model's embeddings: create it with DiffusionProcesses.Objective(config, model)");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var table = embeddingsOf.DiffusionEmbeddings().detach().to_type(ScalarType.Float64);
        return ChannelInformation(table, unigram, Schedule.Sigma(t), samples, g);
    }

    /// <summary>The Monte-Carlo mutual information of z = e_{x0} + σε for x_0 ~ p over the rows of <paramref name="table"/> [V, D].</summary>
    public static double ChannelInformation(Tensor table, double[] p, double sigma, int samples, Generator g)
    {
        if (p.Length != table.shape[0]) throw new DlmException($"the unigram has {p.Length} entries, the embedding table {table.shape[0]} rows");
        using var scope = NewDisposeScope();
        var probs = tensor(p, dtype: ScalarType.Float64);
        var logP = probs.log();
        var x0 = multinomial(probs, samples, replacement: true, generator: g);
        var e = table.index_select(0, x0);
        var z = e + sigma * randn(e.shape, dtype: ScalarType.Float64, generator: g);
        double total = 0;
        const int chunk = 1024;
        var tableNorm = table.square().sum(-1).view(1, -1);
        for (long s = 0; s < samples; s += chunk)
        {
            using var inner = NewDisposeScope();
            long n = Math.Min(chunk, samples - s);
            var zc = z.narrow(0, s, n);
            var sq = (zc.square().sum(-1, keepdim: true) - 2 * zc.matmul(table.t()) + tableNorm).clamp_min(0);
            var logq = -sq / (2 * sigma * sigma);
            var own = logq.gather(1, x0.narrow(0, s, n).view(-1, 1)).squeeze(1);
            total += (own - (logq + logP.view(1, -1)).logsumexp(1)).sum().item<double>();
        }
        return total / samples;
    }

    /// <summary>Noises x_0's embeddings at t (protected positions clean), one forward without self-conditioning.</summary>
    public (Tensor Logits, Tensor Corrupted) DenoiseAt(IDenoiser model, Tensor x0, double t, Tensor? protectedMask, Generator g)
    {
        using var scope = NewDisposeScope();
        var (m, _, e) = Embed(model, x0);
        long b = x0.shape[0], l = x0.shape[1];
        var times = full(new long[] { b }, t, dtype: ScalarType.Float64);
        var xt = Noise(e, times, protectedMask, g);
        var logits = Logits(m, xt, times.to_type(ScalarType.Float32), null, protectedMask);
        var corrupted = protectedMask is null ? ones(b, l, dtype: ScalarType.Bool) : protectedMask.to_type(ScalarType.Bool).logical_not();
        return (logits.MoveToOuterDisposeScope(), corrupted.MoveToOuterDisposeScope());
    }

    public Tensor SampleMarginal(Tensor x0, double t, Generator g)
    {
        using var scope = NewDisposeScope();
        var x = x0.to_type(ScalarType.Float64);
        return (x + Schedule.Sigma(t) * randn(x.shape, dtype: ScalarType.Float64, generator: g)).MoveToOuterDisposeScope();
    }

    /// <summary>VE steps: from s to t the chain adds independent noise of variance σ(t)² − σ(s)² (σ = 0 before the first time).</summary>
    public Tensor SimulateChain(Tensor x0, double[] times, Generator g)
    {
        IForwardProcess.ValidateTimes(times);
        using var scope = NewDisposeScope();
        var x = x0.to_type(ScalarType.Float64);
        double prev = 0;
        foreach (var t in times)
        {
            double sigma = Schedule.Sigma(t);
            x = x + Math.Sqrt(sigma * sigma - prev * prev) * randn(x.shape, dtype: ScalarType.Float64, generator: g);
            prev = sigma;
        }
        return x.MoveToOuterDisposeScope();
    }
}
