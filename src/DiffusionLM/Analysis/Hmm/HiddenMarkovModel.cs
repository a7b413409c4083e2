using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Hmm;

/// <summary>
/// A random hidden Markov model over a small vocabulary: the exact testbed of the corruption benchmark. Its
/// likelihood, every conditional p(x_i | x_visible) and the information each position carries are exact by
/// forward-backward, so a corruption's price can be read off without estimating the data distribution.
/// Parameters: initial π [S], transitions A [S, S], emissions B [S, V], each row a softmax of seeded normal draws
/// scaled by <c>sharpness</c> (larger: sparser rows, more information between neighbours).
/// </summary>
public sealed class HiddenMarkovModel
{
    public int States { get; }
    public int Vocab { get; }
    public double[] Initial { get; }
    public double[,] Transition { get; }
    public double[,] Emission { get; }

    public HiddenMarkovModel(double[] initial, double[,] transition, double[,] emission)
    {
        States = initial.Length; Vocab = emission.GetLength(1);
        if (transition.GetLength(0) != States || transition.GetLength(1) != States || emission.GetLength(0) != States)
            throw new DlmException("HMM: the initial, transition and emission shapes disagree");
        Initial = initial; Transition = transition; Emission = emission;
    }

    /// <summary>A seeded random HMM.</summary>
    public static HiddenMarkovModel Random(int states, int vocab, long seed, double sharpness = 2.5)
    {
        if (states < 1 || vocab < 2) throw new DlmException($"HMM: needs at least 1 state and 2 symbols (got {states}, {vocab})");
        using var g = new Generator((ulong)seed);
        using var scope = NewDisposeScope();
        double[] Row(int n) => nn.functional.softmax(randn(n, dtype: ScalarType.Float64, generator: g) * sharpness, 0).data<double>().ToArray();
        var pi = Row(states);
        var a = new double[states, states];
        var b = new double[states, vocab];
        for (int s = 0; s < states; s++)
        {
            var ra = Row(states); var rb = Row(vocab);
            for (int j = 0; j < states; j++) a[s, j] = ra[j];
            for (int v = 0; v < vocab; v++) b[s, v] = rb[v];
        }
        return new HiddenMarkovModel(pi, a, b);
    }

    /// <summary>n sequences of length <paramref name="length"/>, drawn with <paramref name="g"/>.</summary>
    public long[,] Sample(int n, int length, Generator g)
    {
        var u = rand(new long[] { n, length, 2 }, dtype: ScalarType.Float64, generator: g).data<double>().ToArray();
        var x = new long[n, length];
        for (int r = 0; r < n; r++)
        {
            int s = Draw(i => Initial[i], States, u[(r * length) * 2]);
            for (int i = 0; i < length; i++)
            {
                if (i > 0) { int prev = s; s = Draw(j => Transition[prev, j], States, u[(r * length + i) * 2]); }
                int state = s;
                x[r, i] = Draw(v => Emission[state, v], Vocab, u[(r * length + i) * 2 + 1]);
            }
        }
        return x;
    }

    static int Draw(Func<int, double> p, int n, double u)
    {
        double c = 0;
        for (int i = 0; i < n; i++) { c += p(i); if (u < c) return i; }
        return n - 1;
    }

    /// <summary>The observation likelihood of a visible token v: B[·, v].</summary>
    public double[] Visible(int v)
    {
        var l = new double[States];
        for (int s = 0; s < States; s++) l[s] = Emission[s, v];
        return l;
    }

    /// <summary>
    /// The likelihood of "masked" per state when a token v is masked with probability m(v):
    /// Σ_v B[s, v]·m(v); all ones when m is null (masking that does not depend on the token).
    /// </summary>
    public double[] Masked(double[]? maskProbability)
    {
        var l = new double[States];
        for (int s = 0; s < States; s++)
        {
            if (maskProbability is null) { l[s] = 1; continue; }
            double sum = 0;
            for (int v = 0; v < Vocab; v++) sum += Emission[s, v] * maskProbability[v];
            l[s] = sum;
        }
        return l;
    }

    /// <summary>
    /// Forward-backward with per-position observation likelihoods <paramref name="obs"/>[i][s]: the log evidence
    /// log Σ_paths Π_i obs[i][s_i]·p(path) and the state posteriors γ[i][s].
    /// </summary>
    public (double LogEvidence, double[][] Posterior) ForwardBackward(double[][] obs)
    {
        int l = obs.Length, n = States;
        var alpha = new double[l][];
        var scale = new double[l];
        for (int i = 0; i < l; i++)
        {
            alpha[i] = new double[n];
            for (int s = 0; s < n; s++)
            {
                double prior;
                if (i == 0) prior = Initial[s];
                else { prior = 0; for (int r = 0; r < n; r++) prior += alpha[i - 1][r] * Transition[r, s]; }
                alpha[i][s] = prior * obs[i][s];
            }
            scale[i] = alpha[i].Sum();
            if (scale[i] <= 0) return (double.NegativeInfinity, alpha);
            for (int s = 0; s < n; s++) alpha[i][s] /= scale[i];
        }
        var beta = new double[l][];
        beta[l - 1] = Enumerable.Repeat(1.0, n).ToArray();
        for (int i = l - 2; i >= 0; i--)
        {
            beta[i] = new double[n];
            for (int s = 0; s < n; s++)
            {
                double sum = 0;
                for (int r = 0; r < n; r++) sum += Transition[s, r] * obs[i + 1][r] * beta[i + 1][r];
                beta[i][s] = sum / scale[i + 1];
            }
        }
        var post = new double[l][];
        for (int i = 0; i < l; i++)
        {
            post[i] = new double[n];
            double z = 0;
            for (int s = 0; s < n; s++) { post[i][s] = alpha[i][s] * beta[i][s]; z += post[i][s]; }
            for (int s = 0; s < n; s++) post[i][s] /= z;
        }
        return (scale.Sum(Math.Log), post);
    }

    /// <summary>Exact log p(x).</summary>
    public double LogProbability(IReadOnlyList<long> x) => ForwardBackward(x.Select(v => Visible((int)v)).ToArray()).LogEvidence;

    /// <summary>
    /// p(x_i = v | x_visible, which positions are masked) for every position: visible[i] false marks a masked
    /// position. With <paramref name="maskProbability"/> (the chance a token v is masked), the evidence that a
    /// position is still masked enters as its likelihood Σ_v B[s, v]·m(v) and tilts the token posterior by m(v).
    /// </summary>
    public double[][] TokenPosteriors(IReadOnlyList<long> x, bool[] visible, double[]? maskProbability = null)
    {
        var masked = Masked(maskProbability);
        var obs = Enumerable.Range(0, x.Count).Select(i => visible[i] ? Visible((int)x[i]) : masked).ToArray();
        var (_, post) = ForwardBackward(obs);
        var result = new double[x.Count][];
        for (int i = 0; i < x.Count; i++)
        {
            var p = new double[Vocab];
            if (visible[i]) { p[x[i]] = 1; result[i] = p; continue; }
            for (int s = 0; s < States; s++)
                for (int v = 0; v < Vocab; v++) p[v] += post[i][s] * Emission[s, v] * (maskProbability?[v] ?? 1) / masked[s];
            double z = p.Sum();
            for (int v = 0; v < Vocab; v++) p[v] /= z;
            result[i] = p;
        }
        return result;
    }

    /// <summary>The stationary-free marginal p(x_i = v) at each position (no token visible).</summary>
    public double[][] Marginals(int length) => TokenPosteriors(new long[length], new bool[length]);
}
