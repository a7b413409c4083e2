using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Sampling;

/// <summary>
/// The state every masked-diffusion sampler starts from: x = prompt followed by GenLength masks,
/// the attention mask widened over the completion, and the bookkeeping (NFE, trace) every sampler
/// reports the same way. Shared by the Dream, Fast-dLLM, MDLM, ReMDM and dependency-aware samplers,
/// so that each sampler file holds only its policy.
/// </summary>
internal sealed class SamplerRun
{
    public required IDenoiser Model { get; init; }
    public required string Name { get; init; }
    /// <summary>[B, P + G] int64, updated in place; lives in the caller's outer dispose scope.</summary>
    public required Tensor X { get; init; }
    /// <summary>[B, P + G] bool or null when the prompt had no padding.</summary>
    public Tensor? Attention { get; init; }
    public int Batch { get; init; }
    public int PromptLength { get; init; }
    public int Total { get; init; }
    public long MaskId => Model.Config.MaskTokenId;
    public int Vocab => Model.Config.VocabSize;
    public int Nfe { get; private set; }
    public List<SamplerStep> Trace { get; } = [];

    public static SamplerRun Start(string name, IDenoiser model, Tensor prompt, Tensor? attentionMask, int genLength)
    {
        ArgumentNullException.ThrowIfNull(model);
        Check(name, prompt, attentionMask, model.Config, genLength);
        int batch = (int)prompt.shape[0], promptLen = (int)prompt.shape[1], total = promptLen + genLength;
        var x = torch.full(new long[] { batch, total }, model.Config.MaskTokenId, dtype: ScalarType.Int64, device: prompt.device);
        x.narrow(1, 0, promptLen).copy_(prompt.to_type(ScalarType.Int64));
        Tensor? attn = attentionMask is null ? null : torch.cat(new[]
        {
            attentionMask.to_type(ScalarType.Bool),
            torch.ones(new long[] { batch, genLength }, dtype: ScalarType.Bool, device: prompt.device),
        }, 1);
        return new SamplerRun { Name = name, Model = model, X = x, Attention = attn, Batch = batch, PromptLength = promptLen, Total = total };
    }

    /// <summary>One call of the denoiser on <paramref name="ids"/> (rows may be a multiple of B: probes); counts one NFE.</summary>
    public Tensor Forward(Tensor ids, Tensor? attn = null, Tensor? time = null)
    {
        var logits = Model.Logits(ids, attn, time);
        Nfe++;
        if (logits.ndim != 3 || logits.shape[0] != ids.shape[0] || logits.shape[1] != ids.shape[1] || logits.shape[2] != Vocab)
            throw new DlmException(
                $"{Name} sampler: the denoiser returned logits of shape [{string.Join(", ", logits.shape)}], expected [{ids.shape[0]}, {ids.shape[1]}, {Vocab}]");
        return logits.dtype == ScalarType.Float32 ? logits : logits.to_type(ScalarType.Float32);
    }

    /// <summary>Forward on the current x.</summary>
    public Tensor Forward(Tensor? time = null) => Forward(X, Attention, time);

    /// <summary>[B][P + G] copy of x.</summary>
    public long[][] Rows()
    {
        var flat = X.data<long>().ToArray();
        var ids = new long[Batch][];
        for (int b = 0; b < Batch; b++) ids[b] = flat.AsSpan(b * Total, Total).ToArray();
        return ids;
    }

    public SamplerResult Result() => new(Rows(), PromptLength, Nfe, Trace);

    public void AddStep(int block, int stepInBlock, List<Commit> commits) =>
        Trace.Add(new SamplerStep(Trace.Count, block, stepInBlock, commits));

    static void Check(string name, Tensor prompt, Tensor? attentionMask, ModelConfig cfg, int genLength)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (genLength <= 0) throw new DlmException($"{name} sampler: gen length must be positive (got {genLength})");
        if (prompt.ndim != 2 || prompt.shape[0] < 1)
            throw new DlmException($"{name} sampler: prompt must be [batch, length] with batch >= 1 (got shape [{string.Join(", ", prompt.shape)}])");
        if (prompt.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new DlmException($"{name} sampler: prompt must hold integer token ids (got {prompt.dtype})");
        long batch = prompt.shape[0], len = prompt.shape[1];
        if (cfg.MaxSequenceLength > 0 && len + genLength > cfg.MaxSequenceLength)
            throw new DlmException($"{name} sampler: prompt length {len} + gen length {genLength} exceeds the model's max sequence length {cfg.MaxSequenceLength}");
        if (len > 0)
        {
            using var scope = torch.NewDisposeScope();
            var ids64 = prompt.to_type(ScalarType.Int64);
            long min = ids64.min().item<long>(), max = ids64.max().item<long>();
            if (min < 0 || max >= cfg.VocabSize)
                throw new DlmException($"{name} sampler: prompt ids must lie in [0, {cfg.VocabSize}) (found {(min < 0 ? min : max)})");
        }
        if (attentionMask is not null && (attentionMask.ndim != 2 || attentionMask.shape[0] != batch || attentionMask.shape[1] != len))
            throw new DlmException($"{name} sampler: attention mask must cover the prompt, [{batch}, {len}] (got [{string.Join(", ", attentionMask.shape)}])");
    }
}

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
