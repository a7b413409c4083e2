using DiffusionLM.Sampling;
using static TorchSharp.torch;

namespace DiffusionLM.Serving;

/// <summary>
/// Turns the sampling engine's observations (<see cref="SamplerObservation"/>: the state a step saw, its logits and
/// its commits) into the <see cref="GenerationStep"/>s that <c>dlm serve</c> streams and the page draws.
/// </summary>
/// <remarks>
/// A step's completion after it is the state it saw with its commits written in; what changed against the previous
/// step is reported, so a sampler that also revises tokens outside its commits (the state the next step sees differs)
/// shows those changes one step later, and <see cref="Finished"/> reports whatever the final ids still differ in
/// (a causal run's end padding). The confidence of a change is the probability the step's logits gave the token
/// written, the same measure for every sampler: the commits' own scores are a uniform draw under random remasking.
/// </remarks>
internal sealed class StepReporter(GenerationSession session, int rows, int genLength, Action<GenerationStep>? onStep)
{
    readonly long _mask = session.Config.MaskTokenId;
    long[][] _last = Enumerable.Range(0, rows).Select(_ => Enumerable.Repeat((long)session.Config.MaskTokenId, genLength).ToArray()).ToArray();
    int _index;

    /// <summary>One step observed: reported when someone reads the steps.</summary>
    public void Observed(SamplerObservation obs)
    {
        if (onStep is null) return;
        using var scope = NewDisposeScope();
        int p = obs.PromptLength;
        var part = obs.State.narrow(0, 0, rows).narrow(1, p, genLength).to_type(ScalarType.Int64).contiguous();
        var flat = part.data<long>().ToArray();
        var now = Enumerable.Range(0, rows).Select(r => flat.AsSpan(r * genLength, genLength).ToArray()).ToArray();
        foreach (var c in obs.Commits)
        {
            int i = c.Position - p;
            if (c.Row < rows && i >= 0 && i < genLength) now[c.Row][i] = c.Token;
        }
        Report(now, obs.Nfe, obs.Logits, p);
    }

    /// <summary>The run ended with <paramref name="completions"/>: a last step if they differ from the last one reported.</summary>
    public void Finished(long[][] completions, int nfe)
    {
        if (onStep is null) return;
        if (Enumerable.Range(0, rows).Any(r => !completions[r].AsSpan().SequenceEqual(_last[r]))) Report(completions, nfe, null, 0);
    }

    void Report(long[][] now, int nfe, Tensor? logits, int promptLength)
    {
        var changed = new List<(int Row, int Position)>();
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < genLength; i++)
                if (now[r][i] != _last[r][i]) changed.Add((r, i));
        var probability = Probabilities(changed, now, logits, promptLength);
        var commits = Enumerable.Range(0, rows).Select(_ => new List<PositionCommit>()).ToArray();
        for (int k = 0; k < changed.Count; k++)
        {
            var (r, i) = changed[k];
            long token = now[r][i];
            bool remasked = token == _mask;
            commits[r].Add(new PositionCommit(i, token, session.TokenText(token), remasked ? double.NaN : probability[k], remasked));
        }
        _last = now;
        onStep!(new GenerationStep(_index++, nfe, now, commits));
    }

    /// <summary>p(token written | the step's logits) of each change; NaN where the logits do not cover its position.</summary>
    double[] Probabilities(List<(int Row, int Position)> changed, long[][] now, Tensor? logits, int promptLength)
    {
        var result = Enumerable.Repeat(double.NaN, changed.Count).ToArray();
        if (logits is null || changed.Count == 0 || logits.ndim != 3) return result;
        long width = logits.shape[1], vocab = logits.shape[2];
        // Full logits cover every position; a causal step's [B, 1, V] holds only the next position's.
        bool full = width == promptLength + genLength, single = width == 1;
        if (!full && !single) return result;
        using var scope = NewDisposeScope();
        var at = changed.Select(c => c.Row * width + (full ? promptLength + c.Position : 0)).ToArray();
        var tokens = changed.Select(c => Math.Clamp(now[c.Row][c.Position], 0, vocab - 1)).ToArray();
        var picked = logits.reshape(-1, vocab).index_select(0, tensor(at)).to_type(ScalarType.Float32).log_softmax(-1)
            .gather(1, tensor(tokens).unsqueeze(1)).exp().contiguous();
        var p = picked.data<float>().ToArray();
        for (int k = 0; k < changed.Count; k++) result[k] = p[k];
        return result;
    }
}
