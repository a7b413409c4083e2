namespace DiffusionLM.Peers;

/// <summary>
/// llama.cpp's diffusion loop (examples/diffusion, block-based schedule, confidence ordering at
/// temperature 0) on LLaDA's block schedule: the completion starts as masks and is revealed block by
/// block; in a block of n masks each of its steps commits n / steps tokens (the first n % steps steps
/// one more). Every step is one full non-causal pass over prompt + completion; at each masked position
/// of the current block the greedy token is taken and ranked by its softmax probability, and the most
/// confident ones are committed (ties to the lower position), never to change again.
/// </summary>
public static class LlamaCppDiffusion
{
    public sealed record Result(int[] Ids, int Nfe, double Seconds);

    public static Result Generate(LlamaCppModel m, int[] prompt, int genLength, int blockLength, int steps)
    {
        if (genLength % blockLength != 0) throw new ArgumentException("gen length must be a multiple of the block length");
        int blocks = genLength / blockLength;
        if (steps % blocks != 0) throw new ArgumentException("steps must be a multiple of the number of blocks");
        int stepsPerBlock = steps / blocks, total = prompt.Length + genLength, v = m.VocabSize;
        var ids = new int[total];
        prompt.CopyTo(ids, 0);
        Array.Fill(ids, m.MaskTokenId, prompt.Length, genLength);
        var logits = new float[total * v];
        var sw = System.Diagnostics.Stopwatch.StartNew();
        int nfe = 0;
        for (int b = 0; b < blocks; b++)
        {
            int start = prompt.Length + b * blockLength, end = start + blockLength;
            var transfer = TransferCounts(blockLength, stepsPerBlock);
            for (int s = 0; s < stepsPerBlock; s++)
            {
                var masked = Enumerable.Range(start, blockLength).Where(i => ids[i] == m.MaskTokenId).ToList();
                if (masked.Count == 0) break;
                m.Logits(ids, logits);
                nfe++;
                var scored = new List<(float Conf, int Pos, int Token)>(masked.Count);
                foreach (int pos in masked)
                {
                    // Dream-style models predict token i from position i − 1 (diffusion.shift_logits).
                    int row = m.ShiftLogits ? Math.Max(0, pos - 1) : pos;
                    var (token, p) = GreedyWithProbability(logits.AsSpan(row * v, v));
                    scored.Add((p, pos, token));
                }
                scored.Sort((x, y) => x.Conf != y.Conf ? y.Conf.CompareTo(x.Conf) : x.Pos.CompareTo(y.Pos));
                for (int k = 0; k < Math.Min(transfer[s], scored.Count); k++) ids[scored[k].Pos] = scored[k].Token;
            }
        }
        return new Result(ids, nfe, sw.Elapsed.TotalSeconds);
    }

    /// <summary>LLaDA's get_num_transfer_tokens for one block: n / steps each, the first n % steps one more.</summary>
    public static int[] TransferCounts(int masks, int steps)
    {
        var counts = new int[steps];
        for (int i = 0; i < steps; i++) counts[i] = masks / steps + (i < masks % steps ? 1 : 0);
        return counts;
    }

    /// <summary>The argmax token and its softmax probability (log-sum-exp shifted by the maximum).</summary>
    static (int Token, float Probability) GreedyWithProbability(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int j = 1; j < row.Length; j++) if (row[j] > row[best]) best = j;
        double max = row[best], sum = 0;
        for (int j = 0; j < row.Length; j++) sum += Math.Exp(row[j] - max);
        return (best, (float)(1.0 / sum));
    }
}
