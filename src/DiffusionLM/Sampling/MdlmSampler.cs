using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.MdlmOptions>;

namespace DiffusionLM.Sampling;

/// <summary>Settings of MDLM's cached ancestral sampler (kuleshov-group/mdlm, diffusion.py: _sample with ddpm_cache).</summary>
/// <param name="Steps">time steps from 1 to eps.</param>
/// <param name="Eps">the last time: timesteps = linspace(1, eps, steps + 1) (MDLM's default 1e-5).</param>
/// <param name="TopP">nucleus_p: keep the most probable tokens whose cumulative mass is ≤ p (the top one always); 1: off.</param>
public sealed record MdlmOptions(int GenLength = 128, int Steps = 128, double Eps = 1e-5, double TopP = 1.0) : ISamplerOptions
{
    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.Steps(o => o.Steps, (o, v) => o with { Steps = v }),
        Opt.Of("--eps", nameof(SamplerSettings.Eps), "last point of the time grid linspace(1, eps, steps + 1)", o => o.Eps, (o, v) => o with { Eps = v }),
        Opt.Of("--top-p", nameof(SamplerSettings.TopP), "nucleus filtering of p(x0): the most probable tokens holding this mass (1: off)", o => o.TopP, (o, v) => o with { TopP = v }),
    ];

    public void Validate()
    {
        if (GenLength <= 0) throw new DlmException($"MDLM sampler: gen length must be positive (got {GenLength})");
        if (Steps <= 0) throw new DlmException($"MDLM sampler: steps must be positive (got {Steps})");
        if (!(Eps > 0 && Eps < 1)) throw new DlmException($"MDLM sampler: --eps must lie in (0, 1) (got {Eps})");
        if (!(TopP > 0 && TopP <= 1)) throw new DlmException($"MDLM sampler: --top-p must lie in (0, 1] (got {TopP})");
    }
}

/// <summary>
/// MDLM's ancestral sampler with its cache: from t to s = t − dt, each masked position stays masked
/// with probability s/t and otherwise takes a token drawn from the denoiser's p(x0) (the mask excluded),
/// unmasked positions are carried over. The denoiser's output is reused while x has not changed (and the
/// model is not time-conditioned), so a step that changes nothing costs no network evaluation: NFE ≤ steps + 1.
/// After the last step, positions still masked are filled by argmax (MDLM's noise_removal).
/// </summary>
/// <remarks>
/// As in the reference, the move chances at t and s are t and t − dt (MDLM's log-linear schedule, whose mask
/// probability is (1 − 10⁻³)·t; LLaDA's linear schedule has exactly t). The final noise-removal pass is only
/// run when some position is still masked: on unmasked positions MDLM's "subs" output is the token itself,
/// so the reference's unconditional extra pass changes nothing there.
/// </remarks>
public sealed class MdlmSampler(MdlmOptions? options = null) : EngineSampler<MdlmOptions>(options ?? new MdlmOptions())
{
    protected override string DisplayName => "MDLM";

    internal override void Run(SamplerRun run, Generator generator)
    {
        var o = Options;
        var model = run.Model;
        float[] ts = Timesteps(o.Steps, o.Eps);
        float dt = (float)((1 - o.Eps) / o.Steps);
        Tensor? cache = null;
        for (int i = 0; i < o.Steps; i++)
        {
            using var stepScope = torch.NewDisposeScope();
            float t = ts[i], s = t - dt;
            bool fromCache = cache is not null;
            var px0 = cache ?? ProbabilitiesX0(run, t, o.TopP, subs: false);
            var q = px0 * (double)(t - s);
            q = q.index_fill(-1, torch.tensor(new long[] { run.MaskId }), (double)s);
            var draw = Categorical.Sample(q, generator);
            var wasMasked = run.X.eq(run.MaskId);
            var xs = torch.where(wasMasked, draw, run.X);
            var commits = Changes(run, xs, px0);
            bool unchanged = commits.Count == 0;
            run.X.copy_(xs);
            run.AddStep(0, i, commits);
            // Keep p(x0) while x is unchanged; it outlives this step's scope only then.
            if (unchanged && !model.Config.TimeConditioning) { if (!fromCache) cache = px0.MoveToOuterDisposeScope(); }
            else { cache?.Dispose(); cache = null; }
        }
        // The last pass runs at the grid's last time point, eps, as ReMDM's does (it was once called without it).
        NoiseRemoval(run, cache, o.Steps, o.Eps);
        cache?.Dispose();
    }

