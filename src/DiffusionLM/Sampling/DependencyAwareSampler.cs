using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.DependencyAwareOptions>;

namespace DiffusionLM.Sampling;

/// <summary>Settings of the dependency-aware parallel sampler.</summary>
/// <param name="Threshold">τ. A position is determined when its most likely token has probability ≥ τ (given
/// the state, or given an anchor); two positions count as independent when the measured mutual information
/// between them is ≤ −ln τ nats (the same tolerance on a log scale: τ = 0.9 allows 0.105 nats).</param>
/// <param name="Candidates">K: most tokens probed per anchor position (its likeliest, until they hold 95% of
/// its mass); 0 turns probing off, which leaves Fast-dLLM's threshold rule.</param>
/// <param name="Probes">most positions probed per call (the least certain ones).</param>
/// <param name="AnchorsPerStep">most mutually independent anchors committed in one step (0: no limit);
/// 1 decides one uncertain choice per step plus what it determines.</param>
public sealed record DependencyAwareOptions(
    int GenLength = 128,
    int BlockLength = 128,
    double Temperature = 0.0,
    double Threshold = 0.9,
    int Candidates = 8,
    int Probes = 8,
    int AnchorsPerStep = 0) : ISamplerOptions
{
    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.BlockLength(o => o.BlockLength, (o, v) => o with { BlockLength = v }),
        Opt.Temperature(o => o.Temperature, (o, v) => o with { Temperature = v }),
        Opt.Of("--threshold", nameof(SamplerSettings.Threshold), "tau: a position is determined at this top-1 probability; independence is <= -ln tau nats of mutual information",
            o => o.Threshold, (o, v) => o with { Threshold = v }),
        Opt.Of("--candidates", nameof(SamplerSettings.Candidates), "most tokens probed per position (0: no probe, Fast-dLLM's threshold rule)",
            o => o.Candidates, (o, v) => o with { Candidates = v }),
        Opt.Of("--probes", nameof(SamplerSettings.Probes), "most positions probed per call, the least certain", o => o.Probes, (o, v) => o with { Probes = v }),
        Opt.Of("--anchors-per-step", nameof(SamplerSettings.AnchorsPerStep), "most independent uncertain positions drawn per step (0: no limit)",
            o => o.AnchorsPerStep, (o, v) => o with { AnchorsPerStep = v }),
    ];

    public void Validate()
    {
        if (GenLength <= 0 || BlockLength <= 0 || GenLength % BlockLength != 0)
            throw new DlmException($"dependency-aware sampler: gen length {GenLength} must be a positive multiple of block length {BlockLength}");
        if (!double.IsFinite(Temperature) || Temperature < 0) throw new DlmException($"dependency-aware sampler: temperature must be a finite number >= 0 (got {Temperature})");
        if (!double.IsFinite(Threshold)) throw new DlmException($"dependency-aware sampler: threshold must be finite (got {Threshold})");
        if (Candidates is < 0 or > 64) throw new DlmException($"dependency-aware sampler: --candidates must lie in [0, 64] (got {Candidates})");
        if (Probes is < 1 or > 256) throw new DlmException($"dependency-aware sampler: --probes must lie in [1, 256] (got {Probes})");
        if (AnchorsPerStep < 0) throw new DlmException($"dependency-aware sampler: anchors per step must be >= 0 (got {AnchorsPerStep})");
    }

    /// <summary>ε: the mutual information (nats) below which two positions may be drawn side by side.</summary>
    public double Independence => Threshold <= 0 ? double.PositiveInfinity : -Math.Log(Threshold);
}

