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
public sealed record TokenPathResult(int Tokens, int Steps, double MeanLargestStepShare, double ShareOverHalf)
{
    /// <summary>The grid (t = 0 first) and a few paths' i(x_t; x_0) / i(x_0; x_0) on it, for the figure.</summary>
    public double[] ExampleTimes { get; init; } = [];
    public double[][] Examples { get; init; } = [];
}

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
        var examples = new List<double[]>();
        for (int k = 0; k < tokens; k++)
        {
            double start = -Math.Log(unigram[x0[k]]);
            if (!(start > 0)) continue;
            long x = x0[k];
            double s = 0, info = start, largest = 0;
            var path = new double[times.Length + 1];
            path[0] = 1;
            for (int j = 0; j < times.Length; j++)
            {
                x = model.Step(x, s, times[j], u[k * times.Length + j], r[k * times.Length + j]);
                double next = model.Pointwise(x0[k], x, times[j], unigram);
                largest = Math.Max(largest, info - next);
                info = next;
                s = times[j];
                path[j + 1] = info / start;
            }
            if (examples.Count < ExampleCount) examples.Add(path);
            double share = largest / start;
            sumShare += share;
            counted++;
            if (share > 0.5) overHalf++;
        }
        return new TokenPathResult(counted, times.Length, counted > 0 ? sumShare / counted : double.NaN, counted > 0 ? (double)overHalf / counted : double.NaN)
        {
            ExampleTimes = [0.0, .. times], Examples = examples.ToArray(),
        };
    }

    /// <summary>Paths kept for the figure.</summary>
    const int ExampleCount = 3;

    /// <summary>
    /// The gaussian channel's path: z starts at the clean embedding e_{x0} (σ = 0) and each step adds independent noise
    /// of variance σ(t)² − σ(s)², the chain of <see cref="GaussianProcess.SimulateChain"/>; the pointwise information is
    /// i(z; x_0) = log N(z; e_{x0}, σ²) − log Σ_w p(w) N(z; e_w, σ²) over the embedding table [V, D]. The first step
    /// also carries σ_min, the noise the process has at t = 0.
    /// </summary>
    public static TokenPathResult MeasureGaussian(GaussianProcess process, Tensor table, double[] unigram, double[] times, int tokens, Generator g)
    {
        if (tokens < 1) throw new DlmException($"the token-path measure needs at least one token; got {tokens}");
        if (unigram.Length != table.shape[0]) throw new DlmException($"the unigram has {unigram.Length} entries, the embedding table {table.shape[0]} rows");
        IForwardProcess.ValidateTimes(times);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        // float32: squared distances of unit-scale embeddings over σ² are well within its precision, at half the cost of float64.
        var e = table.detach().to_type(ScalarType.Float32);
        var probs = tensor(unigram, dtype: ScalarType.Float64);
        var logP = probs.log().to_type(ScalarType.Float32).view(1, -1);
        var x0 = multinomial(probs, tokens, replacement: true, generator: g);
        var start = -logP.view(-1).index_select(0, x0);
        var z = e.index_select(0, x0);
        var tableNorm = e.square().sum(-1).view(1, -1);
        var info = start;
        var largest = zeros_like(start);
        var trace = new List<double[]> { Enumerable.Repeat(1.0, (int)Math.Min(ExampleCount, tokens)).ToArray() };
        double prev = 0;
        foreach (var t in times)
        {
            double sigma = process.Schedule.Sigma(t);
            z = z + Math.Sqrt(sigma * sigma - prev * prev) * randn(z.shape, dtype: ScalarType.Float32, generator: g);
            prev = sigma;
            var sq = (z.square().sum(-1, keepdim: true) - 2 * z.matmul(e.t()) + tableNorm).clamp_min(0);
            var logq = -sq / (2 * sigma * sigma);
            var next = logq.gather(1, x0.view(-1, 1)).squeeze(1) - (logq + logP).logsumexp(1);
            largest = maximum(largest, info - next);
            info = next;
            trace.Add((info / start).narrow(0, 0, Math.Min(ExampleCount, tokens)).to_type(ScalarType.Float64).data<double>().ToArray());
        }
        var positive = start.gt(0);
        var share = (largest / start).masked_select(positive);
        long counted = share.numel();
        if (counted == 0) return new TokenPathResult(0, times.Length, double.NaN, double.NaN);
        return new TokenPathResult((int)counted, times.Length, share.to_type(ScalarType.Float64).mean().item<double>(), share.gt(0.5).to_type(ScalarType.Float64).mean().item<double>())
        {
            ExampleTimes = [0.0, .. times],
            Examples = Enumerable.Range(0, trace[0].Length).Select(k => trace.Select(step => step[k]).ToArray()).ToArray(),
        };
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
