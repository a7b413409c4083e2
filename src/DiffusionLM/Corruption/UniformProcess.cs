using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>The corrupted batch of the uniform process: x_t, which positions were redrawn (possibly to the same token), the time of each row.</summary>
public sealed record UniformSample(Tensor Noisy, Tensor Resampled, Tensor Time);

/// <summary>
/// Uniform discrete diffusion (D3PM's uniform transition, UDLM): a token is kept with probability α_t and
/// otherwise replaced by a token drawn uniformly from the K ordinary tokens — which may be the token itself.
/// So q(x_t = j | x_0 = i) = α_t·[j = i] + (1 − α_t)·[j ∈ set]/K, and between two times s &lt; t the chain's
/// step is the same kernel with α_{t|s} = α_t / α_s (uniform mixing composes: keep-with-α then keep-with-β
/// is keep-with-αβ, the rest uniform). α_t comes from a <see cref="MaskSchedule"/> (linear: 1 − t).
/// Its objective (the continuous-time ELBO) is in UniformProcess.Objective.cs.
/// </summary>
public sealed partial class UniformProcess : IForwardProcess
{
    public MaskSchedule Schedule { get; }
    public int VocabSize { get; }
    /// <summary>The token ids of the uniform draw, ascending.</summary>
    public IReadOnlyList<long> Tokens { get; }
    public int K => Tokens.Count;
    public string Name => DiffusionProcess.Uniform.Spelling;

    readonly Tensor tokenTable;
    /// <summary>[V] int64: the index of each id in <see cref="Tokens"/>, −1 for ids outside the set.</summary>
    readonly Tensor setIndex;

    /// <param name="excluded">Ids never drawn (special tokens); ids outside [0, vocabSize) are ignored, so −1 ("none") is harmless.</param>
    /// <param name="eps">the ELBO's time cut-off at both ends (see <see cref="Eps"/>).</param>
    public UniformProcess(MaskSchedule schedule, int vocabSize, IEnumerable<int> excluded, double eps = 1e-3)
    {
        if (!(eps > 0 && eps < 0.5)) throw new DlmException($"the uniform process's eps must lie in (0, 0.5); got {eps}");
        Eps = eps;
        if (vocabSize <= 0) throw new DlmException($"vocab_size must be positive for the uniform process; got {vocabSize}");
        Schedule = schedule;
        VocabSize = vocabSize;
        var skip = excluded.ToHashSet();
        Tokens = Enumerable.Range(0, vocabSize).Where(i => !skip.Contains(i)).Select(i => (long)i).ToArray();
        if (Tokens.Count == 0) throw new DlmException($"the uniform process has no token to draw: all {vocabSize} ids are special");
        tokenTable = tensor(Tokens.ToArray(), dtype: ScalarType.Int64);
        tokenTable.DetachFromDisposeScope();
        var index = Enumerable.Repeat(-1L, vocabSize).ToArray();
        for (int k = 0; k < Tokens.Count; k++) index[Tokens[k]] = k;
        setIndex = tensor(index, dtype: ScalarType.Int64);
        setIndex.DetachFromDisposeScope();
    }

    /// <summary>
    /// The draw set of a model: every id except mask (meaningless without an absorbing state), bos (only
    /// ever at position 0) and pad — unless pad is eos, since eos is real content (it ends answers and
    /// pads SFT rows, and the model must learn to put it back).
    /// </summary>
    public static UniformProcess ForModel(ModelConfig config) => ForModel(config, MaskSchedule.FromName(config.Schedule));

    public static UniformProcess ForModel(ModelConfig config, MaskSchedule schedule)
    {
        var excluded = new List<int> { config.MaskTokenId, config.BosTokenId };
        if (config.PadTokenId != config.EosTokenId) excluded.Add(config.PadTokenId);
        return new UniformProcess(schedule, config.VocabSize, excluded);
    }

    public bool InSet(long id) => id >= 0 && id < VocabSize && ContainsSorted(id);

    bool ContainsSorted(long id)
    {
        int lo = 0, hi = Tokens.Count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) / 2;
            if (Tokens[mid] == id) return true;
            if (Tokens[mid] < id) lo = mid + 1; else hi = mid - 1;
        }
        return false;
    }

    /// <summary>q(x_t = j | x_0 = i) = α_t·[j = i] + (1 − α_t)·[j ∈ set]/K.</summary>
    public double Marginal(long i, long j, double t)
    {
        double a = Schedule.Alpha(t);
        return (i == j ? a : 0.0) + (InSet(j) ? (1.0 - a) / K : 0.0);
    }

    /// <summary>Probability that x_t = x_0 for a token x_0 of the set: α_t + (1 − α_t)/K.</summary>
    public double StayProbability(double t) => Schedule.Alpha(t) + (1.0 - Schedule.Alpha(t)) / K;

    /// <summary>Redraws each unprotected token of x0 ([B, L]) with probability 1 − α_t of its row (t: [B]).</summary>
    public UniformSample Corrupt(Tensor x0, Tensor t, Tensor? protectedMask, Generator g)
    {
        using var scope = NewDisposeScope();
        var keepProb = tensor(t.to_type(ScalarType.Float64).data<double>().ToArray().Select(Schedule.Alpha).ToArray(),
            dtype: ScalarType.Float64).view(-1, 1);
        var (noisy, resampled) = Step(x0, keepProb, protectedMask, g);
        return new UniformSample(noisy.MoveToOuterDisposeScope(), resampled.MoveToOuterDisposeScope(), t.alias().MoveToOuterDisposeScope());
    }

    /// <summary>One application of the kernel: keep with probability keepProb (broadcast over x), else a uniform draw from the set.</summary>
    (Tensor Noisy, Tensor Resampled) Step(Tensor x, Tensor keepProb, Tensor? protectedMask, Generator g)
    {
        // Both draws are made for every position, so the stream of random numbers does not depend on the outcome.
        var resampled = rand(x.shape, dtype: ScalarType.Float64, generator: g) >= keepProb;
        if (protectedMask is not null) resampled = resampled & protectedMask.logical_not();
        var index = randint(0, K, x.shape, dtype: ScalarType.Int64, generator: g);
        var drawn = tokenTable.index_select(0, index.flatten()).view(x.shape);
        return (where(resampled, drawn, x), resampled);
    }

    public Tensor SampleMarginal(Tensor x0, double t, Generator g)
    {
        using var scope = NewDisposeScope();
        using var times = full(new long[] { x0.shape[0] }, t, dtype: ScalarType.Float64);
        return Corrupt(x0, times, null, g).Noisy.MoveToOuterDisposeScope();
    }

    /// <summary>Runs the chain from t = 0 through <paramref name="times"/>, one kernel with α_{t|s} = α_t/α_s per step.</summary>
    public Tensor SimulateChain(Tensor x0, double[] times, Generator g) => SimulateChain(x0, times, null, g);

    public Tensor SimulateChain(Tensor x0, double[] times, Tensor? protectedMask, Generator g)
    {
        IForwardProcess.ValidateTimes(times);
        using var scope = NewDisposeScope();
        var x = x0.alias();
        double prevAlpha = 1.0;
        foreach (var t in times)
        {
            double a = Schedule.Alpha(t);
            // Once α_s = 0 the state is already uniform and any kernel keeps it so: keep nothing.
            double conditional = prevAlpha > 0 ? a / prevAlpha : 0.0;
            x = Step(x, tensor(conditional, dtype: ScalarType.Float64), protectedMask, g).Noisy;
            prevAlpha = a;
        }
        return x.MoveToOuterDisposeScope();
    }
}
