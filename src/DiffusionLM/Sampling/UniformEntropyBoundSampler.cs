using DiffusionLM.Corruption;
using TorchSharp;
using static TorchSharp.torch;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.UniformEntropyBoundOptions>;

namespace DiffusionLM.Sampling;

/// <summary>Settings of the entropy-bounded sampler for uniform-diffusion models.</summary>
/// <param name="Gamma">γ in nats, as for <see cref="EntropyBoundOptions"/>: each step freezes the lowest-entropy undecided
/// positions while their summed entropy minus the largest is ≤ γ (at least one).</param>
/// <param name="Temperature">0: frozen tokens are the argmax; otherwise drawn from softmax(logits / T).</param>
public sealed record UniformEntropyBoundOptions(int GenLength = 128, double Temperature = 0.0, double Gamma = 0.1) : ISamplerOptions
{
    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.Temperature(o => o.Temperature, (o, v) => o with { Temperature = v }),
        Opt.Of("--gamma", nameof(SamplerSettings.Gamma), "entropy budget in nats per step: the lowest-entropy positions are frozen while their summed entropy minus the largest is <= gamma, the rest renoised",
            o => o.Gamma, (o, v) => o with { Gamma = v }),
    ];

    public void Validate()
    {
        if (GenLength <= 0) throw new DlmException($"uniform EB sampler: gen length must be positive (got {GenLength})");
        if (!double.IsFinite(Temperature) || Temperature < 0) throw new DlmException($"uniform EB sampler: temperature must be a finite number >= 0 (got {Temperature})");
        if (!double.IsFinite(Gamma) || Gamma < 0) throw new DlmException($"uniform EB sampler: gamma must be a finite number >= 0 (got {Gamma})");
    }
}

/// <summary>
/// The entropy bound for uniform diffusion (a canvas of uniform noise, renoised every step): the completion starts as
/// uniform draws from the process's K tokens. Each step the model predicts p(x_0 | x_t) at every position; the
/// undecided positions are ranked by its entropy and the lowest ones are frozen (their token committed for good) while
/// Σ H − max H ≤ γ. Every undecided position is then renoised to the time of the fraction still undecided, t = u/G:
/// x_t ~ q(x_t | x̂_0), a draw x̂_0 from the prediction kept with probability α_t and a uniform token otherwise, so the
/// next call sees a state of the marginal it was trained on. NFE ≤ GenLength; adapts to the model's certainty.
/// </summary>
/// <remarks>The trace lists the frozen positions of each step (confidence = the probability of the token).</remarks>
public sealed class UniformEntropyBoundSampler(UniformEntropyBoundOptions? options = null)
    : EngineSampler<UniformEntropyBoundOptions>(options ?? new UniformEntropyBoundOptions())
{
    protected override string DisplayName => "uniform EB";

    protected override void Prepare(Models.IDenoiser model) => UniformProcess.ForModel(model.Config);

    internal override void Run(SamplerRun run, Generator generator)
    {
        var o = Options;
        var process = UniformProcess.ForModel(run.Model.Config);
        int p = run.PromptLength, gen = o.GenLength, batch = run.Batch;
        var start = randint(0, process.K, new long[] { batch, gen }, dtype: ScalarType.Int64, generator: generator);
        run.X.narrow(1, p, gen).copy_(process.TokensOf(start));
        var decided = new bool[batch, gen];
        var left = Enumerable.Repeat(gen, batch).ToArray();
        double t = 1.0;
        for (int step = 0; left.Any(n => n > 0); step++)
        {
            using var stepScope = torch.NewDisposeScope();
            Tensor? time = run.Model.Config.TimeConditioning ? torch.full(new long[] { batch }, (float)t, dtype: ScalarType.Float32) : null;
            var logits = run.Forward(time).narrow(1, p, gen);
            // p_θ(x_0 | x_t) over the process's token set (x_θ with the seen token added by Bayes' rule, as the
            // ancestral sampler); the set index maps back to ids.
            var xt = run.X.narrow(1, p, gen);
            var setLogits = process.PosteriorLogProbabilities(process.SetLogProbabilities(logits), xt,
                torch.tensor(process.Schedule.Alpha(t), dtype: ScalarType.Float64));
            var (setTokens, prob, entropy) = EntropyBoundSampler.Predict(setLogits, o.Temperature, generator);
            var commits = new List<Commit>();
            var xs = run.X.narrow(1, p, gen).contiguous().data<long>().ToArray();
            var ids = process.TokensOf(torch.tensor(setTokens, new long[] { batch, gen })).data<long>().ToArray();
            for (int b = 0; b < batch; b++)
            {
                var undecided = Enumerable.Range(0, gen).Where(i => !decided[b, i]).ToList();
                if (undecided.Count == 0) continue;
                foreach (int i in EntropyBoundSampler.Select(undecided, i => entropy[b * gen + i], o.Gamma))
                {
                    decided[b, i] = true; left[b]--;
                    xs[b * gen + i] = ids[b * gen + i];
                    commits.Add(new Commit(b, p + i, ids[b * gen + i], prob[b * gen + i]));
                }
            }
            // Renoise the undecided positions to the time of the fraction left: x̂_0 kept with probability α_t.
            t = (double)left.Max() / gen;
            double alpha = process.Schedule.Alpha(t);
            var keep = torch.rand(new long[] { batch, gen }, dtype: ScalarType.Float64, generator: generator).data<double>().ToArray();
            var noise = process.TokensOf(randint(0, process.K, new long[] { batch, gen }, dtype: ScalarType.Int64, generator: generator)).data<long>().ToArray();
            for (int b = 0; b < batch; b++)
                for (int i = 0; i < gen; i++)
                    if (!decided[b, i]) xs[b * gen + i] = keep[b * gen + i] < alpha ? ids[b * gen + i] : noise[b * gen + i];
            run.X.narrow(1, p, gen).copy_(torch.tensor(xs, new long[] { batch, gen }));
            run.AddStep(0, step, commits);
        }
    }
}
