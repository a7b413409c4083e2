namespace DiffusionLM.CorruptionBench;

/// <summary>
/// Settings of `dlm bench corruption`. Every corruption gets the same model, steps, batch and learning rate on a testbed.
/// <see cref="Quick"/> is the CI-sized run.
/// </summary>
public sealed record CorruptionBenchOptions(
    string[] Corruptions, int HmmSteps = 1500, int StorySteps = 600, int BatchSize = 32, int StoryBatchSize = 16,
    int HmmStates = 32, int HmmVocab = 32, int HmmLength = 32, int HeldOut = 256, int Mc = 16,
    int Samples = 256, int[]? StoryStepCounts = null, int[]? HmmStepCounts = null, int StoryGenLength = 128,
    int CurvePoints = 8, int ProbeOpenings = 64, int ProbeMasks = 48, long Seed = 0, bool SkipStories = false)
{
    public int[] StorySampling => StoryStepCounts ?? [128, 32, 16];
    public int[] HmmSampling => HmmStepCounts ?? [28, 14, 7];

    public static CorruptionBenchOptions Quick(string[] corruptions) => new(corruptions, HmmSteps: 60, StorySteps: 20, BatchSize: 16, StoryBatchSize: 4,
        HmmStates: 8, HmmVocab: 10, HmmLength: 16, HeldOut: 16, Mc: 4, Samples: 8, StoryStepCounts: [16, 8], HmmStepCounts: [14, 7],
        StoryGenLength: 16, CurvePoints: 2, ProbeOpenings: 4, ProbeMasks: 8);

    public void Validate()
    {
        if (Corruptions.Length == 0) throw new DlmException("bench corruption: --corruptions names none");
        foreach (var c in Corruptions) Models.MaskedCorruption.Parse(c);
        if (!Corruptions.Contains(Models.MaskedCorruption.Uniform.Spelling))
            throw new DlmException($"bench corruption: the comparison needs {Models.MaskedCorruption.Uniform} among --corruptions");
        // The three a user sets are named; the rest are fixed by Quick and the defaults, checked for a caller of this record.
        if (HmmSteps <= 0) throw new DlmException($"--hmm-steps {HmmSteps}: must be positive");
        if (StorySteps <= 0) throw new DlmException($"--story-steps {StorySteps}: must be positive");
        if (Samples < 2) throw new DlmException($"--num-samples {Samples}: must be at least 2 (a standard error needs two samples)");
        if (BatchSize <= 0 || StoryBatchSize <= 0 || HeldOut < 2 || Mc <= 0 || CurvePoints < 1)
            throw new DlmException("bench corruption: batch sizes, held-out count (≥ 2), MC and curve points must be positive");
        foreach (var s in HmmSampling) if (s <= 0 || s > HmmLength - HmmPrompt) throw new DlmException($"bench corruption: HMM sampling steps {s} must be in 1..{HmmLength - HmmPrompt}");
        foreach (var s in StorySampling) if (s <= 0 || s > StoryGenLength) throw new DlmException($"bench corruption: story sampling steps {s} must be in 1..{StoryGenLength}");
    }

    /// <summary>HMM generations continue the first tokens of held-out sequences; the judge is the exact HMM.</summary>
    public int HmmPrompt => Math.Max(1, HmmLength / 8);
}
