using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.DreamOptions>;

namespace DiffusionLM.Sampling;

/// <summary>Settings of Dream's diffusion_generate (Dream-org/Dream, generation_utils.py); names and defaults follow its generation config.</summary>
/// <param name="Alg">the unmasking order: "origin" (each masked position unmasked with probability 1 − s/t,
/// MDLM's ancestral step), "maskgit_plus" (most probable first), "topk_margin" (largest top-1 − top-2 margin
/// first) or "entropy" (lowest entropy first).</param>
/// <param name="AlgTemp">null or 0: take the k best; otherwise draw the k positions without replacement from
/// softmax(confidence / AlgTemp).</param>
/// <param name="TopP">nucleus filtering of the token distribution (null or 1: off).</param>
/// <param name="TopK">top-k filtering of the token distribution (null: off).</param>
/// <param name="Eps">the last time point: timesteps = linspace(1, eps, steps + 1).</param>
public sealed record DreamOptions(
    int GenLength = 128,
    int Steps = 128,
    string Alg = DreamOptions.Origin,
    double? AlgTemp = null,
    double Temperature = 0.0,
    double? TopP = null,
    int? TopK = null,
    double Eps = 1e-3) : ISamplerOptions
{
    public const string Origin = "origin", MaskGitPlus = "maskgit_plus", TopKMargin = "topk_margin", Entropy = "entropy";
    // Before Settable: static initialisers run in text order.
    public static readonly string[] Algs = [Origin, MaskGitPlus, TopKMargin, Entropy];

    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.Steps(o => o.Steps, (o, v) => o with { Steps = v }),
        Opt.Temperature(o => o.Temperature, (o, v) => o with { Temperature = v }),
        Opt.Of("--alg", nameof(SamplerSettings.Alg), "the unmasking order: origin (MDLM's ancestral step), maskgit_plus (most probable first), topk_margin (largest top-1 - top-2 margin first), entropy (lowest entropy first)",
            o => o.Alg, (o, v) => o with { Alg = v }, Algs),
        Opt.Of("--alg-temp", nameof(SamplerSettings.AlgTemp), "draw the positions from softmax(confidence / alg_temp) instead of taking the best (none or 0: the best)",
            o => o.AlgTemp, (o, v) => o with { AlgTemp = v }),
        Opt.Of("--top-p", nameof(SamplerSettings.TopP), "nucleus filtering of the token distribution (none or 1: off)", o => o.TopP, (o, v) => o with { TopP = v }),
        Opt.Of("--top-k", nameof(SamplerSettings.TopK), "top-k filtering of the token distribution (none: off)", o => o.TopK, (o, v) => o with { TopK = v }),
        Opt.Of("--eps", nameof(SamplerSettings.Eps), "last point of the time grid linspace(1, eps, steps + 1)", o => o.Eps, (o, v) => o with { Eps = v }),
    ];


    public void Validate()
    {
        if (GenLength <= 0) throw new DlmException($"Dream sampler: gen length must be positive (got {GenLength})");
        if (Steps <= 0) throw new DlmException($"Dream sampler: steps must be positive (got {Steps})");
        if (!Algs.Contains(Alg)) throw new DlmException($"Dream sampler: unknown alg \"{Alg}\" (expected {string.Join(", ", Algs)})");
        if (!double.IsFinite(Temperature) || Temperature < 0) throw new DlmException($"Dream sampler: temperature must be a finite number >= 0 (got {Temperature})");
        if (AlgTemp is { } at && (!double.IsFinite(at) || at < 0)) throw new DlmException($"Dream sampler: alg temperature must be >= 0 (got {at})");
        if (TopP is { } p && !(p > 0 && p <= 1)) throw new DlmException($"Dream sampler: --top-p must lie in (0, 1] (got {p})");
        if (TopK is { } k && k <= 0) throw new DlmException($"Dream sampler: top-k must be positive (got {k})");
        if (!(Eps > 0 && Eps < 1)) throw new DlmException($"Dream sampler: --eps must lie in (0, 1) (got {Eps})");
    }
}

/// <summary>
/// Dream's sampler (_sample of diffusion_generate) with its semantics: no blocks; timesteps =
/// linspace(1, eps, steps + 1) in float32; at step i from t to s, "origin" unmasks each masked position
/// independently with probability 1 − s/t (all remaining at the last step) and samples its token;
/// the other algorithms score every masked position, and commit int(masked · (1 − s/t)) of them (all at
/// the last step), the best or drawn by alg_temp. Tokens: logits / temperature, top-p, top-k, softmax,
/// then a sample (temperature &gt; 0) or the argmax, with confidence = its probability, the top-1 − top-2
/// margin, or the negative entropy Σ p log(p + 1e-10).
/// </summary>
/// <remarks>
/// Differences from the reference, by design: Dream's own network predicts position i at i − 1 and the
/// reference shifts its logits right; our denoisers predict in place, so there is no shift. Draws come from
/// the generator (exponential race and Gumbel-top-k instead of torch.multinomial: the same laws, another
/// stream). The commit count is per row, from each row's own masks (the reference averages over the
/// batch, which is the same when rows have equal prompts). The mask id is never predicted.
/// Position ids of left-padded prompts (Dream's tok_idx) are not passed: our denoisers take none.
/// </remarks>
public sealed class DreamSampler(DreamOptions? options = null) : EngineSampler<DreamOptions>(options ?? new DreamOptions())
{
    protected override string DisplayName => "Dream";

