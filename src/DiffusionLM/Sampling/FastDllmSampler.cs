using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.FastDllmOptions>;

namespace DiffusionLM.Sampling;

/// <summary>Settings of Fast-dLLM's parallel decoding (generate() / get_transfer_index of NVlabs/Fast-dLLM, llada/generate.py).</summary>
/// <param name="Threshold">confidence threshold (Fast-dLLM's default 0.9): each step commits the most confident
/// masked position and every other one whose confidence is at least this. Ignored when <paramref name="Factor"/> is set.</param>
/// <param name="Factor">the "factor" variant (get_transfer_index_dynamic): the n-th most confident position
/// (n from 1) is committed while its confidence is at least 1 − factor/(n + 1).</param>
/// <param name="Steps">only bounds the run: a block ends when it has no mask left, so NFE ≤ GenLength.</param>
public sealed record FastDllmOptions(
    int GenLength = 128,
    int BlockLength = 128,
    double Temperature = 0.0,
    string Remasking = LladaSamplerOptions.LowConfidence,
    double Threshold = 0.9,
    double? Factor = null,
    CacheMode Cache = CacheMode.None,
    int CacheRefresh = 0) : ISamplerOptions
{
    /// <summary>The factor variant's factor when the user gives none (Fast-dLLM's get_transfer_index_dynamic default).</summary>
    public const double DefaultFactor = 1.0;

    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.BlockLength(o => o.BlockLength, (o, v) => o with { BlockLength = v }),
        Opt.Temperature(o => o.Temperature, (o, v) => o with { Temperature = v }),
        Opt.Cache(o => o.Cache, (o, v) => o with { Cache = v }),
        Opt.CacheRefresh(o => o.CacheRefresh, (o, v) => o with { CacheRefresh = v }),
        Opt.Of("--remasking", nameof(SamplerSettings.Remasking), "which predictions a step commits: low_confidence (the most confident first) or random (a random subset)",
            o => o.Remasking, (o, v) => o with { Remasking = v }, [LladaSamplerOptions.LowConfidence, LladaSamplerOptions.Random]),
        Opt.Of("--threshold", nameof(SamplerSettings.Threshold), "commit the most confident prediction and every other one at least this confident",
            o => o.Threshold, (o, v) => o with { Threshold = v }),
        Opt.Of("--factor", nameof(SamplerSettings.Factor), "the factor variant: the n-th most confident is committed while its confidence is >= 1 - factor/(n+1)",
            o => o.Factor, (o, v) => o with { Factor = v }),
    ];

    public void Validate()
    {
        if (GenLength <= 0 || BlockLength <= 0 || GenLength % BlockLength != 0)
            throw new DlmException($"Fast-dLLM sampler: gen length {GenLength} must be a positive multiple of block length {BlockLength}");
        if (!double.IsFinite(Temperature) || Temperature < 0) throw new DlmException($"Fast-dLLM sampler: temperature must be a finite number >= 0 (got {Temperature})");
        if (Remasking is not (LladaSamplerOptions.LowConfidence or LladaSamplerOptions.Random))
            throw new DlmException($"Fast-dLLM sampler: unknown remasking \"{Remasking}\" (expected low_confidence or random)");
        if (!double.IsFinite(Threshold)) throw new DlmException($"Fast-dLLM sampler: threshold must be finite (got {Threshold})");
        if (Factor is { } f && (!double.IsFinite(f) || f <= 0)) throw new DlmException($"Fast-dLLM sampler: factor must be a positive number (got {f})");
        CacheModes.Check("Fast-dLLM", Cache, CacheRefresh);
    }
}

/// <summary>
/// Fast-dLLM's confidence-aware parallel decoding, with its reference semantics: blocks left to right;
/// within a block, a step predicts every position (x0 = argmax of Gumbel-noised logits, confidence =
/// softmax probability of x0 in float64, or a uniform draw for random remasking), and commits, among the
/// masked positions up to the block's end, the most confident one always plus the others that pass the
/// threshold (or the factor rule); the block repeats until it holds no mask. Committed tokens stay.
/// </summary>
/// <remarks>
/// The reference runs one row at a time; here each row of a batch follows its own selection and the
/// loop runs until every row's block is complete (a finished row commits nothing more). The mask id is
/// never predicted (its logit is set to -inf; the reference relies on the model never predicting it).
/// A threshold of 1.0 commits one token per step unless a confidence rounds to exactly 1.0 in float64.
/// </remarks>
public sealed class FastDllmSampler(FastDllmOptions? options = null) : EngineSampler<FastDllmOptions>(options ?? new FastDllmOptions())
{
    protected override string DisplayName => "Fast-dLLM";
    protected override CacheMode Cache => Options.Cache;
    protected override int CacheRefresh => Options.CacheRefresh;

