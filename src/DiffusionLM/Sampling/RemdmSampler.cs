using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.RemdmOptions>;

namespace DiffusionLM.Sampling;

/// <summary>Settings of ReMDM (kuleshov-group/remdm, diffusion.py: _ddpm_caching_update), defaults from its scripts.</summary>
/// <param name="Strategy">"cap": σ = min(η, (1 − α_s)/α_t); "rescale": σ = η·σ_max; "conf": σ_i = softmax(conf)_i·σ_max,
/// conf = −p(token) when a position was unmasked (the least confident tokens are remasked first);
/// "loop": MDLM until t_on, then a plateau at α = α_on with remasking rate η, then MDLM again below t_off.</param>
/// <param name="Eta">η, the remasking rate; null: the reference scripts' default for the strategy (<see cref="DefaultEta"/>, for loop <see cref="LoopEta"/>), read as <see cref="Rate"/>.</param>
public sealed record RemdmOptions(
    int GenLength = 128,
    int Steps = 128,
    string Strategy = RemdmOptions.Cap,
    double? Eta = null,
    double TOn = 0.55,
    double TOff = 0.05,
    double AlphaOn = 0.9,
    double Eps = 1e-5,
    double TopP = 1.0) : ISamplerOptions
{
    public const string Cap = "cap", Rescale = "rescale", Conf = "conf", Loop = "loop";
    // Before Settable: static initialisers run in text order.
    public static readonly string[] Strategies = [Cap, Rescale, Conf, Loop];

    /// <summary>η when the user gives none: ReMDM's defaults, one for loop and one for the other strategies.</summary>
    public const double DefaultEta = 0.008, LoopEta = 0.02;

    /// <summary>The remasking rate η the run uses: the given one, else the strategy's default.</summary>
    public double Rate => Eta ?? (Strategy == Loop ? LoopEta : DefaultEta);

    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.Steps(o => o.Steps, (o, v) => o with { Steps = v }),
        Opt.Of("--remdm-strategy", nameof(SamplerSettings.RemdmStrategy), "how the remasking probability sigma is set: cap, rescale, conf or loop",
            o => o.Strategy, (o, v) => o with { Strategy = v }, Strategies),
        Opt.Of("--eta", nameof(SamplerSettings.Eta), "remasking rate eta (its default depends on the strategy: loop's is larger)", o => o.Rate, (o, v) => o with { Eta = v }),
        Opt.Of("--t-on", nameof(SamplerSettings.TOn), "loop: start of the remasking plateau", o => o.TOn, (o, v) => o with { TOn = v }),
        Opt.Of("--t-off", nameof(SamplerSettings.TOff), "loop: end of the plateau", o => o.TOff, (o, v) => o with { TOff = v }),
        Opt.Of("--alpha-on", nameof(SamplerSettings.AlphaOn), "loop: alpha held on the plateau", o => o.AlphaOn, (o, v) => o with { AlphaOn = v }),
        Opt.Of("--eps", nameof(SamplerSettings.Eps), "last point of the time grid linspace(1, eps, steps + 1)", o => o.Eps, (o, v) => o with { Eps = v }),
        Opt.Of("--top-p", nameof(SamplerSettings.TopP), "nucleus filtering of p(x0) (1: off)", o => o.TopP, (o, v) => o with { TopP = v }),
    ];


    public void Validate()
    {
        if (GenLength <= 0) throw new DlmException($"ReMDM sampler: gen length must be positive (got {GenLength})");
        if (Steps <= 0) throw new DlmException($"ReMDM sampler: steps must be positive (got {Steps})");
        if (!Strategies.Contains(Strategy)) throw new DlmException($"ReMDM sampler: unknown strategy \"{Strategy}\" (expected {string.Join(", ", Strategies)})");
        if (!(Rate >= 0 && Rate <= 1)) throw new DlmException($"ReMDM sampler: --eta must lie in [0, 1] (got {Rate})");
        if (Strategy == Loop && !(TOff > 0 && TOff < TOn && TOn < 1 && AlphaOn > 0 && AlphaOn < 1))
            throw new DlmException($"ReMDM sampler: loop needs 0 < t_off ({TOff}) < t_on ({TOn}) < 1 and 0 < alpha_on ({AlphaOn}) < 1");
        if (!(Eps > 0 && Eps < 1)) throw new DlmException($"ReMDM sampler: --eps must lie in (0, 1) (got {Eps})");
        if (!(TopP > 0 && TopP <= 1)) throw new DlmException($"ReMDM sampler: --top-p must lie in (0, 1] (got {TopP})");
    }
}

/// <summary>
/// ReMDM: MDLM's ancestral step generalised so that an unmasked token may be remasked with probability σ,
/// letting later steps revise it. From t to s (α = 1 − move chance): an unmasked position keeps its
/// token with probability 1 − σ and is remasked with σ; a masked position takes a token from p(x0) with
/// probability (α_s − (1 − σ)α_t)/(1 − α_t) and stays masked otherwise. The cache and noise removal are
/// MDLM's (see <see cref="MdlmSampler"/>). Prompt positions are never remasked (the reference samples
/// unconditionally and has no prompt). Remaskings appear in the trace as commits of the mask id.
/// </summary>
public sealed class RemdmSampler(RemdmOptions? options = null) : EngineSampler<RemdmOptions>(options ?? new RemdmOptions())
{
    protected override string DisplayName => "ReMDM";