    internal static float[] Timesteps(int steps, double eps) =>
        torch.linspace(1, eps, steps + 1, dtype: ScalarType.Float32).data<float>().ToArray();

    /// <summary>
    /// p(x0 | x_t) in float64 with the mask excluded, nucleus-filtered; with <paramref name="subs"/> the
    /// unmasked positions are one-hot on their token (MDLM's "subs" parameterisation, which ReMDM's
    /// remasking formulas assume).
    /// </summary>
    internal static Tensor ProbabilitiesX0(SamplerRun run, float t, double topP, bool subs)
    {
        Tensor? time = run.Model.Config.TimeConditioning ? torch.full(new long[] { run.Batch }, t, dtype: ScalarType.Float32) : null;
        var logits = Categorical.NoMask(run.Forward(time), run.MaskId);
        var p = torch.softmax(logits.to_type(ScalarType.Float64), -1);
        if (topP < 1)
        {
            var (sorted, idx) = torch.sort(p, dim: -1, descending: true);
            var keep = sorted.cumsum(-1).le(topP);
            keep = keep.index_fill(-1, torch.tensor(new long[] { 0 }), true);
            var nucleus = sorted * keep;
            nucleus = nucleus / nucleus.sum(-1, keepdim: true);
            p = torch.zeros_like(p).scatter(-1, idx, nucleus);
        }
        if (subs)
        {
            var oneHot = torch.nn.functional.one_hot(run.X, run.Vocab).to_type(ScalarType.Float64);
            p = torch.where(run.X.ne(run.MaskId).unsqueeze(-1), oneHot, p);
        }
        return p;
    }

    /// <summary>Positions whose value changed: unmaskings (with p(x0) of the token) and, for remasking samplers, remaskings (token = mask id, confidence NaN).</summary>
    internal static List<Commit> Changes(SamplerRun run, Tensor xs, Tensor px0)
    {
        var before = run.X.data<long>().ToArray();
        var after = xs.data<long>().ToArray();
        var commits = new List<Commit>();
        List<int>? idx = null;
        for (int k = 0; k < after.Length; k++)
            if (after[k] != before[k]) (idx ??= []).Add(k);
        if (idx is null) return commits;
        // One gather for the probabilities of the new tokens (the mask column reads 0 and is reported as NaN).
        var pNew = px0.gather(-1, xs.unsqueeze(-1)).squeeze(-1).to_type(ScalarType.Float64).data<double>().ToArray();
        foreach (int k in idx)
        {
            int b = k / run.Total, pos = k % run.Total;
            commits.Add(new Commit(b, pos, after[k], after[k] == run.MaskId ? double.NaN : pNew[k]));
        }
        return commits;
    }

    /// <summary>Fills what is still masked with the argmax of p(x0) (reusing a valid cache); one more NFE only when needed.</summary>
    internal static void NoiseRemoval(SamplerRun run, Tensor? cache, int stepIndex, double eps)
    {
        using var scope = torch.NewDisposeScope();
        var masked = run.X.eq(run.MaskId);
        if (!masked.any().item<bool>()) return;
        var px0 = cache ?? ProbabilitiesX0(run, (float)eps, 1.0, subs: false);
        var xs = torch.where(masked, px0.argmax(-1), run.X);
        var commits = Changes(run, xs, px0);
        run.X.copy_(xs);
        run.AddStep(0, stepIndex, commits);
    }
}
