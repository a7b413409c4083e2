using DiffusionLM.Corruption;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Audit;

/// <summary>
/// D1 per token: how a single token's information falls along one path of the chain. The expected curve
/// I(x_t; x_0) can be smooth in t while every single token loses its information in one jump (a masked token is
/// fully visible, then gone): that is the paper's objection to discrete corruption.
/// </summary>
/// <param name="Tokens">paths simulated (x_0 drawn from the unigram).</param>
/// <param name="MeanLargestStepShare">mean over paths of the largest one-step fall of the pointwise information
/// i(x_t; x_0) = log q(x_t | x_0) / q(x_t), divided by the token's information at t = 0, −log p(x_0). 1 for a token
/// erased in one step; above 1 when the step leaves it misleading (a uniform redraw to another token).</param>
/// <param name="ShareOverHalf">paths whose largest step loses more than half of the token's information.</param>
public sealed record TokenPathResult(int Tokens, int Steps, double MeanLargestStepShare, double ShareOverHalf);

/// <summary>A family's one-step kernel and pointwise information, for <see cref="TokenPath"/>.</summary>
public interface ITokenPathModel
{
    /// <summary>x at time t given x at time s &lt; t, from a uniform draw <paramref name="u"/> and a uniformly drawn replacement index.</summary>
    long Step(long x, double s, double t, double u, long replacementIndex);
    /// <summary>i(x_t; x_0) = log q(x_t | x_0) − log q(x_t), q(x_t) under x_0 ~ <paramref name="unigram"/>.</summary>
    double Pointwise(long x0, long xt, double t, double[] unigram);
    /// <summary>How many tokens a replacement index ranges over (0 when the family never replaces by a draw).</summary>
    int Replacements { get; }
}

public static class TokenPath
{
    /// <summary>The path model of a family's objective or forward process; null when the family has none wired.</summary>
    public static ITokenPathModel? For(object process) => process switch
    {
        MaskedProcess m => new MaskedPath(m),
        UniformProcess u => new UniformPath(u),
        _ => null,
    };

    /// <summary>Simulates <paramref name="tokens"/> paths through <paramref name="times"/> (increasing, in (0, 1]) from t = 0.</summary>
    public static TokenPathResult Measure(ITokenPathModel model, double[] unigram, double[] times, int tokens, Generator g)
    {
        if (tokens < 1) throw new DlmException($"the token-path measure needs at least one token; got {tokens}");
        IForwardProcess.ValidateTimes(times);
        long[] x0;
        double[] u;
        long[] r;
        using (var scope = NewDisposeScope())
        {
            x0 = multinomial(tensor(unigram), tokens, replacement: true, generator: g).data<long>().ToArray();
            u = rand(new long[] { tokens, times.Length }, dtype: ScalarType.Float64, generator: g).data<double>().ToArray();
            r = model.Replacements > 0
                ? randint(0, model.Replacements, new long[] { tokens, times.Length }, dtype: ScalarType.Int64, generator: g).data<long>().ToArray()
                : new long[tokens * times.Length];
        }
        double sumShare = 0;
        int counted = 0, overHalf = 0;
        for (int k = 0; k < tokens; k++)
        {
            double start = -Math.Log(unigram[x0[k]]);
            if (!(start > 0)) continue;
            long x = x0[k];
            double s = 0, info = start, largest = 0;
            for (int j = 0; j < times.Length; j++)
            {
                x = model.Step(x, s, times[j], u[k * times.Length + j], r[k * times.Length + j]);
                double next = model.Pointwise(x0[k], x, times[j], unigram);
                largest = Math.Max(largest, info - next);
                info = next;
                s = times[j];
            }
            double share = largest / start;
            sumShare += share;
            counted++;
            if (share > 0.5) overHalf++;
        }
        return new TokenPathResult(counted, times.Length, counted > 0 ? sumShare / counted : double.NaN, counted > 0 ? (double)overHalf / counted : double.NaN);
    }

    /// <summary>Masking: kept with probability α_t/α_s, else the mask for good; i = −log p(x_0) while visible, 0 once masked.</summary>
    sealed class MaskedPath(MaskedProcess process) : ITokenPathModel
    {
        public int Replacements => 0;

        public long Step(long x, double s, double t, double u, long replacementIndex)
        {
            if (x == process.MaskId) return x;
            double a = process.Schedule.Alpha(t), prev = process.Schedule.Alpha(s);
            return prev > 0 && u < a / prev ? x : process.MaskId;
        }

        public double Pointwise(long x0, long xt, double t, double[] unigram) => xt == process.MaskId ? 0.0 : -Math.Log(unigram[x0]);
    }

    /// <summary>Uniform redraws: kept with probability α_t/α_s, else a uniform token of the set; i from the closed-form marginal.</summary>
    sealed class UniformPath(UniformProcess process) : ITokenPathModel
    {
        public int Replacements => process.K;

        public long Step(long x, double s, double t, double u, long replacementIndex)
        {
            double a = process.Schedule.Alpha(t), prev = process.Schedule.Alpha(s);
            return prev > 0 && u < a / prev ? x : process.Tokens[(int)replacementIndex];
        }

        public double Pointwise(long x0, long xt, double t, double[] unigram)
        {
            double a = process.Schedule.Alpha(t);
            double marginal = a * (xt < unigram.Length ? unigram[xt] : 0) + (process.InSet(xt) ? (1 - a) / process.K : 0);
            return Math.Log(process.Marginal(x0, xt, t)) - Math.Log(marginal);
        }
    }
}