    internal override void Run(SamplerRun run, Generator generator)
    {
        var o = Options;
        var model = run.Model;
        float[] ts = MdlmSampler.Timesteps(o.Steps, o.Eps);
        float dt = (float)((1 - o.Eps) / o.Steps);
        var isPrompt = torch.arange(run.Total).lt(run.PromptLength).unsqueeze(0);
        // remdm-conf's running score per position: -inf until a position is unmasked.
        var conf = torch.full(new long[] { run.Batch, run.Total }, double.NegativeInfinity, dtype: ScalarType.Float64);
        Tensor? cache = null;
        for (int i = 0; i < o.Steps; i++)
        {
            using var stepScope = torch.NewDisposeScope();
            float t = ts[i];
            bool fromCache = cache is not null;
            var px0 = cache ?? MdlmSampler.ProbabilitiesX0(run, t, o.TopP, subs: true);
            var q = Transition(run, px0, conf, isPrompt, t, dt);
            var draw = Categorical.Sample(q, generator);
            // Prompt positions are carried over whatever was drawn.
            var xs = torch.where(isPrompt, run.X, draw);
            if (o.Strategy == RemdmOptions.Conf)
            {
                var unmasked = run.X.eq(run.MaskId).logical_and(xs.ne(run.MaskId));
                var pTok = px0.gather(-1, xs.unsqueeze(-1)).squeeze(-1);
                conf.copy_(torch.where(unmasked, pTok.neg(), conf));
                var remasked = run.X.ne(run.MaskId).logical_and(xs.eq(run.MaskId));
                conf.masked_fill_(remasked, double.NegativeInfinity);
            }
            var commits = MdlmSampler.Changes(run, xs, px0);
            run.X.copy_(xs);
            run.AddStep(0, i, commits);
            if (commits.Count == 0 && !model.Config.TimeConditioning) { if (!fromCache) cache = px0.MoveToOuterDisposeScope(); }
            else { cache?.Dispose(); cache = null; }
        }
        MdlmSampler.NoiseRemoval(run, cache, o.Steps, o.Eps);
        cache?.Dispose();
    }

    /// <summary>q(x_s | x_t, x0 ~ p) over the vocabulary (mask column included), [B, L, V] float64, unnormalised as in the reference.</summary>
    Tensor Transition(SamplerRun run, Tensor px0, Tensor conf, Tensor isPrompt, float t, float dt)
    {
        var o = Options;
        var maskCol = torch.tensor(new long[] { run.MaskId });
        var masked = run.X.eq(run.MaskId).unsqueeze(-1);
        double mt = t, ms = t - dt;
        if (o.Strategy == RemdmOptions.Loop)
        {
            if (t > o.TOn)
            {
                mt = 1 - (1 - t) * o.AlphaOn / (1 - o.TOn);
                ms = 1 - (1 - t + dt) * o.AlphaOn / (1 - o.TOn);
            }
            else if (t <= o.TOff)
            {
                mt = t * (1 - o.AlphaOn) / o.TOff;
                ms = (t - dt) * (1 - o.AlphaOn) / o.TOff;
            }
            else
            {
                // The plateau: α stays α_on, tokens are remasked at rate η and redrawn.
                double a = o.AlphaOn, sg = o.Rate;
                var keep = px0 * (1 - sg);
                keep = keep.index_fill(-1, maskCol, sg);
                var fill = px0 * ((a - (1 - sg) * a) / (1 - a));
                fill = fill.index_fill(-1, maskCol, (1 - a - a * sg) / (1 - a));
                return torch.where(masked, fill, keep);
            }
            // MDLM's step outside the plateau.
            var qm = (px0 * (mt - ms)).index_fill(-1, maskCol, ms);
            return torch.where(masked, qm, px0);
        }
        double alphaT = 1 - mt, alphaS = 1 - ms;
        double sigmaMax = alphaT > 0 ? Math.Min(1, (1 - alphaS) / alphaT) : 1;
        Tensor sigma; // [B, L, 1]
        if (o.Strategy == RemdmOptions.Cap)
            sigma = torch.full(new long[] { 1, 1, 1 }, alphaT > 0 ? Math.Min(o.Rate, (1 - alphaS) / alphaT) : o.Rate, dtype: ScalarType.Float64);
        else if (o.Strategy == RemdmOptions.Rescale)
            sigma = torch.full(new long[] { 1, 1, 1 }, o.Rate * sigmaMax, dtype: ScalarType.Float64);
        else
        {
            // softmax over positions of the running confidence; masked (and prompt) positions get 0. A row
            // with no finite score yet has no remasking (the reference's softmax would give NaN there).
            var finite = conf.isfinite();
            var safe = torch.where(finite, conf, torch.tensor(-1e300, dtype: ScalarType.Float64));
            var eta = torch.softmax(safe, -1) * finite.to_type(ScalarType.Float64);
            eta = eta.masked_fill(run.X.eq(run.MaskId).logical_or(isPrompt), 0.0);
            sigma = (eta * sigmaMax).unsqueeze(-1);
        }
        var keepQ = torch.where(torch.arange(run.Vocab).eq(run.MaskId), sigma, px0 * (1 - sigma));
        var denom = 1 - alphaT;
        var fillQ = torch.where(torch.arange(run.Vocab).eq(run.MaskId), (1 - alphaS - sigma * alphaT) / denom,
            px0 * ((alphaS - (1 - sigma) * alphaT) / denom));
        return torch.where(masked, fillQ, keepQ);
    }
}
