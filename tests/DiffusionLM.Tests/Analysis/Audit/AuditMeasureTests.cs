using DiffusionLM.Analysis.Audit;
using DiffusionLM.Corruption;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Analysis.Audit;

/// <summary>The audit's measures on hand-made inputs whose answers are known.</summary>
public class AuditMeasureTests
{
    const long Mask = 9;

    [Fact]
    public void MaskedSamplingNeverRevisesAndItsStatesAreNotValidSequences()
    {
        var t = new RefinementTracker(rows: 1, genLength: 3, maskId: Mask);
        t.Observe([Mask, Mask, Mask], continuous: false);   // the prior
        t.Observe([4, Mask, Mask], continuous: false);
        t.Observe([4, Mask, 6], continuous: false);
        t.Finish([4, 5, 6]);
        var s = t.Stats();
        Assert.Equal(0, s.Revisions);
        Assert.Equal(0, s.RevisionsPerPosition);
        Assert.Equal(3, s.Observations);
        Assert.Equal(1.0, s.DiscreteShare);
        Assert.Equal(0.0, s.ValidShare);
        Assert.Equal((0 + 1 + 2) / 9.0, s.RealTokenShare, 12);
    }

    [Fact]
    public void ChangesAfterTheFirstProposalAreRevisionsButThePriorIsNotAProposal()
    {
        var t = new RefinementTracker(rows: 2, genLength: 2, maskId: Mask);
        t.Observe([1, 2, 3, 4], continuous: false);   // uniform noise: every later change from it is not a revision
        t.Observe([5, 2, 3, 7], continuous: false);   // first proposals
        t.Observe([6, 2, 3, 8], continuous: false);   // positions 0 and 3 revised
        t.Finish([5, 2, 3, 8]);                       // position 0 revised again
        var s = t.Stats();
        Assert.Equal(3, s.Revisions);
        Assert.Equal(2, s.RevisedPositions);
        Assert.Equal(3 / 4.0, s.RevisionsPerPosition, 12);
        Assert.Equal(0.5, s.RevisedShare, 12);
        Assert.Equal(1.0, s.ValidShare);
    }

    [Fact]
    public void RemaskingIsNotARevisionButADifferentTokenAfterItIs()
    {
        var t = new RefinementTracker(rows: 1, genLength: 1, maskId: Mask);
        t.Observe([Mask], continuous: false);
        t.Observe([3], continuous: false);
        t.Observe([Mask], continuous: false);   // ReMDM remasked it
        t.Observe([3], continuous: false);      // the same token again: no revision
        t.Observe([Mask], continuous: false);
        t.Finish([4]);                          // another token: one revision
        Assert.Equal(1, t.Stats().Revisions);
    }

    [Fact]
    public void ContinuousStatesAreNeitherDiscreteNorValid()
    {
        var t = new RefinementTracker(rows: 1, genLength: 2, maskId: Mask);
        t.Observe([1, 2], continuous: true);
        t.Observe([1, 3], continuous: true);
        t.Observe([1, 3], continuous: false);
        t.Finish([1, 3]);
        var s = t.Stats();
        Assert.Equal(1 / 3.0, s.DiscreteShare, 12);
        Assert.Equal(1 / 3.0, s.ValidShare, 12);
        Assert.Equal(0, s.Revisions);   // 1,2 is the prior; 1,3 is the first proposal
        Assert.Throws<ArgumentException>(() => t.Observe([1, 2, 3], continuous: false));
    }

    [Fact]
    public void LargestJumpIsTheLargestAdjacentChange()
    {
        Assert.Equal(0.5, InformationCurve.LargestJump([1.0, 0.9, 0.4, 0.35, 0.0]), 12);
        Assert.Equal(0.3, InformationCurve.LargestJump([0.0, 0.3, 0.3]), 12);
        Assert.Equal(0.0, InformationCurve.LargestJump([0.7]));
    }

    [Fact]
    public void TimesSpanTheIntervalPulledInByEpsilon()
    {
        var times = InformationCurve.Times(21);
        Assert.Equal(21, times.Length);
        Assert.Equal(1e-3, times[0]);
        Assert.Equal(0.5, times[10], 12);
        Assert.Equal(1 - 1e-3, times[20]);
        Assert.Throws<DlmException>(() => InformationCurve.Times(1));
    }

    [Fact]
    public void SpreadAcrossPositionsSkipsPositionsWithoutAValue()
    {
        var s = PositionSpread.Of([0.2, double.NaN, 0.6, 0.4]);
        Assert.Equal(0.2, s.Min);
        Assert.Equal(0.6, s.Max);
        Assert.Equal(0.4, s.Mean, 12);
        Assert.Equal(Math.Sqrt((0.04 + 0.04 + 0) / 3), s.Std, 12);
        Assert.Equal(0, s.ArgMin);
        Assert.Equal(2, s.ArgMax);
    }

