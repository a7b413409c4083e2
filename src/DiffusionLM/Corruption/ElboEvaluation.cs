using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>
/// The likelihood bound of any family on one window of text: the family's <see cref="IDiffusionObjective.NegativeElbo"/>
/// averaged over Monte-Carlo draws, each batch being the window repeated <c>batchSize</c> times (so the draws of a batch
/// share one forward call). Masked models keep LLaDA's own estimator (<see cref="MaskedElbo"/>); this is for the others.
/// </summary>
public static class ElboEvaluation
{
    /// <returns>the bound on −log p(window) in nats, its standard error over the batches, and each batch's estimate (nats per window).</returns>
    public static ElboEstimate Estimate(IDiffusionObjective objective, IDenoiser model, long[] window, int mcNum, int batchSize, Generator g) =>
        Estimate(objective, model, [], window, mcNum, batchSize, g);

    /// <summary>The bound on −log p(answer | prompt): the prompt is never corrupted (the batch's prompt mask), as in SFT.</summary>
    public static ElboEstimate Estimate(IDiffusionObjective objective, IDenoiser model, long[] prompt, long[] answer, int mcNum, int batchSize, Generator g)
    {
        if (answer.Length == 0) throw new DlmException("cannot score an empty answer");
        if (mcNum <= 0 || batchSize <= 0 || mcNum % batchSize != 0)
            throw new DlmException($"mc_num ({mcNum}) must be a positive multiple of the batch size ({batchSize})");
        int len = prompt.Length + answer.Length;
        if (len > model.Config.MaxSequenceLength)
            throw new DlmException($"prompt and answer are {len} tokens, longer than the model's context ({model.Config.MaxSequenceLength})");
        var seq = prompt.Concat(answer).ToArray();
        var promptRow = Enumerable.Range(0, len).Select(i => i < prompt.Length).ToArray();
        using var _ = no_grad();
        var estimates = new double[mcNum / batchSize];
        for (int it = 0; it < estimates.Length; it++)
        {
            using var scope = NewDisposeScope();
            var ids = tensor(seq).unsqueeze(0).expand(batchSize, len).contiguous();
            var mask = prompt.Length == 0 ? null : tensor(promptRow).unsqueeze(0).expand(batchSize, len).contiguous();
            using var batch = new TrainingBatch(ids, mask);
            // NegativeElbo is per corruptible token: the answer's.
            estimates[it] = objective.NegativeElbo(model, batch, g).to_type(ScalarType.Float64).item<double>() * answer.Length;
        }
        double mean = estimates.Average();
        double se = estimates.Length > 1
            ? Math.Sqrt(estimates.Sum(e => (e - mean) * (e - mean)) / (estimates.Length - 1) / estimates.Length)
            : double.NaN;
        return new ElboEstimate(mean, se, answer.Length, estimates);
    }
}
