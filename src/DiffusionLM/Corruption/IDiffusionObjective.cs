using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>
/// The training objective of one diffusion family: what <see cref="DiffusionLM.Training.Trainer"/> minimises
/// and what <c>dlm eval</c> reports. Every family's loss is its negative ELBO, so the three families can be
/// compared on one line in nats per token.
/// </summary>
public interface IDiffusionObjective
{
    /// <summary>The process's spelling (<see cref="DiffusionProcess.Spelling"/>), as ModelConfig's "process".</summary>
    string Name { get; }

    /// <summary>
    /// A scalar with gradient whose expectation over the draws of <paramref name="g"/> is the negative ELBO
    /// per corruptible token (nats), averaged over the rows of the batch. Prompt positions
    /// (<see cref="TrainingBatch.PromptMask"/>) are never corrupted and not counted.
    /// </summary>
    Tensor Loss(IDenoiser model, TrainingBatch batch, Generator g);

    /// <summary>
    /// An unbiased Monte-Carlo estimate of the negative ELBO per corruptible token (nats), averaged over rows:
    /// what <c>dlm eval</c> bounds the NLL with. The same as <see cref="Loss"/> for families that train on
    /// the ELBO itself; a family that trains on a surrogate (the gaussian one's cross-entropy) computes its bound here.
    /// </summary>
    Tensor NegativeElbo(IDenoiser model, TrainingBatch batch, Generator g) => Loss(model, batch, g);

    /// <summary>
    /// D1, analytically: the mutual information I(x_t; x_0) in nats between one clean token x_0 drawn from
    /// <paramref name="unigram"/> (probabilities over the vocabulary) and its corrupted version at time t.
    /// Families without a closed form may estimate it by Monte Carlo with <paramref name="g"/>.
    /// </summary>
    double AnalyticInformation(double t, double[] unigram, Generator g);

    /// <summary>
    /// D1, empirically: corrupts <paramref name="x0"/> ([B, L] int64) at one time t (positions in
    /// <paramref name="protectedMask"/> kept clean) and returns the denoiser's x_0 logits [B, L, V] with the
    /// [B, L] bool mask of positions the corruption touched (for the masked family, the masked ones; for the
    /// uniform and gaussian families, every unprotected position).
    /// </summary>
    (Tensor Logits, Tensor Corrupted) DenoiseAt(IDenoiser model, Tensor x0, double t, Tensor? protectedMask, Generator g);
}

/// <summary>
/// The objective of each diffusion process (<see cref="DiffusionProcess"/>): the one place that maps a config's process to code.
/// The names and what each process can do are on <see cref="DiffusionProcess"/> itself.
/// </summary>
public static class DiffusionProcesses
{
    /// <summary>
    /// The objective a model of this config trains with. <paramref name="model"/> is needed only where the
    /// objective measures the model itself outside Loss/NegativeElbo/DenoiseAt: the gaussian process's
    /// <see cref="IDiffusionObjective.AnalyticInformation"/> is over the model's embedding table.
    /// <paramref name="unigram"/> (the training split's token counts, a checkpoint's unigram.json) is needed by the
    /// masked corruptions whose rates follow token frequencies (spindle, information).
    /// </summary>
    public static IDiffusionObjective Objective(ModelConfig config, IDenoiser? model = null, long[]? unigram = null)
    {
        var p = config.Process ?? throw new DlmException($"the config names no process (expected one of {Spellings.Known<DiffusionProcess>()})");
        if (p == DiffusionProcess.Masked)
            return Masking.MaskedCorruptions.Create(config.EffectiveCorruption, MaskSchedule.FromName(config.Schedule), config.MaskTokenId, config.VocabSize, unigram);
        if (p == DiffusionProcess.Uniform) return UniformProcess.ForModel(config);
        if (p == DiffusionProcess.Gaussian) return GaussianProcess.ForModel(config, model);
        throw new DlmException($"the {p} process has no objective wired in DiffusionProcesses.Objective");
    }
}
