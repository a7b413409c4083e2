using DiffusionLM.Corruption;
using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.GaussianSamplerOptions>;

namespace DiffusionLM.Sampling;

/// <summary>Settings of the gaussian (continuous) samplers.</summary>
/// <param name="Steps">network evaluations: t runs over 1, 1 − 1/steps, ..., 1/steps and the last step lands on σ = 0.</param>
/// <param name="Ddim">false: DDPM ancestral steps (fresh noise each step); true: DDIM's deterministic steps (η = 0).</param>
/// <param name="Clamp">Diffusion-LM's clamping trick: x̂_0 is snapped to the nearest token embedding before each step.</param>
/// <param name="Temperature">x̂_0 = softmax(logits / temperature)·E; 1 is plain score interpolation.</param>
public sealed record GaussianSamplerOptions(int GenLength = 128, int Steps = 128, bool Ddim = false, bool Clamp = false, double Temperature = 1.0) : ISamplerOptions
{
    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.Steps(o => o.Steps, (o, v) => o with { Steps = v }),
        // The verb's greedy 0 has no continuous meaning: it keeps this record's temperature (plain score interpolation).
        Opt.Temperature(o => o.Temperature, (o, v) => o with { Temperature = v > 0 ? v : o.Temperature }),
        Opt.Of("--clamp", nameof(SamplerSettings.Clamp), "Diffusion-LM's clamping trick: the x0 estimate snapped to the nearest token embedding at every step",
            o => o.Clamp, (o, v) => o with { Clamp = v }),
    ];

    public void Validate()
    {
        if (GenLength <= 0) throw new DlmException($"gaussian sampler: gen length must be positive (got {GenLength})");
        if (Steps <= 0) throw new DlmException($"gaussian sampler: steps must be positive (got {Steps})");
        if (!(Temperature > 0) || double.IsInfinity(Temperature)) throw new DlmException($"gaussian sampler: temperature must be positive (got {Temperature})");
    }
}

/// <summary>
/// Sampling of continuous diffusion on embeddings, in the VE form of <see cref="GaussianSchedule"/>. The completion
/// starts from x_T ~ N(0, σ_max² I) (the prompt enters as its clean embeddings and stays clean); at each step the
/// model's logits give x̂_0 = softmax(logits/τ)·E (CDCD's score interpolation), optionally clamped to the nearest
/// embedding, and carried to the next step as the self-conditioning input. From σ_t to σ_s:
/// DDPM draws x_s ~ q(x_s | x_t, x̂_0) = N(x̂_0 + (σ_s²/σ_t²)(x_t − x̂_0), σ_s²(σ_t² − σ_s²)/σ_t² · I);
/// DDIM moves deterministically, x_s = x̂_0 + (σ_s/σ_t)(x_t − x̂_0). The last step goes to σ = 0 (x = x̂_0).
/// Rounding: the returned ids are the argmax of the last step's logits (not the nearest embedding to the final x,
/// which at σ = 0 is x̂_0, a convex mixture of embeddings unless clamped).
/// NFE = steps. The trace records, at every step, the positions whose argmax token changed (the first step
/// proposes every completion position), with the softmax probability of the new token as confidence.
/// An observer sees, before each step, Continuous = x_t and State = x_t rounded to the nearest token embedding
/// (prompt positions: the prompt), the discrete sequence the continuous state currently sits nearest to.
/// </summary>
public sealed class GaussianSampler(GaussianSamplerOptions? options = null) : EngineSampler<GaussianSamplerOptions>(options ?? new GaussianSamplerOptions())
{
    protected override string DisplayName => Options.Ddim ? "gaussian DDIM" : "gaussian DDPM";

    protected override void Prepare(IDenoiser model)
    {
        if (model is not IContinuousDenoiser)
            throw new DlmException($"gaussian sampler: the model's process is \"{model.Config.Process}\"; this sampler decodes models of the gaussian process");
    }

