using DiffusionLM.Models;

namespace DiffusionLM.Corruption.Masking;

/// <summary>
/// The objective of each corruption of the masked (absorbing) family: the one place that maps a <see cref="MaskedCorruption"/>
/// (ModelConfig's "corruption", `dlm train --corruption`) to code. The names, what each corruption does and whether its
/// loss is a bound are on <see cref="MaskedCorruption"/>; README's "Corruptions" section gives each formula and its source.
/// </summary>
public static class MaskedCorruptions
{
    /// <summary>
    /// The objective of a masked model with this corruption. <paramref name="unigram"/> (token counts of the
    /// training split, the checkpoint's unigram.json) is required by the corruptions that <see cref="MaskedCorruption.NeedsUnigram"/>.
    /// </summary>
    public static IDiffusionObjective Create(MaskedCorruption corruption, MaskSchedule schedule, int maskId, int vocabSize, long[]? unigram)
    {
        if (!corruption.FollowsSchedule && schedule is not LinearMaskSchedule)
            throw new DlmException($"corruption \"{corruption}\" defines its own schedule: use --schedule linear (got \"{schedule.Name}\")");
        if (corruption.NeedsUnigram)
        {
            if (unigram is null) throw new DlmException($"corruption \"{corruption}\" needs the training split's token counts (unigram.json in the model folder)");
            if (unigram.Length != vocabSize) throw new DlmException($"corruption \"{corruption}\": unigram.json has {unigram.Length} counts for a vocabulary of {vocabSize}");
        }
        if (corruption == MaskedCorruption.Uniform) return new MaskedProcess(schedule, maskId);
        if (corruption == MaskedCorruption.Cart) return new MaskedProcess(schedule, maskId) { Weighting = MaskedLossWeighting.Cart };
        if (corruption == MaskedCorruption.BellT) return new MaskedProcess(schedule, maskId) { TimeSampling = MaskedTimeSampling.Bell };
        if (corruption == MaskedCorruption.Positional) return new PositionalMasking(maskId);
        if (corruption == MaskedCorruption.Spindle) return new SpindleMasking(maskId, TokenScores.SpindleFrequency(unigram!, maskId));
        if (corruption == MaskedCorruption.Information) return new InformationMasking(maskId, TokenScores.InformationRates(unigram!, maskId));
        throw new DlmException($"corruption \"{corruption}\" has no objective wired in MaskedCorruptions.Create");
    }
}