/// <summary>
/// A parallel sampler that measures which masked positions depend on each other and draws side by side only
/// those that do not, without spending more network calls. The marginal trap comes from drawing in one step
/// positions whose predictions were made without knowing each other. Each call evaluates, next to the current
/// sequence x, copies of x in which one masked "probe" position a holds one of its likeliest tokens v (the
/// rows ride in the same call, as classifier-free guidance batches its inputs). A copy gives every other
/// position's distribution given that token, p(x_j | x, x_a = v); weighted by p(x_a = v | x), its KL from
/// p(x_j | x) is the mutual information I(x_a; x_j | x): the measured dependence. A step then
/// <list type="number">
/// <item>draws anchors: uncertain probed positions (top-1 &lt; τ) whose draw is not from the tail (probability ≥
/// (1 − τ)·top-1), most informative first (largest total dependence), each admitted only when independent
/// (≤ ε nats both ways) of the anchors already admitted;</item>
/// <item>commits with them every position determined given one of them: its token drawn from the copy that
/// holds the anchor's drawn token, kept when that draw has probability ≥ τ (so the step draws from
/// p(x_a) p(x_j | x_a), the joint, not the product of marginals);</item>
/// <item>commits positions already determined given x whose draw has probability ≥ τ;</item>
/// <item>leaves the rest (dependent on an anchor but not determined by it) to a later step.</item>
/// </list>
/// With no usable anchor (the first call of a block, or an anchor's draw that was not probed) the step
/// is Fast-dLLM's threshold rule. The next call probes the least certain remaining positions, with tokens
/// read from the freshest row: the copy of the anchor they depend on most, else x.
/// </summary>
/// <remarks>
/// NFE counts calls; a call evaluates 1 + (probed tokens) rows per sequence, reported by
/// <see cref="SamplerResult.RowsEvaluated"/>: the compute is several times that of one row per call, the latency (a
/// batched call) is not. A position whose draw is not among its probed tokens cannot be an anchor that step.
/// </remarks>
public sealed class DependencyAwareSampler(DependencyAwareOptions? options = null)
    : EngineSampler<DependencyAwareOptions>(options ?? new DependencyAwareOptions())
{
    protected override string DisplayName => "dependency-aware";

    /// <summary>A probed position of one sequence and the tokens it is set to in its copies.</summary>
    sealed record Probe(int Position, long[] Tokens);

    /// <summary>A probe copy: its sequence, the position it fixes, the token there.</summary>
    readonly record struct ProbeCopy(int Base, int Position, long Token);

    /// <summary>
    /// One call, read back once, rows = the B sequences then the probe copies: draws and their confidences
    /// (Fast-dLLM's), each position's top-1 probability, each copy's KL from its sequence's row per position
    /// and the probability its token had in that row (its weight), and the K likeliest tokens of every position.
    /// </summary>
    sealed record CallView(int Batch, int Total, int K, long[] X0, double[] Conf, float[] Top1, float[] Kl, float[] Weight,
        float[] TopVals, long[] TopIdx)
    {
        public int At(int row, int pos) => row * Total + pos;
        public double KlOf(int row, int pos) => Kl[(row - Batch) * Total + pos];
    }

    internal override void Run(SamplerRun run, Generator generator)
    {
        var o = Options;
        int blocks = o.GenLength / o.BlockLength, total = run.Total;
        for (int block = 0; block < blocks; block++)
        {
            int blockStart = run.PromptLength + block * o.BlockLength, blockEnd = blockStart + o.BlockLength;
            var probes = new List<Probe>[run.Batch];
            for (int b = 0; b < run.Batch; b++) probes[b] = [];
            for (int step = 0; ; step++)
            {
                using var stepScope = torch.NewDisposeScope();
                var xFlat = run.X.data<long>().ToArray();
                var masked = new List<int>[run.Batch];
                for (int b = 0; b < run.Batch; b++)
                {
                    masked[b] = [];
                    for (int i = 0; i < blockEnd; i++) if (xFlat[b * total + i] == run.MaskId) masked[b].Add(i);
                }
                if (masked.All(m => !m.Any(i => i >= blockStart))) break;

                // Rows: x, then each sequence's probe copies (one position set to one probed token).
                var inputs = new List<long>(xFlat);
                var copies = new List<ProbeCopy>();
                var probeRow = new Dictionary<(int Row, int Pos, long Token), int>();
                for (int b = 0; b < run.Batch; b++)
                    foreach (var pr in probes[b])
                        foreach (long tok in pr.Tokens)
                        {
                            var copy = xFlat.AsSpan(b * total, total).ToArray();
                            copy[pr.Position] = tok;
                            inputs.AddRange(copy);
                            probeRow[(b, pr.Position, tok)] = run.Batch + copies.Count;
                            copies.Add(new ProbeCopy(b, pr.Position, tok));
                        }
                var view = Call(run, inputs.ToArray(), copies, generator);

                var commits = new List<Commit>();
                for (int b = 0; b < run.Batch; b++)
                {
                    if (masked[b].Count == 0) { probes[b] = []; continue; }
                    var (chosen, fresh) = Decide(b, masked[b], probes[b], probeRow, view);
                    commits.AddRange(chosen);
                    var left = masked[b].Except(chosen.Select(c => c.Position)).ToList();
                    probes[b] = o.Candidates == 0 ? [] : NextProbes(left, fresh, view);
                }
                FastDllmSampler.Apply(run, commits);
                run.AddStep(block, step, commits);
            }
        }
    }

    CallView Call(SamplerRun run, long[] inputs, List<ProbeCopy> copies, Generator generator)
    {
        int total = run.Total, rows = run.Batch + copies.Count;
        var ids = torch.tensor(inputs, new long[] { rows, total });
        var bases = torch.tensor(copies.Select(c => (long)c.Base).ToArray());
        Tensor? attn = run.Attention is null ? null : torch.cat(new[] { run.Attention, run.Attention.index_select(0, bases) }, 0);
        var raw = run.Forward(ids, attn);
        run.Observe(raw.narrow(0, 0, run.Batch));
        var logits = Categorical.NoMask(raw, run.MaskId);
        var (x0, conf) = FastDllmSampler.Predict(logits, Options.Temperature, LladaSamplerOptions.LowConfidence, generator);
        var logp = logits.log_softmax(-1);
        float[] kl = [], weight = [];
        if (copies.Count > 0)
        {
            var lp = logp.narrow(0, run.Batch, copies.Count);
            var lb = logp.index_select(0, bases);
            // 0·log 0 = 0: the mask column is -inf in every row (NaN in the product, dropped); a token the base row
            // rules out but the copy allows gives a large finite KL.
            kl = (lp.exp() * (lp - lb)).nan_to_num(0.0, 1e4, -1e4).sum(-1).clamp_min(0).data<float>().ToArray();
            var flatRows = torch.tensor(copies.Select(c => (long)(c.Base * total + c.Position)).ToArray());
            var toks = torch.tensor(copies.Select(c => c.Token).ToArray()).unsqueeze(1);
            weight = logp.reshape(rows * total, -1).index_select(0, flatRows).gather(1, toks).squeeze(1).exp().data<float>().ToArray();
        }
        int k = Math.Max(1, Math.Min(Options.Candidates, run.Vocab));
        var (topVals, topIdx) = torch.topk(logp.exp(), k, -1);
        return new CallView(run.Batch, total, k, x0, conf, logp.max(-1).values.exp().data<float>().ToArray(), kl, weight,
            topVals.data<float>().ToArray(), topIdx.data<long>().ToArray());
    }

    /// <summary>One sequence's commits this step, and for each position left the row that knows it best afterwards.</summary>
    (List<Commit> Chosen, Dictionary<int, int> Fresh) Decide(int b, List<int> masked, List<Probe> probes,
        Dictionary<(int, int, long), int> probeRow, CallView v)
    {
        double tau = Options.Threshold, eps = Options.Independence;
        // I(x_a; x_j | x) ≈ Σ_v w_v KL(p(x_j | x, x_a = v) ‖ p(x_j | x)) / Σ_v w_v over the probed tokens v of a.
        var dep = new Dictionary<int, Dictionary<int, double>>();
        foreach (var pr in probes)
        {
            var d = masked.ToDictionary(j => j, _ => 0.0);
            double wsum = 0;
            foreach (long tok in pr.Tokens)
            {
                int r = probeRow[(b, pr.Position, tok)];
                double w = v.Weight[r - v.Batch];
                wsum += w;
                foreach (int j in masked) d[j] += w * v.KlOf(r, j);
            }
            foreach (int j in masked) d[j] = wsum > 0 ? d[j] / wsum : double.PositiveInfinity;
            d[pr.Position] = 0;
            dep[pr.Position] = d;
        }
        double Dep(int a, int j) => Math.Max(dep.TryGetValue(a, out var da) ? da[j] : double.PositiveInfinity,
            dep.TryGetValue(j, out var dj) ? dj[a] : 0);

        // Anchors: uncertain probed positions whose draw was probed, most informative first, pairwise independent.
        var anchors = new List<(int Pos, int Row)>();
        // A draw from the tail (probability below (1 − τ)·top-1) is not committed as an anchor: like Fast-dLLM, which
        // commits only draws of probability ≥ τ (or the best one), the step leaves it to be drawn again.
        double floor = Math.Clamp(1 - tau, 0, 1);
        var usable = probes
            .Where(pr => v.Top1[v.At(b, pr.Position)] < tau && v.Conf[v.At(b, pr.Position)] >= floor * v.Top1[v.At(b, pr.Position)]
                && probeRow.ContainsKey((b, pr.Position, v.X0[v.At(b, pr.Position)])))
            .OrderByDescending(pr => dep[pr.Position].Values.Where(double.IsFinite).Sum()).ThenBy(pr => pr.Position);
        foreach (var pr in usable)
        {
            if (Options.AnchorsPerStep > 0 && anchors.Count >= Options.AnchorsPerStep) break;
            if (anchors.All(a => Dep(a.Pos, pr.Position) <= eps))
                anchors.Add((pr.Position, probeRow[(b, pr.Position, v.X0[v.At(b, pr.Position)])]));
        }
        var fresh = new Dictionary<int, int>();
        if (anchors.Count == 0)
        {
            // No usable anchor: Fast-dLLM's threshold rule on x.
            var fast = new FastDllmOptions(Threshold: tau);
            var picked = FastDllmSampler.Select(masked, i => v.Conf[v.At(b, i)], fast)
                .Select(i => new Commit(b, i, v.X0[v.At(b, i)], v.Conf[v.At(b, i)])).ToList();
            foreach (int j in masked) fresh[j] = b;
            return (picked, fresh);
        }
        var chosen = anchors.Select(a => new Commit(b, a.Pos, v.X0[v.At(b, a.Pos)], v.Conf[v.At(b, a.Pos)])).ToList();
        foreach (int j in masked)
        {
            if (anchors.Any(a => a.Pos == j)) continue;
            // The anchor j depends on most: its copy is the freshest view of j after this step.
            var (ap, ar) = anchors.MaxBy(a => Dep(a.Pos, j));
            fresh[j] = Dep(ap, j) > eps ? ar : b;
            if (v.Top1[v.At(b, j)] >= tau)
            {
                // Determined given x already: independent of any anchor.
                if (v.Conf[v.At(b, j)] >= tau) chosen.Add(new Commit(b, j, v.X0[v.At(b, j)], v.Conf[v.At(b, j)]));
                continue;
            }
            // Determined given an anchor: drawn from the copy holding the anchor's drawn token.
            var best = anchors.Select(a => a.Row).MaxBy(r => v.Conf[v.At(r, j)]);
            if (v.Conf[v.At(best, j)] >= tau) chosen.Add(new Commit(b, j, v.X0[v.At(best, j)], v.Conf[v.At(best, j)]));
        }
        return (chosen, fresh);
    }

    /// <summary>
    /// The next call's probes: the least certain positions left (top-1 below τ in their freshest row), at
    /// most <see cref="DependencyAwareOptions.Probes"/>, each with its likeliest tokens until they hold 95%
    /// of its mass (at most K).
    /// </summary>
    List<Probe> NextProbes(List<int> left, Dictionary<int, int> fresh, CallView v)
    {
        var list = new List<Probe>();
        foreach (int j in left.Where(j => v.Top1[v.At(fresh[j], j)] < Options.Threshold)
                     .OrderBy(j => v.Top1[v.At(fresh[j], j)]).ThenBy(j => j).Take(Options.Probes))
        {
            int start = v.At(fresh[j], j) * v.K;
            var toks = new List<long>();
            double mass = 0;
            for (int i = 0; i < Math.Min(v.K, Options.Candidates) && mass < 0.95 && v.TopVals[start + i] > 0; i++)
            {
                toks.Add(v.TopIdx[start + i]);
                mass += v.TopVals[start + i];
            }
            list.Add(new Probe(j, toks.ToArray()));
        }
        return list;
    }
}
