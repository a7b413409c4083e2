using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Sampling;

/// <summary>Settings of the dependency-aware parallel sampler.</summary>
/// <param name="Threshold">a position joins a step when its token's probability, given everything the step
/// commits before it, is at least this (Fast-dLLM's rule, applied to the conditional instead of the marginal).</param>
/// <param name="Candidates">K: tokens of the anchor position probed per step (extra rows of the same call);
/// 0 turns the lookahead off, leaving the error-budget rule alone.</param>
/// <param name="Budget">when true a step's extra positions must satisfy Σ(1 − confidence) ≤ 1 − Threshold
/// (a union bound on the chance that any of them disagrees with a sequential draw) instead of each
/// confidence ≥ Threshold.</param>
public sealed record DependencyAwareOptions(
    int GenLength = 128,
    int BlockLength = 128,
    double Temperature = 0.0,
    double Threshold = 0.9,
    int Candidates = 4,
    bool Budget = false)
{
    public void Validate()
    {
        if (GenLength <= 0 || BlockLength <= 0 || GenLength % BlockLength != 0)
            throw new DlmException($"dependency-aware sampler: gen length {GenLength} must be a positive multiple of block length {BlockLength}");
        if (!double.IsFinite(Temperature) || Temperature < 0) throw new DlmException($"dependency-aware sampler: temperature must be a finite number >= 0 (got {Temperature})");
        if (!double.IsFinite(Threshold)) throw new DlmException($"dependency-aware sampler: threshold must be finite (got {Threshold})");
        if (Candidates is < 0 or > 64) throw new DlmException($"dependency-aware sampler: candidates must lie in [0, 64] (got {Candidates})");
    }
}

/// <summary>
/// A parallel sampler that commits dependent positions in sequence, not side by side, without spending
/// more network calls. The marginal trap comes from committing in one step positions whose predictions
/// were made without knowing each other. Each call here evaluates, next to the current sequence x, K
/// copies of x in which one masked "anchor" position holds one of its K most likely tokens. After the call:
/// the anchor's token is drawn from its current distribution p(x_a | x); when the draw is one of the probed
/// tokens, the matching copy gives every other masked position's distribution GIVEN that token,
/// p(x_j | x, x_a), and the positions that are confident under it are drawn from it and committed in the
/// same step. How far p(x_j | x, x_a) moved from p(x_j | x) is the measured dependence of j on a: a position
/// that depends on the anchor is decided after it (conditioned on it), one that does not is decided as
/// confidently as before. When the draw was not probed, the step falls back to Fast-dLLM's threshold rule.
/// The next anchor is the most uncertain position whose K best tokens still carry most of its mass.
/// </summary>
/// <remarks>
/// NFE counts calls: the K probe copies ride in the same call (K + 1 rows per sequence), as classifier-free
/// guidance batches its two inputs; <see cref="RowsEvaluated"/> reports the rows, the compute cost.
/// </remarks>
public sealed class DependencyAwareSampler : ISampler
{
    public DependencyAwareOptions Options { get; }

    /// <summary>Rows the denoiser evaluated in the last <see cref="Generate"/> (NFE counts calls).</summary>
    public long RowsEvaluated { get; private set; }

    public DependencyAwareSampler(DependencyAwareOptions? options = null)
    {
        Options = options ?? new DependencyAwareOptions();
        Options.Validate();
    }

    sealed record Probe(int Anchor, long[] Tokens);

