using TorchSharp;
using static TorchSharp.torch;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.EntropyBoundOptions>;

namespace DiffusionLM.Sampling;

/// <summary>Settings of the EB-Sampler (entropy-bounded unmasking, arXiv 2505.24857) for masked models.</summary>
/// <param name="Gamma">γ, the error budget in nats: a step commits the lowest-entropy masked predictions of the block
/// while their summed entropy minus the largest stays ≤ γ (always at least one). Σ H − max H bounds the joint
/// dependence the step ignores (the KL between the product of marginals and the joint is at most Σ H_i − H(joint)
/// ≤ Σ H_i − max H_i). 0: one token per step.</param>
/// <param name="Temperature">0: argmax. Otherwise each committed token is drawn from softmax(logits / T).</param>
/// <param name="Cache">Fast-dLLM's block cache (an approximation; None is exact).</param>
/// <param name="CacheRefresh">with a cache: record it again every this many steps of a block (0: once per block).</param>
public sealed record EntropyBoundOptions(
    int GenLength = 128,
    int BlockLength = 32,
    double Temperature = 0.0,
    double Gamma = 0.1,
    CacheMode Cache = CacheMode.None,
    int CacheRefresh = 0) : ISamplerOptions
{
    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.BlockLength(o => o.BlockLength, (o, v) => o with { BlockLength = v }),
        Opt.Temperature(o => o.Temperature, (o, v) => o with { Temperature = v }),
        Opt.Cache(o => o.Cache, (o, v) => o with { Cache = v }),
        Opt.CacheRefresh(o => o.CacheRefresh, (o, v) => o with { CacheRefresh = v }),
        Opt.Of("--gamma", nameof(SamplerSettings.Gamma), "entropy budget in nats per step: the lowest-entropy predictions are committed while their summed entropy minus the largest is <= gamma (0: one token per step)",
            o => o.Gamma, (o, v) => o with { Gamma = v }),
    ];

    public void Validate()
    {
        if (GenLength <= 0 || BlockLength <= 0 || GenLength % BlockLength != 0)
            throw new DlmException($"EB sampler: gen length {GenLength} must be a positive multiple of block length {BlockLength}");
        if (!double.IsFinite(Temperature) || Temperature < 0) throw new DlmException($"EB sampler: temperature must be a finite number >= 0 (got {Temperature})");
        if (!double.IsFinite(Gamma) || Gamma < 0) throw new DlmException($"EB sampler: gamma must be a finite number >= 0 (got {Gamma})");
        CacheModes.Check("EB", Cache, CacheRefresh);
    }
}

/// <summary>
/// EB-Sampler for masked diffusion: blocks left to right; within a block each step predicts every position, ranks the
/// block's masked positions by the entropy of their prediction (lowest first) and commits the longest prefix of that
/// order whose entropies sum, minus the largest of them, to at most γ. Tokens: the argmax, or a draw at the
/// temperature. The block repeats until it holds no mask, so NFE adapts to how certain the model is.
/// </summary>
/// <remarks>
/// Entropies in float64 of softmax(logits) (the mask id excluded). Ties in entropy are taken lowest position first.
/// The confidence reported for a commit is the probability of the committed token.
/// </remarks>
public sealed class EntropyBoundSampler(EntropyBoundOptions? options = null) : EngineSampler<EntropyBoundOptions>(options ?? new EntropyBoundOptions())
{
    protected override string DisplayName => "EB";
    protected override CacheMode Cache => Options.Cache;
    protected override int CacheRefresh => Options.CacheRefresh;

    internal override void Run(SamplerRun run, Generator generator)
    {
        var o = Options;
        int blocks = o.GenLength / o.BlockLength, total = run.Total;
        for (int block = 0; block < blocks; block++)
        {
            int blockStart = run.PromptLength + block * o.BlockLength, blockEnd = blockStart + o.BlockLength;
            run.BeginBlock(blockStart, blockEnd);
            for (int step = 0; ; step++)
            {
                using var stepScope = torch.NewDisposeScope();
                var xBlock = run.X.narrow(1, blockStart, o.BlockLength);
                if (!xBlock.eq(run.MaskId).any().item<bool>()) break;
                var logits = Categorical.NoMask(run.Forward(blockStart, o.BlockLength), run.MaskId);
                var (tokens, prob, entropy) = Predict(logits, o.Temperature, generator);
                var xFlat = xBlock.contiguous().data<long>().ToArray();
                var commits = new List<Commit>();
                for (int b = 0; b < run.Batch; b++)
                {
                    var masked = Enumerable.Range(0, o.BlockLength).Where(i => xFlat[b * o.BlockLength + i] == run.MaskId).ToList();
                    foreach (int i in Select(masked, i => entropy[b * o.BlockLength + i], o.Gamma))
                    {
                        int k = b * o.BlockLength + i;
                        commits.Add(new Commit(b, blockStart + i, tokens[k], prob[k]));
                    }
                }
                FastDllmSampler.Apply(run, commits);
                run.AddStep(block, step, commits);
            }
        }
    }

    /// <summary>Per position of [B, L, V] logits: the token (argmax or a draw), its probability, and the entropy (nats), flattened.</summary>
    internal static (long[] Tokens, double[] Prob, double[] Entropy) Predict(Tensor logits, double temperature, Generator g)
    {
        var logp = logits.to_type(ScalarType.Float64).log_softmax(-1);
        var p = logp.exp();
        // 0·log 0 = 0 (the mask column is -inf).
        var entropy = (p * logp).nan_to_num(0.0, 0.0, 0.0).sum(-1).neg();
        var tokens = temperature == 0 ? p.argmax(-1) : Categorical.Sample(torch.softmax(logits.to_type(ScalarType.Float64) / temperature, -1), g);
        var prob = p.gather(-1, tokens.unsqueeze(-1)).squeeze(-1);
        return (tokens.data<long>().ToArray(), prob.data<double>().ToArray(), entropy.data<double>().ToArray());
    }

    /// <summary>
    /// The entropy bound: candidates sorted by entropy (lowest first, ties by index), the longest prefix with
    /// Σ H − max H ≤ γ; never empty when there are candidates.
    /// </summary>
    public static List<int> Select(IReadOnlyList<int> candidates, Func<int, double> entropy, double gamma)
    {
        var sorted = candidates.OrderBy(entropy).ThenBy(i => i).ToList();
        var chosen = new List<int>();
        double sum = 0, max = double.NegativeInfinity;
        foreach (int i in sorted)
        {
            double h = Math.Max(0, entropy(i));
            double s = sum + h, m = Math.Max(max, h);
            if (chosen.Count > 0 && s - m > gamma) break;
            chosen.Add(i); sum = s; max = m;
        }
        return chosen;
    }
}
