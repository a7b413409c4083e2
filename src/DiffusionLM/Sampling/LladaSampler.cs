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
public sealed class LladaSampler(LladaSamplerOptions? options = null) : EngineSampler<LladaSamplerOptions>(options ?? new LladaSamplerOptions())
{
    protected override string DisplayName => "LLaDA";
    protected override CacheMode Cache => Options.Cache;
    protected override int CacheRefresh => Options.CacheRefresh;

    internal override void Run(SamplerRun run, Generator generator)
    {
        var o = Options;
        var (eos, eot) = o.SpecialIds(run.Model.Config);
        var x = run.X;
        // "Prompt" = whatever is not a mask at the start; cfg masks exactly these positions.
        var promptIndex = x.ne(run.MaskId);
        Tensor? attnCfg = run.Attention is null ? null : torch.cat(new[] { run.Attention, run.Attention }, 0);
        int stepsPerBlock = o.StepsPerBlock;
        for (int block = 0; block < o.NumBlocks; block++)
        {
            int blockStart = run.PromptLength + block * o.BlockLength, blockEnd = blockStart + o.BlockLength;
            run.BeginBlock(blockStart, blockEnd);
            int[][] counts = BlockCounts(x, blockStart, o.BlockLength, run.MaskId, stepsPerBlock);
            for (int step = 0; step < stepsPerBlock; step++)
            {
                using var stepScope = torch.NewDisposeScope();
                var commits = Step(run, promptIndex, attnCfg, generator, eos, eot, blockStart, blockEnd, counts, step);
                run.AddStep(block, step, commits);
            }
        }
    }

    /// <summary>get_num_transfer_tokens for the block: per row, from the masks it holds when it starts.</summary>
    static int[][] BlockCounts(Tensor x, int blockStart, int blockLength, long maskId, int steps)
    {
        using var scope = torch.NewDisposeScope();
        var masked = x.narrow(1, blockStart, blockLength).eq(maskId).sum(1, type: ScalarType.Int64)
            .data<long>().ToArray().Select(m => (int)m).ToArray();
        return TransferSchedule.Counts(masked, steps);
    }

    /// <summary>
    /// The first position any row could commit in an uncached step of the block starting at <paramref name="blockStart"/>:
    /// the leftmost mask left of the block (a hole in a prompt; earlier blocks are complete), else the block's start.
    /// </summary>
    static int FirstHole(Tensor maskIndex, int blockStart, int total)
    {
        if (blockStart == 0) return 0;
        var holes = maskIndex.data<bool>().ToArray();
        int first = blockStart;
        for (int row = 0; row * total < holes.Length; row++)
            for (int i = 0; i < first; i++)
                if (holes[row * total + i]) { first = i; break; }
        return first;
    }

