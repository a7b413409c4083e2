namespace DiffusionLM.Analysis.Quality;

/// <summary>How `dlm bench quality` samples and scores.</summary>
/// <param name="Samples">continuations per cell; sample i continues opening i mod (number of openings).</param>
/// <param name="GenLength">tokens generated after each opening.</param>
/// <param name="StepCounts">sampling steps of the LLaDA sampler (over the whole continuation, shared equally by its blocks).</param>
/// <param name="Remasking">LLaDA remasking strategies compared (low_confidence, random).</param>
/// <param name="Temperature">sampling temperature of the teacher's floor and of the LLaDA sampler (1: the protocol of MDLM/SEDD).</param>
/// <param name="BatchSize">continuations generated together (left-padded openings with an attention mask).</param>
/// <param name="ElboStories">held-out stories scored by each model's ELBO (and by the teacher exactly); 0 skips the held-out likelihood.</param>
/// <param name="ElboMc">Monte-Carlo masks per story for the ELBO.</param>
/// <param name="BlockLength">LLaDA's semi-autoregressive block; null: one block of GenLength (the whole continuation at once).</param>
public sealed record QualityOptions(
    int Samples = 256, int GenLength = 128, int[]? StepCounts = null, string[]? Remasking = null, double Temperature = 1.0,
    int BatchSize = 64, int ElboStories = 64, int ElboMc = 16, long Seed = 0, int? BlockLength = null)
{
    public int Block => BlockLength ?? GenLength;

    public int[] Steps => StepCounts ?? [128, 64, 32, 16, 8];
    public string[] Remaskings => Remasking ?? [Sampling.LladaSamplerOptions.LowConfidence, Sampling.LladaSamplerOptions.Random];

    public void Validate()
    {
        if (Samples <= 0) throw new DlmException($"--num-samples must be positive (got {Samples})");
        if (GenLength <= 0) throw new DlmException($"--gen-length must be positive (got {GenLength})");
        if (BatchSize <= 0) throw new DlmException($"--batch-size must be positive (got {BatchSize})");
        if (ElboStories < 0) throw new DlmException($"--elbo-stories {ElboStories}: must be 0 (skip the held-out ELBO) or more");
        if (ElboMc <= 0) throw new DlmException($"--mc {ElboMc}: must be positive");
        Sampling.SamplingOps.CheckTemperature("--temperature", Temperature);
        if (Block <= 0 || GenLength % Block != 0)
            throw new DlmException($"--block-length {Block} must be positive and divide --gen-length {GenLength}");
        int blocks = GenLength / Block;
        foreach (var s in Steps)
        {
            if (s <= 0 || s > GenLength) throw new DlmException($"--steps {s} must be in 1..{GenLength} (--gen-length)");
            // LLaDA's reference splits the steps equally over the blocks.
            if (s % blocks != 0) throw new DlmException($"--steps {s} must be a multiple of the {blocks} blocks (--gen-length {GenLength} / --block-length {Block})");
        }
        foreach (var r in Remaskings)
            if (r is not (Sampling.LladaSamplerOptions.LowConfidence or Sampling.LladaSamplerOptions.Random))
                throw new DlmException($"--remasking \"{r}\" is unknown (expected low_confidence or random)");
    }
}

/// <summary>A value with its 95% interval.</summary>
public sealed record Interval(double value, double low, double high);

/// <summary>One cell: a sampler setting's continuations, scored by the judge.</summary>
/// <param name="gen_ppl">exp(total judge NLL / total continuation tokens), with a seeded bootstrap 95% interval over samples.</param>
/// <param name="entropy">mean unigram entropy (nats) of a continuation's own tokens, with a normal 95% interval.</param>
/// <param name="tokens">judge tokens scored (continuations cut at the first end of story).</param>
/// <param name="nfe">forward calls per batch.</param>
public sealed record QualityCell(string sampler, int steps, Interval gen_ppl, Interval entropy, long tokens, int samples, double mean_length, double nfe, double seconds);

/// <summary>A model's held-out likelihood bound on whole held-out stories.</summary>
/// <param name="nll_per_token">ELBO bound on −log p per token of the model's own tokenizer.</param>
/// <param name="nll_per_char">the same bound per character of text: comparable across tokenizers.</param>
public sealed record HeldOut(double nll_per_token, double standard_error, double nll_per_char, long tokens, long chars, bool exact);

public sealed record QualityModel(string name, string folder, long parameters, bool judge_tokenizer, HeldOut? held_out, List<QualityCell> cells);

/// <param name="teacher_held_out">the judge's exact held-out NLL; null (and every model's held_out null) when --elbo-stories is 0.</param>
public sealed record QualityResult(QualityOptions options, string cpu, int threads, string prompts_file, int openings, string judge,
    HeldOut? teacher_held_out, QualityCell teacher_floor, List<QualityModel> models);
