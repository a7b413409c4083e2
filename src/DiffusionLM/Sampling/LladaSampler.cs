using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Sampling;

/// <summary>
/// LLaDA's reference sampler (generate() in generate.py of ML-GSAI/LLaDA), with its semantics:
/// the completion starts as GenLength mask tokens; it is revealed block by block, left to right
/// (semi-autoregressive), and within a block over StepsPerBlock steps. Each step predicts every
/// position, scores the predictions (probability or a random draw) and commits the best-scored
/// masked positions of the current block, as many as <see cref="TransferSchedule"/> says.
/// Committed tokens are never remasked.
/// </summary>
/// <remarks>
/// Deliberate differences from the reference, none of which change its results:
/// randomness comes from the generator passed in, not the global one (the draws are the same
/// sequence: per step first the Gumbel noise of the logits' shape, then for random remasking a
/// float32 [B, L] draw); logits are float32 (the reference runs in the model's dtype, bf16 for
/// LLaDA-8B); cfg with no attention mask works (the reference then hits an unbound
/// attention_mask_); the options are validated up front instead of by assert.
/// As in the reference, a prompt position holding the mask id counts as a hole to fill: it is not
/// prompt (so cfg leaves it as is) and it may be committed at any step, competing with the block.
/// </remarks>
public sealed class LladaSampler : IObservableSampler
{
    public LladaSamplerOptions Options { get; }

    /// <inheritdoc/>
    public Action<SamplerObservation>? Observer { get; set; }

    public LladaSampler(LladaSamplerOptions? options = null)
    {
        Options = options ?? new LladaSamplerOptions();
        Options.Validate();
    }

    public SamplerResult Generate(IDenoiser model, Tensor prompt, Generator generator, Tensor? attentionMask = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(generator);
        var o = Options;
        var cfg = model.Config;
        var (eos, eot) = o.SpecialIds(cfg);
        CheckPrompt(prompt, attentionMask, cfg, o.GenLength);

        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        int batch = (int)prompt.shape[0], promptLen = (int)prompt.shape[1];
        int total = promptLen + o.GenLength;
        long maskId = cfg.MaskTokenId;
        var device = prompt.device;

        // x = prompt, then GenLength masks. Updated in place, so it lives in this outer scope.
        var x = torch.full(new long[] { batch, total }, maskId, dtype: ScalarType.Int64, device: device);
        x.narrow(1, 0, promptLen).copy_(prompt.to_type(ScalarType.Int64));
        // The reference appends ones for the generated part; the denoiser takes bool.
        Tensor? attn = attentionMask is null ? null : torch.cat(new[]
        {
            attentionMask.to_type(ScalarType.Bool),
            torch.ones(new long[] { batch, o.GenLength }, dtype: ScalarType.Bool, device: device),
        }, 1);
        // "Prompt" = whatever is not a mask at the start; cfg masks exactly these positions.
        var promptIndex = x.ne(maskId);
        Tensor? attnCfg = attn is null ? null : torch.cat(new[] { attn, attn }, 0);

        var trace = new List<SamplerStep>(o.Steps);
        int nfe = 0, stepsPerBlock = o.StepsPerBlock;
        for (int block = 0; block < o.NumBlocks; block++)
        {
            int blockStart = promptLen + block * o.BlockLength, blockEnd = blockStart + o.BlockLength;
            int[][] counts = BlockCounts(x, blockStart, o.BlockLength, maskId, stepsPerBlock);
            for (int step = 0; step < stepsPerBlock; step++)
            {
                using var stepScope = torch.NewDisposeScope();
                var commits = Step(model, x, promptIndex, attn, attnCfg, generator, maskId, eos, eot,
                    blockEnd, counts, step, ref nfe, trace.Count, block, promptLen);
                trace.Add(new SamplerStep(trace.Count, block, step, commits));
            }
        }

        var flat = x.data<long>().ToArray();
        var ids = new long[batch][];
        for (int b = 0; b < batch; b++) ids[b] = flat.AsSpan(b * total, total).ToArray();
        return new SamplerResult(ids, promptLen, nfe, trace);
    }

    /// <summary>get_num_transfer_tokens for the block: per row, from the masks it holds when it starts.</summary>
    static int[][] BlockCounts(Tensor x, int blockStart, int blockLength, long maskId, int steps)
    {
        using var scope = torch.NewDisposeScope();
        var masked = x.narrow(1, blockStart, blockLength).eq(maskId).sum(1, type: ScalarType.Int64)
            .data<long>().ToArray().Select(m => (int)m).ToArray();
        return TransferSchedule.Counts(masked, steps);
    }

