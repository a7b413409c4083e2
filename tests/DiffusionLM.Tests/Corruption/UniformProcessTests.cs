using DiffusionLM.Analysis.Audit;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Corruption;

public class UniformProcessTests
{
    // 12 ids, 0 and 1 special: K = 10 ordinary tokens.
    static UniformProcess Make() => new(new LinearMaskSchedule(), vocabSize: 12, excluded: [0, 1]);

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(0.93)]
    [InlineData(1.0)]
    public void CorruptionMatchesTheClosedForm(double t)
    {
        var process = Make();
        using var g = new Generator(5);
        const int n = 200_000;
        const long clean = 5;
        using var x0 = full(new long[] { 1, n }, clean, dtype: ScalarType.Int64);
        using var times = tensor(new[] { t });
        var sample = process.Corrupt(x0, times, null, g);
        var noisy = sample.Noisy.data<long>().ToArray();

        void AssertShare(long token, double expected)
        {
            double share = noisy.Count(v => v == token) / (double)n;
            double sigma = Math.Sqrt(expected * (1 - expected) / n);
            Assert.InRange(share, expected - 5 * sigma - 1e-12, expected + 5 * sigma + 1e-12);
        }
        AssertShare(clean, process.StayProbability(t));
        Assert.Equal(process.Schedule.Alpha(t) + (1 - process.Schedule.Alpha(t)) / 10, process.Marginal(clean, clean, t), 12);
        AssertShare(9, process.Marginal(clean, 9, t));
        AssertShare(2, process.Marginal(clean, 2, t));
        // The redraw rate is 1 − α_t, the special tokens are never drawn.
        double redrawn = sample.Resampled.to_type(ScalarType.Float64).mean().item<double>();
        double pr = 1 - process.Schedule.Alpha(t), sr = Math.Sqrt(pr * (1 - pr) / n);
        Assert.InRange(redrawn, pr - 5 * sr - 1e-12, pr + 5 * sr + 1e-12);
        Assert.DoesNotContain(noisy, v => v is 0 or 1);
        Assert.Equal(0.0, process.Marginal(clean, 0, t));
    }

    [Theory]
    [InlineData(0.2)]
    [InlineData(0.8)]
    public void MarginalIsADistributionFromEveryToken(double t)
    {
        var process = Make();
        for (long i = 0; i < 12; i++)
            Assert.Equal(1.0, Enumerable.Range(0, 12).Sum(j => process.Marginal(i, j, t)), 12);
    }

    [Theory]
    [InlineData(0.3)]
    [InlineData(0.75)]
    [InlineData(1.0)]
    public void ChainAgreesWithTheClosedForm(double t)
    {
        using var g = new Generator(21);
        var r = ClosedFormCheck.Run(Make(), [2, 5, 5, 11, 7], t, samples: 20_000, chainSteps: 16, g);
        Assert.True(r.Passes(), $"p = {r.PValue} (χ² = {r.Statistic}, dof {r.DegreesOfFreedom})");
        Assert.True(r.DegreesOfFreedom >= 5 * 9, $"dof {r.DegreesOfFreedom}: every token of every position should have its own bin");
        double stay = Make().StayProbability(t), sigma = Math.Sqrt(stay * (1 - stay) / 100_000);
        Assert.InRange(r.ChainStayRate, stay - 5 * sigma, stay + 5 * sigma);
    }

    [Fact]
    public void ProtectedPositionsAreNeverCorrupted()
    {
        var process = Make();
        using var g = new Generator(3);
        using var x0 = full(new long[] { 64, 40 }, 4L, dtype: ScalarType.Int64);
        using var prot = (arange(40) % 3 == 0).unsqueeze(0).expand(64, 40);
        using var times = full(new long[] { 64 }, 1.0, dtype: ScalarType.Float64);
        var sample = process.Corrupt(x0, times, prot, g);
        Assert.True(sample.Noisy.masked_select(prot).eq(4).all().item<bool>());
        Assert.False(sample.Resampled.masked_select(prot).any().item<bool>());
        // The others are redrawn at t = 1, and most land elsewhere (9 in 10).
        double changed = sample.Noisy.masked_select(prot.logical_not()).ne(4).to_type(ScalarType.Float64).mean().item<double>();
        Assert.InRange(changed, 0.8, 0.97);
        var chained = process.SimulateChain(x0, [0.4, 0.9, 1.0], prot, g);
        Assert.True(chained.masked_select(prot).eq(4).all().item<bool>());
        Assert.True(chained.masked_select(prot.logical_not()).ne(4).any().item<bool>());
    }

    [Fact]
    public void SameSeedGivesTheSameOutput()
    {
        var process = Make();
        using var x0 = randint(2, 12, new long[] { 8, 32 }, generator: new Generator(1));
        using var times = tensor(new[] { 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8 });
        long[] Draw(ulong seed) { using var g = new Generator(seed); return process.Corrupt(x0, times, null, g).Noisy.data<long>().ToArray(); }
        long[] Chain(ulong seed) { using var g = new Generator(seed); return process.SimulateChain(x0, [0.25, 0.5, 0.75], g).data<long>().ToArray(); }
        Assert.Equal(Draw(9), Draw(9));
        Assert.NotEqual(Draw(9), Draw(10));
        Assert.Equal(Chain(9), Chain(9));
        Assert.NotEqual(Chain(9), Chain(10));
    }

    [Fact]
    public void ForModelLeavesOutMaskBosAndPadButKeepsEos()
    {
        var baseConfig = new ModelConfig { VocabSize = 10, MaskTokenId = 9, BosTokenId = 0, EosTokenId = 1, PadTokenId = 2 };
        var p = UniformProcess.ForModel(baseConfig, new LinearMaskSchedule());
        Assert.Equal(new long[] { 1, 3, 4, 5, 6, 7, 8 }, p.Tokens);
        // Pad that is eos stays: eos is content.
        var q = UniformProcess.ForModel(baseConfig with { PadTokenId = 1 }, new LinearMaskSchedule());
        Assert.Equal(new long[] { 1, 2, 3, 4, 5, 6, 7, 8 }, q.Tokens);
    }

    [Fact]
    public void BadInputIsRefused()
    {
        var process = Make();
        using var g = new Generator(1);
        using var x0 = zeros(1, 4, dtype: ScalarType.Int64);
        Assert.Throws<DlmException>(() => process.SimulateChain(x0, [0.5, 0.4], g));
        Assert.Throws<DlmException>(() => process.SimulateChain(x0, [0.5, 1.2], g));
        Assert.Throws<DlmException>(() => new UniformProcess(new LinearMaskSchedule(), 2, [0, 1]));
    }
}
