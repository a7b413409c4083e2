using DiffusionLM.Analysis.Audit;
using DiffusionLM.Corruption;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Analysis.Audit;

/// <summary>The audit's D1 path measure on the gaussian channel, against the discrete families' jumps.</summary>
public class GaussianAuditTests
{
    static Tensor Table(int v, int d, ulong seed)
    {
        using var g = new Generator(seed);
        var e = randn(new long[] { v, d }, generator: g);
        return (e / e.norm(1, keepdim: true) * Math.Sqrt(d)).detach();
    }

    static double[] Grid(int steps) => Enumerable.Range(1, steps).Select(k => k / (double)steps).ToArray();

    [Fact]
    public void AGaussianTokensLargestStepShrinksWithTheGrid()
    {
        using var scope = NewDisposeScope();
        // The configuration dlm train gives a gaussian model: D = 64 normalised embeddings, σ from 1 to 100.
        double[] unigram = Enumerable.Repeat(1 / 64.0, 64).ToArray();
        var process = new GaussianProcess(new GaussianSchedule());
        var table = Table(64, 64, 5);
        using var g = new Generator(7);
        var coarse = TokenPath.MeasureGaussian(process, table, unigram, Grid(20), 2000, g);
        var fine = TokenPath.MeasureGaussian(process, table, unigram, Grid(80), 2000, g);
        Assert.InRange(coarse.MeanLargestStepShare, 0.05, 0.9);
        // Continuous: a quarter of the step size loses clearly less in its largest step (about ½ where the noise of the
        // path dominates, √dt, and ¼ where its drift does); a jump would lose the same.
        Assert.True(fine.MeanLargestStepShare < 0.75 * coarse.MeanLargestStepShare, $"coarse {coarse.MeanLargestStepShare}, fine {fine.MeanLargestStepShare}");
    }

    [Fact]
    public void AMaskedTokensLargestStepDoesNotShrinkWithTheGrid()
    {
        double[] unigram = Enumerable.Repeat(1 / 16.0, 16).Append(0.0).ToArray();
        var model = TokenPath.For(new MaskedProcess(new LinearMaskSchedule(), maskId: 16))!;
        using var g = new Generator(7);
        var coarse = TokenPath.Measure(model, unigram, Grid(20), 2000, g);
        var fine = TokenPath.Measure(model, unigram, Grid(80), 2000, g);
        Assert.Equal(coarse.MeanLargestStepShare, fine.MeanLargestStepShare, 12);
    }

    [Fact]
    public void GaussianPathStartsFromTheTokensWholeInformation()
    {
        using var scope = NewDisposeScope();
        // Embeddings far apart and a tiny noise at the only time: nothing is lost, so the largest step is ~0.
        double[] unigram = [0.5, 0.5];
        var table = tensor(new float[] { 10, 0, -10, 0 }).view(2, 2);
        var process = new GaussianProcess(new GaussianSchedule(SigmaMin: 0.01, SigmaMax: 0.02));
        using var g = new Generator(1);
        var r = TokenPath.MeasureGaussian(process, table, unigram, [0.5], 500, g);
        Assert.Equal(500, r.Tokens);
        Assert.True(r.MeanLargestStepShare < 1e-6, $"{r.MeanLargestStepShare}");
        Assert.Throws<DlmException>(() => TokenPath.MeasureGaussian(process, table, [1.0], [0.5], 10, g));
    }
}