    internal override void Run(SamplerRun run, Generator generator)
    {
        var o = Options;
        int blocks = o.GenLength / o.BlockLength;
        for (int block = 0; block < blocks; block++)
        {
            int blockStart = run.PromptLength + block * o.BlockLength, blockEnd = blockStart + o.BlockLength;
            run.BeginBlock(blockStart, blockEnd);
            // With a cache only the block's masks are candidates (the reference's mask_index[:, start:end]).
            int first = o.Cache == CacheMode.None ? 0 : blockStart;
            for (int step = 0; ; step++)
            {
                using var stepScope = torch.NewDisposeScope();
                if (!run.X.narrow(1, blockStart, o.BlockLength).eq(run.MaskId).any().item<bool>()) break;
                // With a cache the prediction is made on the window the reference's cached model returns, so noise is
                // drawn for that shape, as there.
                var (ws, wlen) = run.PredictedWindow(blockStart, blockEnd);
                var logits = Categorical.NoMask(run.Forward(ws, wlen), run.MaskId);
                var (x0, conf) = Predict(logits, o.Temperature, o.Remasking, generator);
                var commits = new List<Commit>();
                var xFlat = run.X.data<long>().ToArray();
                for (int b = 0; b < run.Batch; b++)
                {
                    var candidates = new List<int>();
                    for (int i = first; i < blockEnd; i++) if (xFlat[b * run.Total + i] == run.MaskId) candidates.Add(i);
                    foreach (int pos in Select(candidates, i => conf[b * wlen + i - ws], o))
                    {
                        int k = b * wlen + pos - ws;
                        commits.Add(new Commit(b, pos, x0[k], conf[k]));
                    }
                }
                Apply(run, commits);
                run.AddStep(block, step, commits);
            }
        }
    }

    /// <summary>x0 (a sample at the temperature) and its confidence, flattened [B·W] over the W positions of <paramref name="logits"/>.</summary>
    internal static (long[] X0, double[] Conf) Predict(Tensor logits, double temperature, string remasking, Generator g)
    {
        var x0 = SamplingOps.AddGumbelNoise(logits, temperature, g).argmax(-1);
        Tensor conf = remasking == LladaSamplerOptions.LowConfidence
            ? torch.softmax(logits.to_type(ScalarType.Float64), -1).gather(-1, x0.unsqueeze(-1)).squeeze(-1)
            : torch.rand(x0.shape, dtype: ScalarType.Float64, generator: g);
        return (x0.data<long>().ToArray(), conf.to_type(ScalarType.Float64).data<double>().ToArray());
    }

    /// <summary>The positions a row commits: get_transfer_index (threshold) or get_transfer_index_dynamic (factor).</summary>
    internal static IEnumerable<int> Select(List<int> candidates, Func<int, double> confidence, FastDllmOptions o)
    {
        if (candidates.Count == 0) return [];
        // Stable order: most confident first, ties by position (the reference's topk on a row).
        var sorted = candidates.OrderByDescending(confidence).ThenBy(i => i).ToList();
        int n = sorted.Count;
        if (o.Factor is not { } factor)
        {
            // Top-1 always; the others only at or above the threshold.
            return sorted.Where((pos, rank) => rank == 0 || confidence(pos) >= o.Threshold);
        }
        // Factor rule as in the reference: thresholds 1 − factor/(n + 1) for n = 1..N with the first
        // replaced by -1; stop at the first sorted confidence below its threshold. The reference then adds
        // one when it stopped at index 0 or at the last index (so a last position that fails is still taken).
        int top = 0;
        for (; top < n; top++)
        {
            double thresh = top == 0 ? -1 : 1 - factor / (top + 2);
            if (confidence(sorted[top]) < thresh) break;
        }
        if (top == n) top = n - 1; // Python's loop variable keeps its last value when the loop does not break
        if (top == 0 || top == n - 1) top++;
        return sorted.Take(top);
    }

    /// <summary>Writes the commits into x.</summary>
    internal static void Apply(SamplerRun run, List<Commit> commits)
    {
        if (commits.Count == 0) return;
        var flat = run.X.data<long>().ToArray();
        foreach (var c in commits) flat[c.Row * run.Total + c.Position] = c.Token;
        run.X.copy_(torch.tensor(flat, run.X.shape));
    }
}
