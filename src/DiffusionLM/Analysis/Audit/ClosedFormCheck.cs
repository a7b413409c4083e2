using DiffusionLM.Corruption;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Audit;

/// <summary>
/// The outcome of one D2 check: a two-sample chi-square test of "x_t drawn from the closed form" against
/// "x_t reached by running the chain step by step", and the share of tokens left equal to x_0 under each.
/// </summary>
public sealed record ClosedFormCheckResult(
    string Process, double T, int Samples, int ChainSteps,
    double Statistic, int DegreesOfFreedom, double PValue,
    double ClosedFormStayRate, double ChainStayRate)
{
    /// <summary>The closed form is consistent with the chain unless the test rejects at <paramref name="level"/>.</summary>
    public bool Passes(double level = 1e-3) => PValue >= level;
}

/// <summary>
/// D2 (tractable intermediate states): q(x_t | x_0) drawn in closed form must be the distribution the chain
/// produces when it is run step by step. Both are sampled <c>samples</c> times from the same x_0; each position's
/// value of x_t (which covers x_t = x_0 and, otherwise, which token) is histogrammed, and the two histograms
/// are compared by a two-sample chi-square test of homogeneity, stratified by position (positions are
/// independent given x_0, each contributes its own bins). A closed form that disagrees with its own chain —
/// a wrong rate, a wrong replacement law — is rejected once the sample is large enough.
/// </summary>
public static class ClosedFormCheck
{
    /// <summary>Bins with fewer pooled counts than this are merged, so that each expected count is at least 5.</summary>
    const int MinPooledCount = 10;

    public static ClosedFormCheckResult Run(IForwardProcess process, long[] x0, double t, int samples, int chainSteps, Generator g)
    {
        if (x0.Length == 0) throw new DlmException("the closed-form check needs a non-empty x_0");
        if (samples < 2) throw new DlmException($"the closed-form check needs at least 2 samples; got {samples}");
        if (chainSteps < 1) throw new DlmException($"the chain needs at least one step; got {chainSteps}");
        if (!(t > 0 && t <= 1)) throw new DlmException($"t must be in (0, 1]; got {t}");
        var times = Enumerable.Range(1, chainSteps).Select(k => k == chainSteps ? t : t * k / chainSteps).ToArray();

        long[] closed, chain;
        using (var scope = NewDisposeScope())
        {
            var batch = tensor(x0, dtype: ScalarType.Int64).unsqueeze(0).expand(samples, x0.Length).contiguous();
            closed = process.SampleMarginal(batch, t, g).data<long>().ToArray();
            chain = process.SimulateChain(batch, times, g).data<long>().ToArray();
        }

        double statistic = 0;
        int dof = 0;
        for (int p = 0; p < x0.Length; p++)
        {
            var counts = new Dictionary<long, (long A, long B)>();
            for (int s = 0; s < samples; s++)
            {
                Add(counts, closed[s * x0.Length + p], first: true);
                Add(counts, chain[s * x0.Length + p], first: false);
            }
            var bins = Pool(counts.Values);
            foreach (var (a, b) in bins) statistic += (double)(a - b) * (a - b) / (a + b);
            dof += bins.Count - 1;
        }
        double pValue = dof > 0 ? ChiSquare.UpperTail(statistic, dof) : 1.0;
        return new ClosedFormCheckResult(process.Name, t, samples, chainSteps, statistic, dof, pValue,
            StayRate(closed, x0), StayRate(chain, x0));
    }

    static void Add(Dictionary<long, (long A, long B)> counts, long token, bool first)
    {
        counts.TryGetValue(token, out var c);
        counts[token] = first ? (c.A + 1, c.B) : (c.A, c.B + 1);
    }

    /// <summary>Sparse bins go into one pooled bin; a pooled bin still too small joins the smallest other bin.</summary>
    static List<(long A, long B)> Pool(IEnumerable<(long A, long B)> counts)
    {
        var bins = new List<(long A, long B)>();
        long restA = 0, restB = 0;
        foreach (var (a, b) in counts)
        {
            if (a + b >= MinPooledCount) bins.Add((a, b));
            else { restA += a; restB += b; }
        }
        if (restA + restB == 0) return bins;
        if (restA + restB >= MinPooledCount || bins.Count == 0) { bins.Add((restA, restB)); return bins; }
        int smallest = 0;
        for (int i = 1; i < bins.Count; i++) if (bins[i].A + bins[i].B < bins[smallest].A + bins[smallest].B) smallest = i;
        bins[smallest] = (bins[smallest].A + restA, bins[smallest].B + restB);
        return bins;
    }

    static double StayRate(long[] xt, long[] x0)
    {
        long stay = 0;
        for (int i = 0; i < xt.Length; i++) if (xt[i] == x0[i % x0.Length]) stay++;
        return (double)stay / xt.Length;
    }
}
