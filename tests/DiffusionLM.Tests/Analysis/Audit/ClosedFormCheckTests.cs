using DiffusionLM.Analysis.Audit;
using DiffusionLM.Corruption;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Analysis.Audit;

public class ClosedFormCheckTests
{
    static readonly long[] X0 = [2, 5, 5, 11, 7, 3];
    static UniformProcess Uniform() => new(new LinearMaskSchedule(), vocabSize: 12, excluded: [0, 1]);

    [Theory]
    [InlineData("linear", 0.2)]
    [InlineData("linear", 0.6)]
    [InlineData("loglinear", 0.5)]
    [InlineData("loglinear", 1.0)]
    public void MaskedProcessPasses(string schedule, double t)
    {
        using var g = new Generator(8);
        var r = ClosedFormCheck.Run(new MaskedProcess(MaskSchedule.FromName(schedule), maskId: 0), X0, t, 20_000, 12, g);
        Assert.True(r.Passes(), $"p = {r.PValue} (χ² = {r.Statistic}, dof {r.DegreesOfFreedom})");
        // Each position is the clean token or the mask: one degree of freedom each (none at t = 1 with linear masking).
        Assert.Equal(X0.Length, r.DegreesOfFreedom);
        Assert.Equal("masked", r.Process);
    }

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(0.9)]
    public void UniformProcessPasses(double t)
    {
        using var g = new Generator(8);
        var r = ClosedFormCheck.Run(Uniform(), X0, t, 20_000, 12, g);
        Assert.True(r.Passes(), $"p = {r.PValue} (χ² = {r.Statistic}, dof {r.DegreesOfFreedom})");
    }

    [Fact]
    public void AClosedFormWithTheWrongRateFails()
    {
        using var g = new Generator(8);
        var r = ClosedFormCheck.Run(new SquaredAlphaClosedForm(Uniform()), X0, 0.5, 20_000, 12, g);
        Assert.False(r.Passes(), $"p = {r.PValue}: α² instead of α should be caught");
        Assert.True(r.PValue < 1e-12);
    }

    [Fact]
    public void AClosedFormThatForgetsTheTokenMayRedrawItselfFails()
    {
        using var g = new Generator(8);
        var r = ClosedFormCheck.Run(new NeverItselfClosedForm(Uniform()), X0, 0.5, 20_000, 12, g);
        Assert.False(r.Passes(), $"p = {r.PValue}: the missing (1 − α)/K stay term should be caught");
        Assert.True(r.ClosedFormStayRate < r.ChainStayRate);
    }

    [Fact]
    public void AChainThatSubtractsAlphasFails()
    {
        // A masked chain with the wrong conditional (α_s − α_t instead of 1 − α_t/α_s) disagrees with the closed form.
        using var g = new Generator(8);
        var masked = new MaskedProcess(new LinearMaskSchedule(), maskId: 0);
        var r = ClosedFormCheck.Run(new SubtractingMaskedChain(masked), X0, 0.7, 20_000, 12, g);
        Assert.False(r.Passes(), $"p = {r.PValue}");
    }

    [Theory]
    [InlineData(3.841458820694124, 1, 0.05)]
    [InlineData(18.307038053275146, 10, 0.05)]
    [InlineData(0.7, 2, 0.7046880897187134)] // χ²(2): e^{−x/2}
    [InlineData(124.34211340400407, 100, 0.05)]
    [InlineData(0.0, 4, 1.0)]
    public void ChiSquareUpperTailMatchesTables(double x, double dof, double p)
        => Assert.Equal(p, ChiSquare.UpperTail(x, dof), 6);

    /// <summary>Deliberately wrong: the closed form keeps with α_t² (it corrupts at the time where α = α_t²).</summary>
    sealed class SquaredAlphaClosedForm(UniformProcess inner) : IForwardProcess
    {
        public string Name => "uniform-alpha-squared";
        public Tensor SampleMarginal(Tensor x0, double t, Generator g)
        {
            double a = inner.Schedule.Alpha(t);
            return inner.SampleMarginal(x0, 1 - a * a, g); // linear schedule: α(1 − α²) = α²
        }
        public Tensor SimulateChain(Tensor x0, double[] times, Generator g) => inner.SimulateChain(x0, times, g);
    }

    /// <summary>Deliberately wrong: a redrawn token is drawn from the other K − 1 tokens, never itself.</summary>
    sealed class NeverItselfClosedForm(UniformProcess inner) : IForwardProcess
    {
        public string Name => "uniform-never-itself";
        public Tensor SampleMarginal(Tensor x0, double t, Generator g)
        {
            var keep = (rand(x0.shape, dtype: ScalarType.Float64, generator: g) < inner.Schedule.Alpha(t)).data<bool>().ToArray();
            var idx = randint(0, inner.K - 1, x0.shape, generator: g).data<long>().ToArray();
            var x = x0.data<long>().ToArray();
            var outp = new long[x.Length];
            for (int i = 0; i < x.Length; i++)
            {
                if (keep[i]) { outp[i] = x[i]; continue; }
                var others = inner.Tokens.Where(v => v != x[i]).ToArray();
                outp[i] = others[idx[i]];
            }
            return tensor(outp, x0.shape, dtype: ScalarType.Int64);
        }
        public Tensor SimulateChain(Tensor x0, double[] times, Generator g) => inner.SimulateChain(x0, times, g);
    }

    /// <summary>Deliberately wrong chain: masks with probability α_s − α_t per step, as if the steps were unconditional.</summary>
    sealed class SubtractingMaskedChain(MaskedProcess inner) : IForwardProcess
    {
        public string Name => "masked-subtracting";
        public Tensor SampleMarginal(Tensor x0, double t, Generator g) => inner.SampleMarginal(x0, t, g);
        public Tensor SimulateChain(Tensor x0, double[] times, Generator g)
        {
            var x = x0.alias();
            double prev = 1.0;
            foreach (var t in times)
            {
                double a = inner.Schedule.Alpha(t);
                x = where(rand(x.shape, dtype: ScalarType.Float64, generator: g) < prev - a, full_like(x, inner.MaskId), x);
                prev = a;
            }
            return x;
        }
    }
}