    /// <summary>One denoising step; updates <paramref name="x"/> in place and returns what it committed.</summary>
    List<Commit> Step(IDenoiser model, Tensor x, Tensor promptIndex, Tensor? attn, Tensor? attnCfg,
        Generator generator, long maskId, int eos, int eot, int blockEnd, int[][] counts, int step, ref int nfe,
        int index, int block, int promptLen)
    {
        var o = Options;
        int batch = (int)x.shape[0], total = (int)x.shape[1];
        var maskIndex = x.eq(maskId);

        Tensor logits;
        if (o.CfgScale > 0)
        {
            // Unsupervised cfg: the unconditional input is x with the prompt masked. Both go through
            // one forward of 2B rows, as the reference batches them.
            var unX = x.masked_fill(promptIndex, maskId);
            var both = Forward(model, torch.cat(new[] { x, unX }, 0), attnCfg, 2 * batch, total, ref nfe);
            var cond = both.narrow(0, 0, batch);
            var un = both.narrow(0, batch, batch);
            logits = un + (o.CfgScale + 1) * (cond - un);
        }
        else
        {
            logits = Forward(model, x, attn, batch, total, ref nfe);
        }
        Observer?.Invoke(new SamplerObservation(index, block, promptLen, x, logits));

        // Out of place (index_fill, not index_fill_) so a model's returned tensor is never mutated.
        if (o.LogitsEosInf) logits = logits.index_fill(-1, torch.tensor(new long[] { eos }), double.NegativeInfinity);

        var noisy = SamplingOps.AddGumbelNoise(logits, o.Temperature, generator);
        var x0 = noisy.argmax(-1);

        if (o.ConfidenceEosEotInf)
        {
            // Reference: logits_with_noise[:, :, eos] = logits[:, :, eot] = -inf, after the argmax.
            // The noisy tensor is only read again when it IS the logits (temperature 0).
            var cols = o.Temperature == 0 ? new long[] { eos, eot } : new long[] { eot };
            logits = logits.index_fill(-1, torch.tensor(cols), double.NegativeInfinity);
        }

        Tensor x0p;
        if (o.Remasking == LladaSamplerOptions.LowConfidence)
            x0p = torch.softmax(logits, -1).gather(-1, x0.unsqueeze(-1)).squeeze(-1);
        else
            x0p = torch.rand(new long[] { batch, total }, dtype: ScalarType.Float32, device: x.device, generator: generator);

        // Candidates: masked positions not right of the current block. The reference writes -inf
        // right of the block into x0_p and then takes where(mask_index, x0_p, -inf): the same values.
        var notRight = torch.arange(total, device: x.device).lt(blockEnd).unsqueeze(0);
        var confidence = torch.where(maskIndex.logical_and(notRight), x0p,
            torch.tensor(float.NegativeInfinity, device: x.device));

        var commits = new List<Commit>();
        var transfer = new bool[batch * total];
        var x0Flat = x0.data<long>().ToArray();
        var confFlat = confidence.data<float>().ToArray();
        for (int b = 0; b < batch; b++)
        {
            // Each row its own count and its own top-k, as the reference loops over rows.
            foreach (long pos in SamplingOps.TopK(confidence[b], counts[b][step], o.Ties))
            {
                int i = b * total + (int)pos;
                transfer[i] = true;
                commits.Add(new Commit(b, (int)pos, x0Flat[i], confFlat[i]));
            }
        }
        // Only masked positions can be selected (k never exceeds the masked candidates), so writing
        // x0 there is the reference's x[transfer] = where(mask_index, x0, x)[transfer].
        var transferT = torch.tensor(transfer, new long[] { batch, total }, device: x.device);
        x.copy_(torch.where(transferT, x0, x));
        return commits;
    }

    static Tensor Forward(IDenoiser model, Tensor ids, Tensor? attn, int rows, int total, ref int nfe)
    {
        var logits = model.Logits(ids, attn);
        nfe++;
        int vocab = model.Config.VocabSize;
        if (logits.ndim != 3 || logits.shape[0] != rows || logits.shape[1] != total || logits.shape[2] != vocab)
            throw new DlmException(
                $"LLaDA sampler: the denoiser returned logits of shape [{string.Join(", ", logits.shape)}], expected [{rows}, {total}, {vocab}]");
        return logits.dtype == ScalarType.Float32 ? logits : logits.to_type(ScalarType.Float32);
    }

    static void CheckPrompt(Tensor prompt, Tensor? attentionMask, ModelConfig cfg, int genLength)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (prompt.ndim != 2 || prompt.shape[0] < 1)
            throw new DlmException($"LLaDA sampler: prompt must be [batch, length] with batch >= 1 (got shape [{string.Join(", ", prompt.shape)}])");
        if (prompt.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new DlmException($"LLaDA sampler: prompt must hold integer token ids (got {prompt.dtype})");
        long batch = prompt.shape[0], len = prompt.shape[1];
        if (cfg.MaxSequenceLength > 0 && len + genLength > cfg.MaxSequenceLength)
            throw new DlmException(
                $"LLaDA sampler: prompt length {len} + gen length {genLength} exceeds the model's max sequence length {cfg.MaxSequenceLength}");
        if (len > 0)
        {
            using var scope = torch.NewDisposeScope();
            var ids64 = prompt.to_type(ScalarType.Int64);
            long min = ids64.min().item<long>(), max = ids64.max().item<long>();
            if (min < 0 || max >= cfg.VocabSize)
                throw new DlmException($"LLaDA sampler: prompt ids must lie in [0, {cfg.VocabSize}) (found {(min < 0 ? min : max)})");
        }
        if (attentionMask is not null && (attentionMask.ndim != 2 || attentionMask.shape[0] != batch || attentionMask.shape[1] != len))
            throw new DlmException(
                $"LLaDA sampler: attention mask must cover the prompt, [{batch}, {len}] (got [{string.Join(", ", attentionMask.shape)}])");
    }
}
