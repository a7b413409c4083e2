using DiffusionLM.Analysis.Quality;
using Xunit;

namespace DiffusionLM.Tests.Analysis;

/// <summary>The held-out ELBO's standard error in `dlm bench quality` (it printed ± 0 when each story had one Monte-Carlo batch).</summary>
public class QualityIntervalTests
{
    [Fact]
    public void TheRatioStandardErrorIsTheHandComputedOne()
    {
        // Three stories: nll 10, 30, 20 over 5, 10, 10 tokens. R = 60/25 = 2.4; residuals 10−12 = −2, 30−24 = 6, 20−24 = −4;
        // Σ r² = 4 + 36 + 16 = 56; × n/(n−1) = 84; sqrt(84)/25 = 0.366606...
        double se = Intervals.RatioStandardError([10, 30, 20], [5, 10, 10]);
        Assert.Equal(Math.Sqrt(84) / 25, se, 12);
        // Stories in the same ratio have no spread: the error is 0, not a made-up figure.
        Assert.Equal(0, Intervals.RatioStandardError([10, 20], [5, 10]), 12);
        // One story has no standard error at all.
        Assert.True(double.IsNaN(Intervals.RatioStandardError([10], [5])));
        // Mutation check: a standard error of per-story means (ignoring the token weights) is a different number.
        double unweighted = Intervals.Mean([2.0, 3.0, 2.0]) is var m ? (m.high - m.low) / 3.92 : double.NaN;
        Assert.NotEqual(unweighted, se, 3);
    }
}
