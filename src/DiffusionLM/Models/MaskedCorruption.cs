using System.Text.Json.Serialization;

namespace DiffusionLM.Models;

/// <summary>
/// A corruption of the masked (absorbing) process: ModelConfig's "corruption" and <c>dlm train --corruption</c>. Every one
/// masks tokens and never unmasks them; they differ in who is masked when (<see cref="Positional"/>, <see cref="Spindle"/>,
/// <see cref="Information"/>), in which t the loss is drawn at (<see cref="BellT"/>) and in how a masked token's
/// cross-entropy is weighted (<see cref="Cart"/>). The one place their spellings and properties are written; the objective
/// of each is built by Corruption/Masking/MaskedCorruptions. README's "Corruptions" section gives each formula and its source.
/// </summary>
[JsonConverter(typeof(SpellingJsonConverter<MaskedCorruption>))]
public sealed class MaskedCorruption : ISpelled<MaskedCorruption>
{
    public string Spelling { get; }
    /// <summary>One phrase for help texts.</summary>
    public string Summary { get; }
    /// <summary>Whether the training loss is itself a bound on −log p (so `eval` may report it as one).</summary>
    public bool IsBound { get; }
    /// <summary>Rates depend on token frequencies: the objective needs the training split's unigram counts (unigram.json).</summary>
    public bool NeedsUnigram { get; }
    /// <summary>Masks on the config's schedule (linear or loglinear); the others define their own rates and need "linear".</summary>
    public bool FollowsSchedule { get; }

    MaskedCorruption(string spelling, string summary, bool isBound, bool needsUnigram, bool followsSchedule) =>
        (Spelling, Summary, IsBound, NeedsUnigram, FollowsSchedule) = (spelling, summary, isBound, needsUnigram, followsSchedule);

    /// <summary>Every token masked with probability 1 − α_t, weight −α'_t/(1 − α_t): LLaDA/MDLM (the default).</summary>
    public static readonly MaskedCorruption Uniform = new("uniform", "LLaDA", isBound: true, needsUnigram: false, followsSchedule: true);
    /// <summary>Uniform masking, the 1/t weight replaced by Dream's context-adaptive weight (p = 0.3). No bound.</summary>
    public static readonly MaskedCorruption Cart = new("cart", "Dream's loss weights", isBound: false, needsUnigram: false, followsSchedule: true);
    /// <summary>DiffusionBERT's frequency-aware keep probability (λ = 0.3), trained on its own per-token ELBO weight. No bound.</summary>
    public static readonly MaskedCorruption Spindle = new("spindle", "DiffusionBERT", isBound: false, needsUnigram: true, followsSchedule: false);
    /// <summary>Per-position schedule α_t^(i) = 1 − t^{λ_i}: positions far from the prompt are masked earlier. A bound.</summary>
    public static readonly MaskedCorruption Positional = new("positional", "far from the prompt masked earlier", isBound: true, needsUnigram: false, followsSchedule: false);
    /// <summary>Uniform masking with t drawn from a bell (Beta(2, 2)) instead of U(0, 1]; the 1/t weight kept. No bound.</summary>
    public static readonly MaskedCorruption BellT = new("bell_t", "bell-shaped t", isBound: false, needsUnigram: false, followsSchedule: true);
    /// <summary>Ours: α_t(v) = 1 − t^{λ(v)}, the rate of a token set by the information it carries; the state-dependent ELBO. A bound.</summary>
    public static readonly MaskedCorruption Information = new("information", "the rate follows the information a token carries", isBound: true, needsUnigram: true, followsSchedule: false);

    public static IReadOnlyList<MaskedCorruption> All { get; } = [Uniform, Cart, Spindle, Positional, BellT, Information];
    public static string Kind => "corruption";

    public static MaskedCorruption Parse(string? spelling) => Spellings.Parse<MaskedCorruption>(spelling);

    /// <summary>"uniform (LLaDA), cart (Dream's loss weights), ... or information (...)": the --corruption help.</summary>
    public static string Help => Spellings.Help<MaskedCorruption>();

    public override string ToString() => Spelling;
}