    internal override void Run(SamplerRun run, Generator generator)
    {
        var m = (IContinuousDenoiser)run.Model;
        var o = Options;
        var model = run.Model;
        var schedule = GaussianSchedule.FromConfig(model.Config);
        var process = new GaussianProcess(schedule);
        var table = m.DiffusionEmbeddings().detach().to_type(ScalarType.Float32);
        long b = run.Batch, total = run.Total, p = run.PromptLength, d = table.shape[1];
        var clean = (arange(total) < p).view(1, total).expand(b, total);
        var clean3 = clean.unsqueeze(-1);
        var e = table.index_select(0, run.X.flatten()).view(b, total, d);
        var x = where(clean3, e, randn(b, total, d, dtype: ScalarType.Float32, generator: generator) * (float)schedule.SigmaMax);
        Tensor? selfCond = null;
        for (int i = 0; i < o.Steps; i++)
        {
            using var step = NewDisposeScope();
            double t = 1.0 - (double)i / o.Steps;
            double sigmaT = schedule.Sigma(t), sigmaS = i + 1 < o.Steps ? schedule.Sigma(1.0 - (double)(i + 1) / o.Steps) : 0.0;
            var logits = run.Forward(() => process.Logits(m, x, full(new long[] { b }, (float)t), selfCond, clean, run.Attention));
            if (run.Observer is not null) run.Observe(logits, where(clean, run.X, Nearest(x, table)), x);
            var probs = softmax(logits / o.Temperature, -1);
            var xHat = probs.matmul(table);
            if (o.Clamp) xHat = table.index_select(0, Nearest(xHat, table).flatten()).view(b, total, d);
            xHat = where(clean3, e, xHat);

            var proposal = where(clean, run.X, logits.argmax(-1));
            var commits = Changes(run, proposal, probs, first: i == 0);
            run.X.copy_(proposal);
            run.AddStep(0, i, commits);

            Tensor next;
            if (sigmaS == 0) next = xHat;
            else if (o.Ddim) next = xHat + (x - xHat) * (float)(sigmaS / sigmaT);
            else
            {
                double shrink = sigmaS * sigmaS / (sigmaT * sigmaT);
                double std = sigmaS * Math.Sqrt(sigmaT * sigmaT - sigmaS * sigmaS) / sigmaT;
                next = xHat + (x - xHat) * (float)shrink + randn(x.shape, dtype: ScalarType.Float32, generator: generator) * (float)std;
            }
            next = where(clean3, e, next);
            x.Dispose(); selfCond?.Dispose();
            x = next.MoveToOuterDisposeScope();
            selfCond = xHat.MoveToOuterDisposeScope();
        }
        x.Dispose(); selfCond?.Dispose();
    }

    /// <summary>[..] int64: the id of the nearest row of <paramref name="table"/> [V, D] to each D-vector of <paramref name="v"/> (L2).</summary>
    public static Tensor Nearest(Tensor v, Tensor table)
    {
        using var scope = NewDisposeScope();
        var flat = v.reshape(-1, table.shape[1]).to_type(table.dtype);
        var sq = table.square().sum(-1).view(1, -1) - 2 * flat.matmul(table.t());
        var shape = v.shape[..^1];
        return sq.argmin(-1).view(shape).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Positions whose proposed token differs from the current one (at the first step: every completion position,
    /// whatever the placeholder it replaces), with the new token's probability.
    /// </summary>
    static List<Commit> Changes(SamplerRun run, Tensor proposal, Tensor probs, bool first)
    {
        var before = run.X.data<long>().ToArray();
        var after = proposal.data<long>().ToArray();
        var commits = new List<Commit>();
        float[]? conf = null;
        for (int k = 0; k < after.Length; k++)
        {
            if (first ? k % run.Total < run.PromptLength : after[k] == before[k]) continue;
            conf ??= probs.gather(-1, proposal.unsqueeze(-1)).squeeze(-1).data<float>().ToArray();
            commits.Add(new Commit(k / run.Total, k % run.Total, after[k], conf[k]));
        }
        return commits;
    }
}
