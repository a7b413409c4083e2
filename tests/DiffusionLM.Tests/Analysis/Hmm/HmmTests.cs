using DiffusionLM.Analysis.Hmm;
using DiffusionLM.Corruption;
using DiffusionLM.Corruption.Masking;
using DiffusionLM.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Analysis.Hmm;

public class HmmTests
{
    static readonly HiddenMarkovModel Small = HiddenMarkovModel.Random(states: 3, vocab: 4, seed: 7);
    const int Length = 5;

    /// <summary>p(x) by summing over every state path: the definition, with no recursion.</summary>
    static double BruteProbability(HiddenMarkovModel h, long[] x)
    {
        double total = 0;
        int paths = (int)Math.Pow(h.States, x.Length);
        for (int code = 0; code < paths; code++)
        {
            int c = code, prev = -1;
            double p = 1;
            for (int i = 0; i < x.Length; i++)
            {
                int s = c % h.States; c /= h.States;
                p *= (i == 0 ? h.Initial[s] : h.Transition[prev, s]) * h.Emission[s, x[i]];
                prev = s;
            }
            total += p;
        }
        return total;
    }

    static IEnumerable<long[]> AllSequences(int vocab, int length)
    {
        int n = (int)Math.Pow(vocab, length);
        for (int code = 0; code < n; code++)
        {
            var x = new long[length];
            int c = code;
            for (int i = 0; i < length; i++) { x[i] = c % vocab; c /= vocab; }
            yield return x;
        }
    }

