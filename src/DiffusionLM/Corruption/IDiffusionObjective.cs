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
    /// <summary>"masked", "uniform" or "gaussian": ModelConfig's "process".</summary>
    string Name { get; }

    /// <summary>
    /// A scalar with gradient whose expectation over the draws of <paramref name="g"/> is the negative ELBO
    /// per corruptible token (nats), averaged over the rows of the batch. Prompt positions
    /// (<see cref="TrainingBatch.PromptMask"/>) are never corrupted and not counted.
    /// </summary>
    Tensor Loss(IDenoiser model, TrainingBatch batch, Generator g);
}

/// <summary>The diffusion families by name: the one place that maps ModelConfig's "process" to code.</summary>
public static class DiffusionProcesses
{
    public const string Masked = "masked", Uniform = "uniform", Gaussian = "gaussian";
    public static readonly IReadOnlyList<string> Names = [Masked, Uniform, Gaussian];

    public static void Validate(string process)
    {
        if (!Names.Contains(process))
            throw new DlmException($"unknown process \"{process}\" (expected {string.Join(", ", Names)})");
    }

    /// <summary>The objective a model of this config trains with.</summary>
    public static IDiffusionObjective Objective(ModelConfig config)
    {
        Validate(config.Process);
        return config.Process switch
        {
            Masked => new MaskedProcess(MaskSchedule.FromName(config.Schedule), config.MaskTokenId),
            _ => throw new DlmException($"the \"{config.Process}\" process has no training objective yet"),
        };
    }
}
