namespace DiffusionLM.Analysis.Probe;

/// <summary>How the probe runs.</summary>
/// <param name="Masks">N: mask tokens appended to every prompt.</param>
/// <param name="TopK">tokens listed per masked position.</param>
/// <param name="BatchSize">prompts per forward pass (rows are left-padded with an attention mask).</param>
/// <param name="TruncatePrompts">keep the last tokens of a prompt too long for N masks (the end, next to the answer)
/// instead of failing; on by default, since the paper's experiment is prompt + 128 masks whatever the prompt's length.</param>
public sealed record ProbeOptions(int Masks = 128, int TopK = 3, int BatchSize = 16, bool TruncatePrompts = true)
{
    public void Validate()
    {
        if (Masks <= 0) throw new DlmException($"--masks must be positive (got {Masks})");
        if (TopK <= 0) throw new DlmException($"--top-tokens must be positive (got {TopK})");
        if (BatchSize <= 0) throw new DlmException($"--batch-size must be positive (got {BatchSize})");
    }
}

/// <summary>The stepwise variant: re-probe while a sampler commits tokens.</summary>
/// <param name="Sampler">a name from <see cref="Sampling.SamplerRegistry"/>.</param>
/// <param name="Steps">K denoising steps over the N masks.</param>
/// <param name="BlockLength">semi-autoregressive block length (default N: one block).</param>
public sealed record StepwiseOptions(string Sampler, int Steps, int? BlockLength = null, string Remasking = Sampling.LladaSamplerOptions.LowConfidence, double Temperature = 0, long Seed = 0)
{
    public void Validate(int masks)
    {
        if (Steps <= 0) throw new DlmException($"--steps must be positive (got {Steps})");
        if (Steps > masks) throw new DlmException($"--steps {Steps} is more than --masks {masks}: each step commits at least one token");
    }
}

/// <summary>A token and its probability at one masked position.</summary>
public readonly record struct TokenProbability(int Id, string Text, double Probability);

/// <summary>Everything the probe measured for one prompt; arrays are indexed by masked position 0..N−1 (distance 1..N).</summary>
public sealed class PromptProbe
{
    public required ProbePrompt Prompt { get; init; }
    /// <summary>Prompt tokens the model saw (after any chat template and truncation).</summary>
    public required int PromptTokens { get; init; }
    /// <summary>Tokens dropped from the front of the prompt by --truncate-prompts.</summary>
    public required int TruncatedTokens { get; init; }
    public required double[] Entropy { get; init; }
    /// <summary>KL(p ‖ unigram); null when the model has no unigram.json.</summary>
    public required double[]? KlUnigram { get; init; }
    /// <summary>KL(p ‖ unigram) with both renormalised without eos (NaN where p is all eos); null without unigram.</summary>
    public required double[]? KlUnigramNoEos { get; init; }
    /// <summary>KL(p(x_i | prompt, masks) ‖ p(x_i | masks only)).</summary>
    public required double[] PromptInformation { get; init; }
    public required double[] EosMass { get; init; }
    public required bool[] Top1Structural { get; init; }
    /// <summary>Probability mass on tokens that are not structural (1 − structural mass, eos included in structural).</summary>
    public required double[] ContentMass { get; init; }
    /// <summary>[N][k] the k most probable tokens, most probable first.</summary>
    public required TokenProbability[][] Top { get; init; }
}

/// <summary>The masks-only reference pass: N masks and no prompt.</summary>
public sealed class MasksOnlyProbe
{
    public required double[] Entropy { get; init; }
    public required double[] EosMass { get; init; }
    public required double[]? KlUnigram { get; init; }
    public required TokenProbability[][] Top { get; init; }
}

/// <summary>Per-position means over prompts with 95% intervals (<see cref="ConfidenceInterval"/>).</summary>
public sealed class ProbeAggregate
{
    public required Interval[] Entropy { get; init; }
    public required Interval[]? KlUnigram { get; init; }
    public required Interval[]? KlUnigramNoEos { get; init; }
    public required Interval[] StructuralShare { get; init; }
    public required Interval[] ContentMass { get; init; }
    public required Interval[] PromptInformation { get; init; }
    public required Interval[] EosMass { get; init; }
    /// <summary>
    /// I(x_i; prompt) for a prompt drawn uniformly from the probed set, under the model: H(p̄_i) − mean H(p_i),
    /// p̄_i the mean prediction over the prompts (= the mean over prompts of KL(p_i ‖ p̄_i)). Unlike
    /// <see cref="PromptInformation"/> it needs no masks-only pass, which an SFT-trained model never saw.
    /// </summary>
    public required double[] MutualInformation { get; init; }
    /// <summary>KL(p̄_i ‖ unigram): how far the prediction averaged over prompts is from the corpus unigram.</summary>
    public required double[]? MixtureKlUnigram { get; init; }

    public static ProbeAggregate Of(IReadOnlyList<PromptProbe> prompts, int masks, double[] mutualInformation, double[]? mixtureKlUnigram)
    {
        Interval[] Mean(Func<PromptProbe, double[]?> pick) =>
            Enumerable.Range(0, masks).Select(i => ConfidenceInterval.Mean(prompts.Select(p => pick(p)![i]))).ToArray();
        bool hasUnigram = prompts.Count > 0 && prompts[0].KlUnigram is not null;
        return new ProbeAggregate
        {
            Entropy = Mean(p => p.Entropy),
            KlUnigram = hasUnigram ? Mean(p => p.KlUnigram) : null,
            KlUnigramNoEos = hasUnigram ? Mean(p => p.KlUnigramNoEos) : null,
            StructuralShare = Enumerable.Range(0, masks).Select(i => ConfidenceInterval.Share(prompts.Select(p => p.Top1Structural[i]))).ToArray(),
            ContentMass = Mean(p => p.ContentMass),
            PromptInformation = Mean(p => p.PromptInformation),
            EosMass = Mean(p => p.EosMass),
            MutualInformation = mutualInformation,
            MixtureKlUnigram = mixtureKlUnigram,
        };
    }
}

/// <summary>
/// The stepwise variant's measurements: row j is the state after j denoising steps (j = 0 is the
/// single pass), as the sampler's own forward pass on it saw it.
/// </summary>
public sealed class StepwiseProbe
{
    public required StepwiseOptions Options { get; init; }
    /// <summary>[prompt][step][position]: entropy where the position is still masked, NaN where it was committed.</summary>
    public required double[][][] Entropy { get; init; }
    /// <summary>[step][position] mean entropy over the prompts where the position is still masked.</summary>
    public required Interval[][] MeanEntropy { get; init; }
    /// <summary>[step][position] share of prompts in which the position is still masked.</summary>
    public required double[][] MaskedShare { get; init; }
    /// <summary>The sampler's final completion of every prompt (up to the first eos).</summary>
    public required string[] Completions { get; init; }
}

/// <summary>The whole outcome of a probe run.</summary>
public sealed class ProbeResult
{
    public required ProbeOptions Options { get; init; }
    public required string? ChatTemplate { get; init; }
    public required bool HasUnigram { get; init; }
    public required string[] FrequentTokens { get; init; }
    public required IReadOnlyList<PromptProbe> Prompts { get; init; }
    public required MasksOnlyProbe MasksOnly { get; init; }
    public required ProbeAggregate Aggregate { get; init; }
    public StepwiseProbe? Stepwise { get; init; }
    public required double Seconds { get; init; }
}