    [Fact]
    public void ForwardLikelihoodMatchesEnumeration()
    {
        double sum = 0;
        foreach (var x in AllSequences(Small.Vocab, Length))
        {
            double brute = BruteProbability(Small, x);
            Assert.Equal(Math.Log(brute), Small.LogProbability(x), 10);
            sum += brute;
        }
        Assert.Equal(1.0, sum, 10);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ConditionalsMatchEnumeration(bool tokenDependentMasking)
    {
        // Positions 1, 2 and 4 masked; with token-dependent masking a token v is masked with probability m(v), so
        // p(x_i = v | x_vis, masked) ∝ Σ_{x_M: x_i = v} p(x)·Π_{j∈M} m(x_j).
        long[] x = [2, 0, 0, 1, 0];
        bool[] visible = [true, false, false, true, false];
        double[]? m = tokenDependentMasking ? [0.9, 0.2, 0.5, 0.05] : null;
        var posterior = Small.TokenPosteriors(x, visible, m);
        var expected = new double[Length, Small.Vocab];
        double z = 0;
        foreach (var y in AllSequences(Small.Vocab, Length))
        {
            if (y[0] != x[0] || y[3] != x[3]) continue;
            double w = BruteProbability(Small, y);
            for (int i = 0; i < Length; i++) if (!visible[i] && m is not null) w *= m[y[i]];
            z += w;
            for (int i = 0; i < Length; i++) expected[i, y[i]] += w;
        }
        for (int i = 0; i < Length; i++)
            for (int v = 0; v < Small.Vocab; v++)
                Assert.Equal(expected[i, v] / z, posterior[i][v], 10);
    }

    [Fact]
    public void SamplesFollowTheModel()
    {
        // The empirical frequency of every length-2 sequence against its exact probability.
        using var g = new Generator(3);
        const int n = 40_000;
        var x = Small.Sample(n, 2, g);
        var counts = new int[Small.Vocab, Small.Vocab];
        for (int r = 0; r < n; r++) counts[x[r, 0], x[r, 1]]++;
        foreach (var y in AllSequences(Small.Vocab, 2))
        {
            double p = Math.Exp(Small.LogProbability(y));
            double sd = Math.Sqrt(p * (1 - p) / n);
            Assert.InRange((double)counts[y[0], y[1]] / n, p - 5 * sd, p + 5 * sd);
        }
    }

    // The masked chain with any valid schedule: the Bayes-optimal denoiser's bound is the exact NLL.
    static readonly HiddenMarkovModel Testbed = HiddenMarkovModel.Random(states: 8, vocab: 10, seed: 11);
    const int L = 12;

    static (double Bound, double Se, double Nll) BayesBound(IDiffusionObjective objective, IDenoiser oracle, int sequences = 6, int mc = 1024)
    {
        using var g = new Generator(21);
        var x = Testbed.Sample(sequences, L, g);
        double bound = 0, variance = 0, nll = 0;
        for (int r = 0; r < sequences; r++)
        {
            var row = Enumerable.Range(0, L).Select(i => x[r, i]).ToArray();
            var est = ElboEvaluation.Estimate(objective, oracle, row, mc, 64, g);
            bound += est.Nll; variance += est.StandardError * est.StandardError;
            nll -= Testbed.LogProbability(row);
        }
        return (bound, Math.Sqrt(variance), nll);
    }

    static long[] TestbedCounts()
    {
        using var g = new Generator(2);
        var x = Testbed.Sample(2000, L, g);
        var counts = new long[Testbed.Vocab + 1];
        foreach (var v in x) counts[v]++;
        return counts;
    }

    static double[] InformationExponents() => TokenScores.InformationRates(TestbedCounts(), Testbed.Vocab);

    static Func<double, double[]> TokenMaskRates(double[] lambda) => t => lambda.Take(Testbed.Vocab).Select(l => Math.Pow(t, l)).ToArray();

    [Theory]
    [InlineData("uniform")]
    [InlineData("positional")]
    [InlineData("information")]
    public void BayesOptimalBoundEqualsTheExactNll(string name)
    {
        var lambda = InformationExponents();
        var corruption = MaskedCorruption.Parse(name);
        var objective = corruption == MaskedCorruption.Information
            ? new InformationMasking(Testbed.Vocab, lambda)
            : MaskedCorruptions.Create(corruption, new LinearMaskSchedule(), Testbed.Vocab, Testbed.Vocab + 1, null);
        var oracle = new HmmOracle(Testbed, L, corruption == MaskedCorruption.Information ? TokenMaskRates(lambda) : null);
        var (bound, se, nll) = BayesBound(objective, oracle);
        Assert.True(Math.Abs(bound - nll) < 3.5 * se, $"{name}: bound {bound:F3} ± {se:F3} against NLL {nll:F3}");
        Assert.True(se < 0.05 * nll, $"{name}: the standard error {se} is too loose to test anything");
    }

    [Fact]
    public void AnOracleThatIgnoresTheMaskEvidenceIsCaught()
    {
        // Mutant: under information masking, the posterior of token-independent masking (no t^λ(v) tilt).
        var objective = new InformationMasking(Testbed.Vocab, InformationExponents());
        var (bound, se, nll) = BayesBound(objective, new HmmOracle(Testbed, L));
        Assert.True(bound - nll > 3.5 * se, $"bound {bound:F3} ± {se:F3} against NLL {nll:F3}");
    }

    [Fact]
    public void WithoutTheRateMatchingTermTheLossFallsBelowTheNll()
    {
        // The naive loss Σ w_t(x_0)·CE (no E_μ w − w term) is minimised by μ ∝ posterior·w_t(v): it is not a bound.
        var lambda = InformationExponents();
        var naive = new NaiveInformation(Testbed.Vocab, lambda);
        var tilted = new TiltedOracle(new HmmOracle(Testbed, L, TokenMaskRates(lambda)), lambda);
        var (bound, se, nll) = BayesBound(naive, tilted);
        Assert.True(nll - bound > 3.5 * se, $"naive {bound:F3} ± {se:F3} against NLL {nll:F3}");
    }

    sealed class NaiveInformation(int maskId, double[] lambda) : RateMaskingProcess(maskId)
    {
        readonly InformationMasking _inner = new(maskId, lambda);
        public override string Corruption => "information-naive";
        public override Tensor MaskProbability(Tensor x0, Tensor t, Tensor? p) => _inner.MaskProbability(x0, t, p);
        public override Tensor RateWeight(Tensor x0, Tensor t, Tensor? p) => _inner.RateWeight(x0, t, p);
        public override double AnalyticInformation(double t, double[] u, Generator g) => _inner.AnalyticInformation(t, u, g);
    }

    sealed class TiltedOracle(HmmOracle inner, double[] lambda) : IDenoiser
    {
        public ModelConfig Config => inner.Config;
        public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
        {
            using var scope = NewDisposeScope();
            var tilt = tensor(lambda.Select(l => (float)Math.Log(l)).ToArray()).view(1, 1, -1);
            return nn.functional.log_softmax(inner.Logits(ids, attentionMask, time) + tilt, -1).MoveToOuterDisposeScope();
        }
    }
}
