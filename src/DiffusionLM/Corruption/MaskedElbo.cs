using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>One Monte-Carlo ELBO estimate: the bound on −log p(answer | prompt) in nats, and its standard error.</summary>
public sealed record ElboEstimate(double Nll, double StandardError, int Tokens, double[] BatchEstimates);

/// <summary>
/// The Monte-Carlo ELBO of LLaDA's get_log_likelihood: the prompt is never masked; each batch of
/// <c>batchSize</c> copies masks stratified counts of answer tokens (a random k, then counts spread
/// evenly over 1..n from k, wrapped), a random subset of that size per copy, and weights each masked
/// token's cross-entropy by n / count (1 / p_mask). The estimate is the mean over mc / batchSize batches.
/// </summary>
public static class MaskedElbo
{
    public static ElboEstimate Estimate(IDenoiser model, long[] prompt, long[] answer, int mcNum, int batchSize, Generator g)
    {
        if (answer.Length == 0) throw new DlmException("cannot score an empty answer");
        if (mcNum <= 0 || batchSize <= 0 || mcNum % batchSize != 0)
            throw new DlmException($"mc_num ({mcNum}) must be a positive multiple of the batch size ({batchSize})");
        int p = prompt.Length, n = answer.Length, len = p + n;
        if (len > model.Config.MaxSequenceLength)
            throw new DlmException($"prompt and answer are {len} tokens, longer than the model's context ({model.Config.MaxSequenceLength})");
        int maskId = model.Config.MaskTokenId;
        var seq = prompt.Concat(answer).ToArray();
        using var _ = no_grad();
        var estimates = new double[mcNum / batchSize];
        for (int it = 0; it < estimates.Length; it++)
        {
            using var scope = NewDisposeScope();
            long k = randint(1, n + 1, [1], generator: g).item<long>();
            var noisy = new long[batchSize, len];
            var weight = new float[batchSize, len];
            for (int i = 0; i < batchSize; i++)
            {
                // torch.round(linspace(k, k + (b−1)·n/b, b)), then wrapped into 1..n.
                double lin = batchSize == 1 ? k : k + i * ((double)(batchSize - 1) * n / batchSize) / (batchSize - 1);
                long count = ((long)Math.Round(lin, MidpointRounding.ToEven) - 1) % n + 1;
                var perm = randperm(n, generator: g).data<long>().ToArray();
                for (int j = 0; j < len; j++) noisy[i, j] = seq[j];
                for (int r = 0; r < count; r++)
                {
                    int pos = p + (int)perm[r];
                    noisy[i, pos] = maskId;
                    weight[i, pos] = (float)n / count;
                }
            }
            var ids = tensor(noisy);
            var target = tensor(seq).unsqueeze(0).expand(batchSize, len);
            var logits = model.Logits(ids, time: model.Config.TimeConditioning ? full(new long[] { batchSize }, 0.5f) : null);
            var ce = nn.functional.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction: nn.Reduction.None).view(batchSize, len);
            estimates[it] = (ce * tensor(weight)).sum().item<float>() / batchSize;
        }
        double mean = estimates.Average();
        double se = estimates.Length > 1
            ? Math.Sqrt(estimates.Sum(e => (e - mean) * (e - mean)) / (estimates.Length - 1) / estimates.Length)
            : double.NaN;
        return new ElboEstimate(mean, se, n, estimates);
    }
}
