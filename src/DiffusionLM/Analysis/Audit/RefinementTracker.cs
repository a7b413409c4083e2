using DiffusionLM.Sampling;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Audit;

/// <summary>What a sampler's intermediate states showed (D3 revisions, L1 validity).</summary>
/// <param name="Observations">intermediate states seen (one per step, per row counted once per step).</param>
/// <param name="Positions">completion positions tracked (rows × generation length).</param>
/// <param name="Revisions">changes of a position's token after it was first proposed, summed over positions.</param>
/// <param name="RevisedPositions">positions changed at least once after their first proposal.</param>
/// <param name="DiscreteStates">intermediate states that are token ids (no continuous state behind them).</param>
/// <param name="ValidStates">intermediate states that are valid token sequences: discrete and without the mask id in the completion.</param>
/// <param name="RealTokenShare">mean over intermediate states of the share of completion positions holding a real token (not the mask id).</param>
public sealed record RefinementStats(int Observations, int Positions, long Revisions, int RevisedPositions,
    int DiscreteStates, int ValidStates, double RealTokenShare)
{
    public double RevisionsPerPosition => Positions > 0 ? (double)Revisions / Positions : 0;
    public double RevisedShare => Positions > 0 ? (double)RevisedPositions / Positions : 0;
    public double DiscreteShare => Observations > 0 ? (double)DiscreteStates / Observations : 0;
    public double ValidShare => Observations > 0 ? (double)ValidStates / Observations : 0;
}

/// <summary>
/// Follows a sampler's completion through its steps and counts (D3) how often a position's token changes
/// after it was first proposed and (L1) how many intermediate states are valid token sequences.
/// </summary>
/// <remarks>
/// The first observation is the prior draw (all masks, uniform noise, or Gaussian noise rounded), not a
/// proposal of the model, so it is neither a proposal nor a revision, but it is an intermediate state for L1.
/// Every later state — the observations of steps 1.. and the final ids — may hold proposals: a position's first
/// non-mask token there is its proposal, and each later change to another non-mask token is a revision (for
/// gaussian samplers, a change of the rounded token). Going back to the mask (ReMDM) is not a revision by itself;
/// proposing a different token afterwards is.
/// </remarks>
public sealed class RefinementTracker(int rows, int genLength, long maskId)
{
    readonly long[] last = Filled(rows * genLength, maskId);
    readonly int[] changes = new int[rows * genLength];
    int observations, discrete, valid;
    double realShare;
    bool sawPrior;

    static long[] Filled(int n, long v) { var a = new long[n]; Array.Fill(a, v); return a; }

    /// <summary>One intermediate state: the completion part, [rows × genLength] row-major; <paramref name="continuous"/> when it is the rounding of a continuous state.</summary>
    public void Observe(long[] completion, bool continuous)
    {
        CheckShape(completion);
        observations++;
        int real = completion.Count(id => id != maskId);
        realShare += (double)real / completion.Length;
        if (!continuous) discrete++;
        if (!continuous && real == completion.Length) valid++;
        if (!sawPrior) { sawPrior = true; return; }
        Propose(completion);
    }

    /// <summary>The final ids of the completion (after the last step): proposals and revisions count, it is not an intermediate state.</summary>
    public void Finish(long[] completion)
    {
        CheckShape(completion);
        Propose(completion);
    }

    void Propose(long[] completion)
    {
        for (int k = 0; k < completion.Length; k++)
        {
            long id = completion[k];
            if (id == maskId) continue;
            if (last[k] != maskId && last[k] != id) changes[k]++;
            last[k] = id;
        }
    }

    void CheckShape(long[] completion)
    {
        if (completion.Length != last.Length)
            throw new ArgumentException($"expected {last.Length} ids ({rows} rows × {genLength}), got {completion.Length}");
    }

    public RefinementStats Stats() => new(observations, last.Length, changes.Sum(c => (long)c), changes.Count(c => c > 0),
        discrete, valid, observations > 0 ? realShare / observations : 0);

    /// <summary>Runs <paramref name="sampler"/> once with a tracker attached and returns the tracker's figures with the run's result.</summary>
    public static (RefinementStats Stats, SamplerResult Result) Track(IObservableSampler sampler, Models.IDenoiser model, long[][] prompts, int genLength, Generator g)
    {
        var tracker = new RefinementTracker(prompts.Length, genLength, model.Config.MaskTokenId);
        var previous = sampler.Observer;
        sampler.Observer = obs =>
        {
            using var scope = NewDisposeScope();
            var ids = obs.State.narrow(1, obs.PromptLength, genLength).contiguous().data<long>().ToArray();
            tracker.Observe(ids, obs.Continuous is not null);
        };
        try
        {
            var result = sampler.Generate(model, prompts, g);
            tracker.Finish(result.Completions.SelectMany(r => r).ToArray());
            return (tracker.Stats(), result);
        }
        finally { sampler.Observer = previous; }
    }
}