    internal override void Run(SamplerRun run, Generator generator)
    {
        var o = Options;
        float[] timesteps = torch.linspace(1, o.Eps, o.Steps + 1, dtype: ScalarType.Float32).data<float>().ToArray();
        for (int i = 0; i < o.Steps; i++)
        {
            using var stepScope = torch.NewDisposeScope();
            float t = timesteps[i], s = timesteps[i + 1];
            bool last = i == o.Steps - 1;
            var logits = Categorical.NoMask(run.Forward(), run.MaskId);
            var xFlat = run.X.data<long>().ToArray();
            var commits = o.Alg == DreamOptions.Origin
                ? OriginStep(run, logits, xFlat, t, s, last, generator)
                : ScoredStep(run, logits, xFlat, t, s, last, generator);
            FastDllmSampler.Apply(run, commits);
            run.AddStep(0, i, commits);
        }
    }

    List<Commit> OriginStep(SamplerRun run, Tensor logits, long[] xFlat, float t, float s, bool last, Generator g)
    {
        // p_transfer = 1 − s/t in float32, as torch computes it from float32 timesteps.
        double pTransfer = last ? 1.0 : 1f - s / t;
        var masked = run.X.eq(run.MaskId);
        var u = torch.rand(run.X.shape, dtype: ScalarType.Float32, generator: g).data<float>().ToArray();
        var (tokens, conf) = SampleTokens(logits, g, margin: false, negEntropy: false);
        var commits = new List<Commit>();
        var m = masked.data<bool>().ToArray();
        for (int b = 0; b < run.Batch; b++)
            for (int p = 0; p < run.Total; p++)
            {
                int k = b * run.Total + p;
                if (m[k] && u[k] < pTransfer) commits.Add(new Commit(b, p, tokens[k], conf[k]));
            }
        return commits;
    }

    List<Commit> ScoredStep(SamplerRun run, Tensor logits, long[] xFlat, float t, float s, bool last, Generator g)
    {
        var o = Options;
        var (tokens, conf) = SampleTokens(logits, g, o.Alg == DreamOptions.TopKMargin, o.Alg == DreamOptions.Entropy);
        var commits = new List<Commit>();
        for (int b = 0; b < run.Batch; b++)
        {
            var masked = Enumerable.Range(0, run.Total).Where(p => xFlat[b * run.Total + p] == run.MaskId).ToList();
            float numMask = masked.Count;
            int n = last ? masked.Count : (int)(numMask * (1f - s / t));
            if (n <= 0) continue;
            long[] chosen;
            if (o.AlgTemp is null or 0)
                chosen = masked.OrderByDescending(p => conf[b * run.Total + p]).ThenBy(p => p).Take(n).Select(p => (long)p).ToArray();
            else
            {
                var full = new double[run.Total];
                Array.Fill(full, double.NegativeInfinity);
                foreach (int p in masked) full[p] = conf[b * run.Total + p];
                using var sc = torch.NewDisposeScope();
                var w = torch.softmax(torch.tensor(full) / o.AlgTemp.Value, 0);
                chosen = Categorical.WithoutReplacement(w, n, g);
            }
            foreach (long p in chosen)
            {
                int k = b * run.Total + (int)p;
                commits.Add(new Commit(b, (int)p, tokens[k], conf[k]));
            }
        }
        return commits;
    }

    /// <summary>Dream's sample_tokens over every position: (token, confidence) flattened [B·L].</summary>
    (long[] Tokens, double[] Conf) SampleTokens(Tensor logits, Generator g, bool margin, bool negEntropy)
    {
        var o = Options;
        var l = logits;
        if (o.Temperature > 0) l = l / o.Temperature;
        if (o.TopP is { } p && p < 1) l = Categorical.TopP(l, p);
        if (o.TopK is { } k) l = Categorical.TopK(l, k);
        var probs = torch.softmax(l, -1);
        Tensor x0, conf;
        if (o.Temperature > 0)
        {
            x0 = Categorical.Sample(probs, g);
            conf = probs.gather(-1, x0.unsqueeze(-1)).squeeze(-1);
        }
        else (conf, x0) = probs.max(-1);
        if (margin)
        {
            var (top2, _) = torch.topk(probs, 2, -1);
            conf = top2.select(-1, 0) - top2.select(-1, 1);
        }
        if (negEntropy) conf = (probs * (probs + 1e-10).log()).sum(-1);
        return (x0.data<long>().ToArray(), conf.to_type(ScalarType.Float64).data<double>().ToArray());
    }
}
