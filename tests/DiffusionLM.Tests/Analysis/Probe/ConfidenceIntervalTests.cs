using Xunit;
using DiffusionLM.Analysis.Probe;

namespace DiffusionLM.Tests.Analysis.Probe;

public class ConfidenceIntervalTests
{
    [Theory]
    // Two-sided 95% critical values of Student's t (standard tables).
    [InlineData(1, 12.7062)]
    [InlineData(2, 4.3027)]
    [InlineData(5, 2.5706)]
    [InlineData(10, 2.2281)]
    [InlineData(30, 2.0423)]
    [InlineData(99, 1.9842)]
    public void StudentTQuantileMatchesTables(int dof, double expected)
        => Assert.Equal(expected, ConfidenceInterval.StudentTQuantile(0.975, dof), 4);

    [Fact]
    public void StudentTCdfIsSymmetricAndHalfAtZero()
    {
        Assert.Equal(0.5, ConfidenceInterval.StudentTCdf(0, 7), 12);
        Assert.Equal(1, ConfidenceInterval.StudentTCdf(1.3, 7) + ConfidenceInterval.StudentTCdf(-1.3, 7), 12);
        // dof 1 is the Cauchy distribution: F(t) = 1/2 + atan(t)/π.
        Assert.Equal(0.5 + Math.Atan(2.0) / Math.PI, ConfidenceInterval.StudentTCdf(2.0, 1), 10);
    }

    [Fact]
    public void MeanIntervalOfHandData()
    {
        // mean 3, s = √2.5, se = √0.5, t(0.975, 4) = 2.776445
        var ci = ConfidenceInterval.Mean([1, 2, 3, 4, 5]);
        double half = 2.7764451 * Math.Sqrt(0.5);
        Assert.Equal(3, ci.Mean, 12);
        Assert.Equal(3 - half, ci.Low!.Value, 5);
        Assert.Equal(3 + half, ci.High!.Value, 5);
        Assert.Equal(5, ci.N);
    }

    [Fact]
    public void MeanSkipsUndefinedValuesAndNeedsTwoForAnInterval()
    {
        var ci = ConfidenceInterval.Mean([2, double.NaN, 4]);
        Assert.Equal(3, ci.Mean, 12);
        Assert.Equal(2, ci.N);
        Assert.Equal(3 - 12.7062 * 1, ci.Low!.Value, 3); // s = √2, se = 1
        var one = ConfidenceInterval.Mean([5.0]);
        Assert.Equal(5, one.Mean);
        Assert.Null(one.Low);
        Assert.Null(one.High);
        Assert.True(double.IsNaN(ConfidenceInterval.Mean([double.NaN]).Mean));
    }

    [Fact]
    public void WilsonIntervalOfShares()
    {
        // 5 of 10: centre 0.5, half = 1.96·√(0.025 + 0.0096)/1.384 → [0.2366, 0.7634].
        var half = ConfidenceInterval.Share(Enumerable.Range(0, 10).Select(i => i < 5));
        Assert.Equal(0.5, half.Mean, 12);
        Assert.Equal(0.2366, half.Low!.Value, 4);
        Assert.Equal(0.7634, half.High!.Value, 4);
        // 10 of 10 is not a degenerate [1, 1]: the lower end is n / (n + z²) = 0.7225.
        var all = ConfidenceInterval.Share(Enumerable.Repeat(true, 10));
        Assert.Equal(1, all.Mean);
        Assert.Equal(10 / (10 + 1.959964 * 1.959964), all.Low!.Value, 5);
        Assert.Equal(1, all.High!.Value, 12);
    }
}
