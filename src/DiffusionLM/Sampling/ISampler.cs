using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Sampling;

/// <summary>
/// A sampler turns prompts into completions by repeatedly calling a denoiser. Settings (lengths,
/// steps, temperature, ...) belong to the sampler instance; the call takes only what varies per
/// request, so that LLaDA's sampler, Dream's orderings, Fast-dLLM and ReMDM share one entry point.
/// </summary>
public interface ISampler
{
    /// <param name="model">the denoiser; its <see cref="ModelConfig"/> supplies the mask id and vocabulary size.</param>
    /// <param name="prompt">[B, P] int64 prompt ids, left-padded when rows differ in length.</param>
    /// <param name="generator">the only source of randomness; a seeded generator makes a run reproducible.
    /// Never the process-wide default generator, which other threads share.</param>
    /// <param name="attentionMask">optional [B, P] mask over the prompt (bool, or 0/1 integers), false on padding.</param>
    SamplerResult Generate(IDenoiser model, Tensor prompt, Generator generator, Tensor? attentionMask = null);
}

/// <summary>One position committed (unmasked) at one step.</summary>
/// <param name="Row">batch row.</param>
/// <param name="Position">index into the whole sequence (prompt included).</param>
/// <param name="Token">the token written there; never changed afterwards.</param>
/// <param name="Confidence">the score the selection ranked by (a probability for low-confidence
/// remasking, a uniform draw for random remasking), as the sampler saw it.</param>
public readonly record struct Commit(int Row, int Position, long Token, double Confidence);

/// <summary>What one denoising step committed, for every row.</summary>
/// <param name="Index">step number over the whole run, from 0.</param>
/// <param name="Block">the semi-autoregressive block the step belongs to (0 when a sampler has none).</param>
/// <param name="StepInBlock">step number within the block, from 0.</param>
/// <param name="Commits">grouped by row, in the order the selection returned them.</param>
public sealed record SamplerStep(int Index, int Block, int StepInBlock, IReadOnlyList<Commit> Commits);

/// <summary>
/// The outcome of a run. Plain arrays only, so no tensor outlives the sampler's dispose scope.
/// </summary>
/// <param name="Ids">[B][P + G] final ids: the prompt (as given, padding included) followed by the completion.</param>
/// <param name="PromptLength">P, where the completion starts in every row.</param>
/// <param name="Nfe">number of network evaluations = forward calls of the denoiser. A classifier-free
/// guidance step batches the conditional and unconditional inputs into one forward of 2B rows and
/// counts once, as it costs one call (though twice the rows).</param>
/// <param name="Trace">one entry per step, in order.</param>
public sealed record SamplerResult(long[][] Ids, int PromptLength, int Nfe, IReadOnlyList<SamplerStep> Trace)
{
    /// <summary>Sequences the denoiser evaluated over all calls: B per plain call; more when a call batches
    /// guidance inputs or probe copies (dependency_aware). The compute, where NFE is the latency.</summary>
    public long RowsEvaluated { get; init; }

    /// <summary>Positions the denoiser recomputed (rows × window length per call): a block cache lowers it.</summary>
    public long PositionsEvaluated { get; init; }

    /// <summary>[B][G]: the generated part of every row.</summary>
    public long[][] Completions => Ids.Select(r => r[PromptLength..]).ToArray();
}

public static class SamplerExtensions
{
    /// <summary>
    /// Convenience for prompts as id arrays: rows of different length are left-padded with the
    /// model's pad id and an attention mask is passed, as LLaDA's own driver does.
    /// </summary>
    public static SamplerResult Generate(this ISampler sampler, IDenoiser model, long[][] prompts, Generator generator)
    {
        using var scope = torch.NewDisposeScope();
        var (ids, mask) = PromptBatch.LeftPad(prompts, model.Config.PadTokenId, model.Config.MaskTokenId);
        return sampler.Generate(model, ids, generator, mask);
    }
}

/// <summary>Builds a [B, P] prompt tensor from id arrays.</summary>
public static class PromptBatch
{
    /// <summary>
    /// Left-pads rows to the longest one. Returns the mask only when padding was needed. The pad id
    /// must differ from the mask id: the sampler finds holes by comparing with the mask id, so a pad
    /// equal to it would be generated over (LLaDA's driver asserts the same).
    /// </summary>
    public static (Tensor Ids, Tensor? Mask) LeftPad(long[][] prompts, long padId, long maskId)
    {
        if (prompts is null || prompts.Length == 0) throw new DlmException("no prompts given (need at least one row)");
        int p = prompts.Max(r => r?.Length ?? throw new DlmException("a prompt row is null"));
        bool ragged = prompts.Any(r => r.Length != p);
        if (ragged && padId == maskId)
            throw new DlmException($"prompts differ in length but the pad id equals the mask id ({maskId}); cannot left-pad");
        var ids = new long[prompts.Length * p];
        var mask = new bool[prompts.Length * p];
        for (int b = 0; b < prompts.Length; b++)
        {
            int pad = p - prompts[b].Length;
            for (int i = 0; i < p; i++)
            {
                ids[b * p + i] = i < pad ? padId : prompts[b][i - pad];
                mask[b * p + i] = i >= pad;
            }
        }
        var shape = new long[] { prompts.Length, p };
        return (torch.tensor(ids, shape), ragged ? torch.tensor(mask, shape) : null);
    }
}