    /// <summary>One denoising step; updates x in place and returns what it committed.</summary>
    List<Commit> Step(SamplerRun run, Tensor promptIndex, Tensor? attnCfg, Generator generator, int eos, int eot,
        int blockStart, int blockEnd, int[][] counts, int step)
    {
        var o = Options;
        var x = run.X;
        int batch = run.Batch, total = run.Total;
        long maskId = run.MaskId;
        var maskIndex = x.eq(maskId);

        // Uncached, every position is predicted, as the reference does (its noise has the full logits' shape, so the same
        // seed gives the same tokens); with a cache only the engine's window, so the step costs the window, not the sequence.
        var (ws, wlen) = run.PredictedWindow(blockStart, blockEnd);

        Tensor logits;
        if (o.CfgScale > 0)
        {
            // Unsupervised cfg: the unconditional input is x with the prompt masked. Both go through
            // one forward of 2B rows, as the reference batches them.
            var unX = x.masked_fill(promptIndex, maskId);
            var both = run.Forward(torch.cat(new[] { x, unX }, 0), attnCfg);
            var cond = both.narrow(0, 0, batch);
            var un = both.narrow(0, batch, batch);
            logits = un + (o.CfgScale + 1) * (cond - un);
            run.Observe(logits);
            if (wlen != total) logits = logits.narrow(1, ws, wlen);
        }
        else
        {
            logits = wlen != total ? run.Forward(ws, wlen) : run.Forward();
        }

        // Only positions that can be committed this step are scored: masked ones left of the block's end (uncached: the
        // block and any hole left of it; cached: the block). The draws are still made for the predicted shape, so the
        // generator's stream and every scored value are the reference's; what is skipped is arithmetic on positions whose
        // prediction the reference computes and then discards (in a 256-token completion, seven eighths of them).
        int from = o.Cache == CacheMode.None ? FirstHole(maskIndex, blockStart, total) : blockStart;
        int n = blockEnd - from;
        var drawShape = new long[] { batch, wlen, logits.shape[2] };
        logits = logits.narrow(1, from - ws, n);

        // Out of place (index_fill, not index_fill_) so a model's returned tensor is never mutated.
        if (o.LogitsEosInf) logits = logits.index_fill(-1, torch.tensor(new long[] { eos }), double.NegativeInfinity);

        var noisy = SamplingOps.AddGumbelNoise(logits, o.Temperature, generator, drawShape, from - ws);
        var x0w = noisy.argmax(-1);

        if (o.ConfidenceEosEotInf)
        {
            // Reference: logits_with_noise[:, :, eos] = logits[:, :, eot] = -inf, after the argmax.
            // The noisy tensor is only read again when it IS the logits (temperature 0).
            var cols = o.Temperature == 0 ? new long[] { eos, eot } : new long[] { eot };
            logits = logits.index_fill(-1, torch.tensor(cols), double.NegativeInfinity);
        }

        Tensor x0pw;
        if (o.Remasking == LladaSamplerOptions.LowConfidence)
            x0pw = torch.softmax(logits, -1).gather(-1, x0w.unsqueeze(-1)).squeeze(-1);
        else
            x0pw = torch.rand(new long[] { batch, wlen }, dtype: ScalarType.Float32, device: x.device, generator: generator).narrow(1, from - ws, n);
        // Back to the sequence's shape: outside the scored positions x0 is x itself and the confidence -inf (never a candidate there).
        var x0 = x0w; var x0p = x0pw;
        if (n != total)
        {
            x0 = x.clone();
            x0.narrow(1, from, n).copy_(x0w);
            x0p = torch.full(new long[] { batch, total }, float.NegativeInfinity, dtype: x0pw.dtype, device: x.device);
            x0p.narrow(1, from, n).copy_(x0pw);
        }

        // Candidates: masked positions not right of the current block. The reference writes -inf
        // right of the block into x0_p and then takes where(mask_index, x0_p, -inf): the same values.
        // With a cache only the block itself (Fast-dLLM's mask_index[:, start:end]).
        var pos = torch.arange(total, device: x.device);
        var window = o.Cache == CacheMode.None ? pos.lt(blockEnd) : pos.lt(blockEnd).logical_and(pos.ge(blockStart));
        var confidence = torch.where(maskIndex.logical_and(window.unsqueeze(0)), x0p,
            torch.tensor(float.NegativeInfinity, device: x.device));

        var commits = new List<Commit>();
        var transfer = new bool[batch * total];
        var x0Flat = x0.data<long>().ToArray();
        var confFlat = confidence.data<float>().ToArray();
        for (int b = 0; b < batch; b++)
        {
            // Each row its own count and its own top-k, as the reference loops over rows.
            foreach (long p in SamplingOps.TopK(confidence[b], counts[b][step], o.Ties))
            {
                int i = b * total + (int)p;
                transfer[i] = true;
                commits.Add(new Commit(b, (int)p, x0Flat[i], confFlat[i]));
            }
        }
        // Only masked positions can be selected (k never exceeds the masked candidates), so writing
        // x0 there is the reference's x[transfer] = where(mask_index, x0, x)[transfer].
        var transferT = torch.tensor(transfer, new long[] { batch, total }, device: x.device);
        x.copy_(torch.where(transferT, x0, x));
        return commits;
    }
}
