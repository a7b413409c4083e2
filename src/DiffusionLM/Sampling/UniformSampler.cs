using DiffusionLM.Corruption;
using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.UniformSamplerOptions>;

namespace DiffusionLM.Sampling;

/// <summary>Settings of the uniform family's ancestral sampler.</summary>
/// <param name="Steps">reverse steps on the grid t_i = 1 − i/Steps; one network call each, so NFE = Steps.</param>
/// <param name="Temperature">0: the intermediate steps draw from the model as it is and the last step takes the argmax
/// of p_θ(x_0 | x_t); T &gt; 0: the logits are divided by T at every step and the last step samples.</param>
public sealed record UniformSamplerOptions(int GenLength = 128, int Steps = 128, double Temperature = 0.0) : ISamplerOptions
{
    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.Steps(o => o.Steps, (o, v) => o with { Steps = v }),
        Opt.Temperature(o => o.Temperature, (o, v) => o with { Temperature = v }),
    ];

    public void Validate()
    {
        if (GenLength <= 0) throw new DlmException($"uniform sampler: gen length must be positive (got {GenLength})");
        if (Steps <= 0) throw new DlmException($"uniform sampler: steps must be positive (got {Steps})");
        if (!(Temperature >= 0) || double.IsInfinity(Temperature)) throw new DlmException($"uniform sampler: temperature must be a finite number >= 0 (got {Temperature})");
    }
}

/// <summary>
/// Ancestral sampling for uniform discrete diffusion (D3PM/UDLM): the completion starts as uniform draws from the
/// K ordinary tokens (x_1 ~ q(x_1) = U_K for the linear schedule), the prompt stays fixed, and each step from t to
/// s = t − 1/Steps draws every completion position afresh from
/// p(x_s | x_t) = Σ_{x_0} q(x_s | x_t, x_0)·p_θ(x_0 | x_t), q(x_s | x_t, x_0) = q(x_t | x_s)·q(x_s | x_0)/q(x_t | x_0)
/// (written out in <see cref="UniformProcess.ReverseProbabilities"/>), where p_θ(x_0 | x_t) is the network's x_θ with
/// the token at x_t added by Bayes' rule (<see cref="UniformProcess.PosteriorLogProbabilities"/>). Unlike masked
/// samplers nothing is ever frozen: any token can change at any step, which is the D3 property the audit counts.
/// The last step (s = 0) reduces to x_0 ~ p_θ(x_0 | x_{1/Steps}), the argmax at temperature 0.
/// </summary>
/// <remarks>The trace lists, per step, the positions whose token changed (Confidence = the step's probability of the
/// token drawn); a step that redraws a position to the same token records nothing.</remarks>
public sealed class UniformSampler(UniformSamplerOptions? options = null) : EngineSampler<UniformSamplerOptions>(options ?? new UniformSamplerOptions())
{
    protected override string DisplayName => DiffusionProcess.Uniform.Spelling;

    protected override void Prepare(IDenoiser model) => UniformProcess.ForModel(model.Config);

    internal override void Run(SamplerRun run, Generator generator)
    {
        var o = Options;
        var model = run.Model;
        var process = UniformProcess.ForModel(model.Config);
        int p = run.PromptLength, gen = o.GenLength;
        var start = randint(0, process.K, new long[] { run.Batch, gen }, dtype: ScalarType.Int64, generator: generator);
        run.X.narrow(1, p, gen).copy_(process.TokensOf(start));
        for (int i = 0; i < o.Steps; i++)
        {
            using var stepScope = torch.NewDisposeScope();
            double t = 1.0 - (double)i / o.Steps, s = 1.0 - (double)(i + 1) / o.Steps;
            bool last = i == o.Steps - 1;
            Tensor? time = model.Config.TimeConditioning ? torch.full(new long[] { run.Batch }, (float)t, dtype: ScalarType.Float32) : null;
            var logits = run.Forward(time);
            var scaled = o.Temperature > 0 ? logits / o.Temperature : logits;
            var logX = process.SetLogProbabilities(scaled.narrow(1, p, gen));
            var xt = run.X.narrow(1, p, gen);
            double alphaT = process.Schedule.Alpha(t);
            var posterior = process.PosteriorLogProbabilities(logX, xt, torch.tensor(alphaT, dtype: ScalarType.Float64)).exp();
            var probs = last ? posterior : process.ReverseProbabilities(posterior, process.SetIndexOf(xt), process.Schedule.Alpha(s), alphaT);
            var drawn = last && o.Temperature == 0 ? probs.argmax(-1) : Categorical.Sample(probs, generator);
            var confidence = probs.gather(-1, drawn.unsqueeze(-1)).squeeze(-1) / probs.sum(-1);
            var next = process.TokensOf(drawn);
            var commits = Changes(xt, next, confidence, p, run.Total);
            xt.copy_(next);
            run.AddStep(0, i, commits);
        }
    }

    static List<Commit> Changes(Tensor before, Tensor after, Tensor confidence, int promptLength, int total)
    {
        var b = before.contiguous().data<long>().ToArray();
        var a = after.data<long>().ToArray();
        var c = confidence.to_type(ScalarType.Float64).data<double>().ToArray();
        int gen = total - promptLength;
        var commits = new List<Commit>();
        for (int k = 0; k < a.Length; k++)
            if (a[k] != b[k]) commits.Add(new Commit(k / gen, promptLength + k % gen, a[k], c[k]));
        return commits;
    }
}
