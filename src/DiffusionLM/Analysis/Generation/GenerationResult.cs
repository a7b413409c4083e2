using DiffusionLM.Analysis.Quality;

namespace DiffusionLM.Analysis.Generation;

/// <summary>A run's speed. Tokens are generated positions only (samples × gen length; the prompt is excluded), over the
/// wall time of the sampler calls alone (judging, tokenizing and scoring are not timed).</summary>
/// <param name="nfe_per_sample">forward calls per generated sample (a batched call counts once for each of its rows' shares).</param>
/// <param name="positions_per_sample">positions the denoiser recomputed per sample: what a block cache lowers.</param>
public sealed record Speed(int batch_size, int samples, double seconds, double tokens_per_second, double nfe_per_sample, double positions_per_sample);

/// <param name="quality">the judged batched run (gen-PPL and entropy with 95% intervals).</param>
/// <param name="batched">speed of that run; <paramref name="single"/>: the first timing samples again, one at a time (null when none were asked for).</param>
/// <param name="speedup_batched">tokens/s over the baseline's at the same batch size.</param>
/// <param name="equal_quality">gen-PPL no higher than the top of the baseline's 95% interval and unigram entropy no lower than the
/// bottom of its interval (a lower gen-PPL bought by repetition does not count).</param>
/// <param name="cache_drift">with a block cache: its logits against uncached forwards on the same states (null without one).</param>
public sealed record GenerationCell(string sampler, string setting, string cache, bool blocks, QualityCell quality, Speed batched, Speed? single,
    double speedup_batched, double? speedup_single, bool equal_quality, DriftFigures? cache_drift);

/// <summary>The fastest cell at equal quality for one batch size.</summary>
public sealed record BestCell(int batch_size, string label, double speedup, double tokens_per_second);

public sealed record GenerationResult(GenerationOptions options, string cpu, int threads, string model, string judge, string prompts_file,
    int openings, QualityCell teacher_floor, List<GenerationCell> cells, List<BestCell> best);