    [Fact]
    public void HeterogeneityTestSeparatesChanceFromRealDifferences()
    {
        // Three positions, four windows each; equal position means: no evidence of a difference.
        var same = InformationCurve.Heterogeneity([[1, 0, 1], [0, 1, 0], [1, 1, 1], [0, 0, 0]]);
        Assert.Equal(0, same.Statistic, 12);
        Assert.Equal(1.0, same.PValue, 12);
        // Position means 0.9, 0.1, 0.5 with within-position spread ±0.1: between SS = 4·(0.16 + 0.16 + 0) = 1.28 on 2 dof,
        // within SS = 12 · 0.01 = 0.12 on 9 dof, F = 0.64 / (0.12 / 9) = 48, statistic (k − 1)·F = 96.
        var different = InformationCurve.Heterogeneity([[1.0, 0.2, 0.6], [0.8, 0.0, 0.4], [1.0, 0.2, 0.6], [0.8, 0.0, 0.4]]);
        Assert.Equal(2, different.DegreesOfFreedom);
        Assert.Equal(96, different.Statistic, 9);
        Assert.True(different.PValue < 1e-15);
        // Missing values (a position no draw corrupted in a window) are left out, not counted as zeros.
        var gaps = InformationCurve.Heterogeneity([[1.0, double.NaN], [0.0, 0.0], [1.0, 1.0], [0.0, 1.0]]);
        Assert.Equal(1, gaps.DegreesOfFreedom);
        Assert.True(gaps.PValue > 0.5);
    }

    [Fact]
    public void WithinWindowSpreadAveragesEachWindowsStandardDeviation()
    {
        var (std, min, max) = InformationCurve.WithinWindow([[-1, -3, double.NaN], [-2, -2, -2]]);
        Assert.Equal((1.0 + 0.0) / 2, std, 12);
        Assert.Equal((-3 + -2) / 2.0, min, 12);
        Assert.Equal((-1 + -2) / 2.0, max, 12);
    }

    [Fact]
    public void MaskedAnalyticCurveIsAlphaTimesTheEntropy()
    {
        double[] unigram = [0.5, 0.25, 0.125, 0.125];
        double h = 0.5 * Math.Log(2) + 0.25 * Math.Log(4) + 2 * 0.125 * Math.Log(8);
        Assert.Equal(h, MaskedProcess.Entropy(unigram), 12);
        using var g = new Generator(1);
        var times = InformationCurve.Times(11);
        var linear = InformationCurve.Analytic(new MaskedProcess(new LinearMaskSchedule(), maskId: 7), times, unigram, g);
        for (int k = 0; k < times.Length; k++) Assert.Equal((1 - times[k]) * h, linear[k], 12);
        var loglinear = InformationCurve.Analytic(new MaskedProcess(new LogLinearMaskSchedule(), maskId: 7), [0.5], unigram, g);
        Assert.Equal((1 - 0.999 * 0.5) * h, loglinear[0], 12);
    }

    [Fact]
    public void ScoreCountsUntouchedPositionsAsKnown()
    {
        using var scope = NewDisposeScope();
        // One row, three positions, vocabulary 2. Position 0 untouched; 1 right (argmax 1); 2 wrong (argmax 0).
        var logits = tensor(new float[] { 0, 0, 0, 2, 3, 0 }).view(1, 3, 2);
        var x0 = tensor(new long[] { 1, 1, 1 }).view(1, 3);
        var touched = tensor(new[] { false, true, true }).view(1, 3);
        var (acc, logp, t) = InformationCurve.Score(logits, x0, touched);
        Assert.Equal([1.0, 1.0, 0.0], acc);
        Assert.Equal(0.0, logp[0]);
        Assert.Equal(-Math.Log(1 + Math.Exp(-2)), logp[1], 5);
        Assert.Equal(-Math.Log(1 + Math.Exp(3)), logp[2], 5);
        Assert.Equal([false, true, true], t);
    }

    [Fact]
    public void AMaskedTokenLosesAllItsInformationInOneStep()
    {
        double[] unigram = [0.1, 0.2, 0.3, 0.4, 0.0];
        var model = TokenPath.For(new MaskedProcess(new LinearMaskSchedule(), maskId: 4))!;
        using var g = new Generator(3);
        var times = Enumerable.Range(1, 20).Select(k => k / 20.0).ToArray();
        var r = TokenPath.Measure(model, unigram, times, 500, g);
        // Linear masking reaches α = 0 at t = 1: every token is erased, each in one step.
        Assert.Equal(1.0, r.MeanLargestStepShare, 12);
        Assert.Equal(1.0, r.ShareOverHalf);
        Assert.Equal(500, r.Tokens);
    }

    [Fact]
    public void AUniformRedrawLeavesATokenMisleading()
    {
        double[] unigram = Enumerable.Range(0, 12).Select(i => i < 2 ? 0.0 : 0.1).ToArray();
        var model = TokenPath.For(new UniformProcess(new LinearMaskSchedule(), vocabSize: 12, excluded: [0, 1]))!;
        using var g = new Generator(3);
        var r = TokenPath.Measure(model, unigram, Enumerable.Range(1, 20).Select(k => k / 20.0).ToArray(), 2000, g);
        // The step that redraws a token to another one takes it from positive to negative pointwise information.
        Assert.True(r.MeanLargestStepShare > 0.9, $"mean largest step {r.MeanLargestStepShare}");
    }

    [Fact]
    public void ASmoothPathHasSmallSteps()
    {
        double[] unigram = [0.25, 0.25, 0.25, 0.25];
        using var g = new Generator(3);
        var r = TokenPath.Measure(new LinearDecay(), unigram, Enumerable.Range(1, 20).Select(k => k / 20.0).ToArray(), 100, g);
        Assert.Equal(1 / 20.0, r.MeanLargestStepShare, 9);
        Assert.Equal(0.0, r.ShareOverHalf);
    }

    /// <summary>A token whose information falls linearly with t: the smooth corruption D1 asks for.</summary>
    sealed class LinearDecay : ITokenPathModel
    {
        public int Replacements => 0;
        public long Step(long x, double s, double t, double u, long replacementIndex) => x;
        public double Pointwise(long x0, long xt, double t, double[] unigram) => (1 - t) * -Math.Log(unigram[x0]);
    }
}
