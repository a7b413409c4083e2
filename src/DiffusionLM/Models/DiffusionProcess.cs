using System.Text.Json.Serialization;

namespace DiffusionLM.Models;

/// <summary>
/// A diffusion process: ModelConfig's "process" and <c>dlm train --process</c>. The one place its spelling and what it
/// can do are written; code asks the capabilities below instead of comparing names. The spellings are in every
/// checkpoint's config.json and never change. A new process is an instance here, its objective
/// (Corruption/DiffusionProcesses.Objective) and its samplers (Sampling/SamplerRegistry, by <see cref="Spelling"/> as family).
/// </summary>
[JsonConverter(typeof(SpellingJsonConverter<DiffusionProcess>))]
public sealed class DiffusionProcess : ISpelled<DiffusionProcess>
{
    public string Spelling { get; }
    /// <summary>One line for help texts: what the process does and whose it is.</summary>
    public string Summary { get; }
    /// <summary>
    /// Tokens are absorbed into [MASK] and never come back: the family that has corruptions (<see cref="MaskedCorruption"/>),
    /// exports to LLaDA's and llama.cpp's layouts, is probed, and is what a causal model is turned into (Dream).
    /// </summary>
    public bool Absorbing { get; }
    /// <summary>
    /// Diffuses normalised embeddings, not ids: the model reads noisy vectors (IContinuousDenoiser), is always time-conditioned
    /// and has config fields of its own (embedding_dim, sigma_min, sigma_max).
    /// </summary>
    public bool Continuous { get; }

    DiffusionProcess(string spelling, string summary, bool absorbing = false, bool continuous = false) =>
        (Spelling, Summary, Absorbing, Continuous) = (spelling, summary, absorbing, continuous);

    public static readonly DiffusionProcess Masked = new("masked", "absorbing [MASK], LLaDA/MDLM", absorbing: true);
    public static readonly DiffusionProcess Uniform = new("uniform", "tokens redrawn uniformly, D3PM/UDLM");
    public static readonly DiffusionProcess Gaussian = new("gaussian", "noise on normalised embeddings, CDCD", continuous: true);

    public static IReadOnlyList<DiffusionProcess> All { get; } = [Masked, Uniform, Gaussian];
    public static string Kind => "process";

    public static DiffusionProcess Parse(string? spelling) => Spellings.Parse<DiffusionProcess>(spelling);

    /// <summary>"masked (absorbing [MASK], LLaDA/MDLM), uniform (...) or gaussian (...)": the --process help.</summary>
    public static string Help => Spellings.Help<DiffusionProcess>();

    public override string ToString() => Spelling;
}
