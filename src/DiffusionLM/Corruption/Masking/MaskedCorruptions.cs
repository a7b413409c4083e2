namespace DiffusionLM.Corruption.Masking;

/// <summary>
/// The corruptions of the masked (absorbing) family by name: the one place that maps ModelConfig's "corruption"
/// (and `dlm train --corruption`) to code. Every one masks tokens and never unmasks them; they differ in who is
/// masked when (<see cref="Positional"/>, <see cref="Spindle"/>, <see cref="Information"/>), in which t the loss is
/// drawn at (<see cref="BellT"/>) and in how a masked token's cross-entropy is weighted (<see cref="Cart"/>).
/// README's "Corruptions" section gives each formula and its source.
/// </summary>
public static class MaskedCorruptions
{
    /// <summary>Every token masked with probability 1 − α_t, weight −α'_t/(1 − α_t): LLaDA/MDLM (today's default).</summary>
    public const string Uniform = "uniform";
    /// <summary>Uniform masking, the 1/t weight replaced by Dream's context-adaptive weight (p = 0.3). No bound.</summary>
    public const string Cart = "cart";
    /// <summary>DiffusionBERT's frequency-aware keep probability (λ = 0.3), trained on its own per-token ELBO weight. No bound.</summary>
    public const string Spindle = "spindle";
    /// <summary>Per-position schedule α_t^(i) = 1 − t^{λ_i}: positions far from the prompt are masked earlier. A bound.</summary>
    public const string Positional = "positional";
    /// <summary>Uniform masking with t drawn from a bell (Beta(2, 2)) instead of U(0, 1]; the 1/t weight kept. No bound.</summary>
    public const string BellT = "bell_t";
    /// <summary>Ours: α_t(v) = 1 − t^{λ(v)}, the rate of a token set by the information it carries; the state-dependent ELBO. A bound.</summary>
    public const string Information = "information";

    public static readonly IReadOnlyList<string> Names = [Uniform, Cart, Spindle, Positional, BellT, Information];

    /// <summary>Whether the training loss is itself a bound on −log p (so `eval` may report it as one).</summary>
    public static bool IsBound(string name) => name is Uniform or Positional or Information;

    /// <summary>Corruptions whose rates depend on token frequencies: they need the training split's unigram counts.</summary>
    public static bool NeedsUnigram(string name) => name is Spindle or Information;

    public static void Validate(string name)
    {
        if (!Names.Contains(name))
            throw new DlmException($"unknown corruption \"{name}\" (expected {string.Join(", ", Names)})");
    }

    /// <summary>
    /// The objective of a masked model with this corruption. <paramref name="unigram"/> (token counts of the
    /// training split, the checkpoint's unigram.json) is required by <see cref="Spindle"/> and <see cref="Information"/>.
    /// </summary>
    public static IDiffusionObjective Create(string name, MaskSchedule schedule, int maskId, int vocabSize, long[]? unigram)
    {
        Validate(name);
        if (name is not (Uniform or Cart or BellT) && schedule is not LinearMaskSchedule)
            throw new DlmException($"corruption \"{name}\" defines its own schedule: use --schedule linear (got \"{schedule.Name}\")");
        if (NeedsUnigram(name))
        {
            if (unigram is null) throw new DlmException($"corruption \"{name}\" needs the training split's token counts (unigram.json in the model folder)");
            if (unigram.Length != vocabSize) throw new DlmException($"corruption \"{name}\": unigram.json has {unigram.Length} counts for a vocabulary of {vocabSize}");
        }
        return name switch
        {
            Uniform => new MaskedProcess(schedule, maskId),
            Cart => new MaskedProcess(schedule, maskId) { Weighting = MaskedLossWeighting.Cart },
            BellT => new MaskedProcess(schedule, maskId) { TimeSampling = MaskedTimeSampling.Bell },
            Positional => new PositionalMasking(maskId),
            Spindle => new SpindleMasking(maskId, TokenScores.SpindleFrequency(unigram!, maskId)),
            Information => new InformationMasking(maskId, TokenScores.InformationRates(unigram!, maskId)),
            _ => throw new DlmException($"unknown corruption \"{name}\""),
        };
    }
}
