namespace DiffusionLM.CorruptionBench;

/// <summary>A mean with its standard error and 95% interval (mean ± 1.96·SE unless stated).</summary>
public sealed record Estimate(double mean, double se, double low, double high, int n)
{
    public static Estimate Of(IReadOnlyList<double> values)
    {
        int n = values.Count;
        double mean = values.Average();
        double se = n > 1 ? Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (n - 1) / n) : double.NaN;
        return new Estimate(mean, se, mean - 1.96 * se, mean + 1.96 * se, n);
    }
}

/// <summary>The bounds at one point of training: both per token, on the same held-out subset.</summary>
public sealed record CurvePoint(int step, double uniform_bound, double? own_bound);

/// <summary>Samples at one step count: the judge's perplexity (95% bootstrap interval) and the samples' unigram entropy.</summary>
public sealed record GenCell(int steps, double gen_ppl, double ppl_low, double ppl_high, Estimate entropy, int samples, double seconds);

/// <summary>The probe by distance from the opening (1..N): prompt information KL(p(x_i | opening, masks) ‖ p(x_i | masks)), KL to the unigram, and on the HMM KL(exact p(x_i | opening) ‖ model).</summary>
public sealed record DecayCurve(double[] prompt_information, double[] kl_unigram, double[]? kl_to_exact = null);

/// <summary>One corruption's model on one testbed.</summary>
/// <param name="uniform_bound">the masked (uniform) ELBO per token on held-out data: a bound on the NLL for any denoiser.</param>
/// <param name="own_bound">the corruption's own ELBO per token, for the corruptions whose loss is one; null otherwise.</param>
/// <param name="uniform_bound_vs_uniform">paired difference (this − uniform's model) of the uniform bound over the same held-out sequences.</param>
/// <param name="best_bound_vs_uniform">paired difference of this model's best bound (own where it has one, else uniform) against uniform's model.</param>
/// <param name="steps_to_uniform_final">first evaluated step at which this model's best bound is at or below the uniform model's final bound; null if never.</param>
/// <param name="bayes_bound">the Bayes-optimal denoiser's bound under this corruption (HMM only): what the corruption alone costs.</param>
/// <param name="gen_raw_posterior">for a token-dependent corruption, whose <paramref name="gen"/> samples the clean conditional
/// (<see cref="Corruption.Masking.MaskEvidenceRemoval"/>): the same sampler on the model's raw logits, the posterior that includes the mask evidence.</param>
public sealed record CorruptionRun(
    string corruption, bool claims_bound, double final_train_loss, double train_seconds,
    Estimate uniform_bound, Estimate? own_bound, Estimate uniform_bound_vs_uniform, Estimate best_bound_vs_uniform,
    int? steps_to_uniform_final, List<CurvePoint> curve, List<GenCell> gen, DecayCurve? decay, Estimate? bayes_bound,
    List<GenCell>? gen_raw_posterior = null);

public sealed record TestbedResult(string name, string description, int train_steps, int batch_size, int seq_len, long parameters,
    double? exact_nll, List<CorruptionRun> runs, double[]? exact_information_by_distance);

public sealed record CorruptionBenchResult(CorruptionBenchOptions options, string cpu, List<TestbedResult> testbeds);