    public SamplerResult Generate(IDenoiser model, Tensor prompt, Generator generator, Tensor? attentionMask = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        var o = Options;
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        var run = SamplerRun.Start("dependency-aware", model, prompt, attentionMask, o.GenLength);
        RowsEvaluated = 0;
        int blocks = o.GenLength / o.BlockLength, total = run.Total, vocab = run.Vocab;
        for (int block = 0; block < blocks; block++)
        {
            int blockStart = run.PromptLength + block * o.BlockLength, blockEnd = blockStart + o.BlockLength;
            var probes = new Probe?[run.Batch];
            for (int step = 0; ; step++)
            {
                using var stepScope = torch.NewDisposeScope();
                var xFlat = run.X.data<long>().ToArray();
                bool anyMasked = false;
                for (int b = 0; b < run.Batch && !anyMasked; b++)
                    for (int i = blockStart; i < blockEnd; i++) if (xFlat[b * total + i] == run.MaskId) { anyMasked = true; break; }
                if (!anyMasked) break;

                // Rows: x, then each row's probe copies.
                var inputs = new List<long>(xFlat);
                var attnRows = new List<int>();
                var probeRow = new Dictionary<(int Row, long Token), int>();
                int rows = run.Batch;
                for (int b = 0; b < run.Batch; b++)
                {
                    if (probes[b] is not { } pr) continue;
                    foreach (long tok in pr.Tokens)
                    {
                        var copy = xFlat.AsSpan(b * total, total).ToArray();
                        copy[pr.Anchor] = tok;
                        inputs.AddRange(copy);
                        attnRows.Add(b);
                        probeRow[(b, tok)] = rows++;
                    }
                }
                var ids = torch.tensor(inputs.ToArray(), new long[] { rows, total });
                Tensor? attn = run.Attention is null ? null
                    : torch.cat(new[] { run.Attention, run.Attention.index_select(0, torch.tensor(attnRows.Select(r => (long)r).ToArray())) }, 0);
                var logits = Categorical.NoMask(run.Forward(ids, attn), run.MaskId);
                RowsEvaluated += rows;
                var (x0, conf) = FastDllmSampler.Predict(logits, o.Temperature, LladaSamplerOptions.LowConfidence, generator);
                // The K most likely tokens of every position of every row, read once: the next anchors' candidates.
                int kk = Math.Max(1, Math.Min(o.Candidates, vocab));
                var (topVals, topIdx) = torch.topk(torch.softmax(logits.to_type(ScalarType.Float64), -1), kk, -1);
                var tv = topVals.data<double>().ToArray();
                var ti = topIdx.data<long>().ToArray();

                var commits = new List<Commit>();
                for (int b = 0; b < run.Batch; b++)
                {
                    var candidates = new List<int>();
                    for (int i = 0; i < blockEnd; i++) if (xFlat[b * total + i] == run.MaskId) candidates.Add(i);
                    if (candidates.Count == 0) { probes[b] = null; continue; }
                    int source = b; // the row whose predictions the step's other positions are drawn from
                    var chosen = new List<Commit>();
                    if (probes[b] is { } pr && xFlat[b * total + pr.Anchor] == run.MaskId)
                    {
                        int k = b * total + pr.Anchor;
                        chosen.Add(new Commit(b, pr.Anchor, x0[k], conf[k]));
                        if (probeRow.TryGetValue((b, x0[k]), out int r)) source = r;
                    }
                    else
                    {
                        int top = candidates.OrderByDescending(i => conf[b * total + i]).ThenBy(i => i).First();
                        chosen.Add(new Commit(b, top, x0[b * total + top], conf[b * total + top]));
                    }
                    int first = chosen[0].Position;
                    var rest = candidates.Where(i => i != first)
                        .Select(i => (Pos: i, Tok: x0[source * total + i], Conf: conf[source * total + i]))
                        .OrderByDescending(c => c.Conf).ThenBy(c => c.Pos);
                    double spent = 0;
                    foreach (var c in rest)
                    {
                        bool admit = o.Budget ? spent + (1 - c.Conf) <= 1 - o.Threshold : c.Conf >= o.Threshold;
                        if (!admit) { if (o.Budget) break; continue; }
                        spent += 1 - c.Conf;
                        chosen.Add(new Commit(b, c.Pos, c.Tok, c.Conf));
                    }
                    commits.AddRange(chosen);
                    probes[b] = o.Candidates == 0 ? null
                        : NextProbe(tv, ti, kk, source, total, candidates.Except(chosen.Select(c => c.Position)).ToList());
                }
                FastDllmSampler.Apply(run, commits);
                run.AddStep(block, step, commits);
            }
        }
        return run.Result();
    }

    /// <summary>
    /// The next anchor: among the positions still masked, the most uncertain one (lowest top-1 probability)
    /// whose K most likely tokens carry at least 80% of its mass, so the draw is likely to be probed;
    /// if none qualifies, the one with the best coverage. Probabilities are the latest available for the row.
    /// </summary>
    static Probe? NextProbe(double[] topVals, long[] topIdx, int kk, int row, int total, List<int> remaining)
    {
        if (remaining.Count == 0) return null;
        int best = -1, fallback = -1;
        double bestTop1 = double.PositiveInfinity, bestCover = -1;
        foreach (int pos in remaining)
        {
            int at = (row * total + pos) * kk;
            double cover = 0;
            for (int j = 0; j < kk; j++) cover += topVals[at + j];
            double top1 = topVals[at];
            if (cover >= 0.8 && top1 < bestTop1) { bestTop1 = top1; best = pos; }
            if (cover > bestCover) { bestCover = cover; fallback = pos; }
        }
        int pick = best >= 0 ? best : fallback;
        int start = (row * total + pick) * kk;
        return new Probe(pick, topIdx.AsSpan(start, kk).ToArray());
    }
}
