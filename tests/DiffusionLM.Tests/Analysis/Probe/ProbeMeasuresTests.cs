using Xunit;
using DiffusionLM.Analysis.Probe;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Analysis.Probe;

public class ProbeMeasuresTests
{
    static Tensor LogOf(params double[] p) => torch.tensor(p).log();

    [Fact]
    public void EntropyOfHandMadeDistributions()
    {
        using var scope = NewDisposeScope();
        Assert.Equal(Math.Log(4), ProbeMeasures.Entropy(LogOf(0.25, 0.25, 0.25, 0.25)).item<double>(), 12);
        Assert.Equal(0, ProbeMeasures.Entropy(LogOf(1, 0, 0, 0)).item<double>(), 12); // 0·log 0 = 0, not NaN
        double h = -(0.5 * Math.Log(0.5) + 0.3 * Math.Log(0.3) + 0.2 * Math.Log(0.2));
        Assert.Equal(h, ProbeMeasures.Entropy(LogOf(0.5, 0.3, 0.2)).item<double>(), 12);
        // From logits: softmax of (0, ln 3) is (1/4, 3/4).
        var fromLogits = ProbeMeasures.LogProbs(torch.tensor(new float[] { 0f, (float)Math.Log(3) }));
        Assert.Equal(-(0.25 * Math.Log(0.25) + 0.75 * Math.Log(0.75)), ProbeMeasures.Entropy(fromLogits).item<double>(), 6);
    }

    [Fact]
    public void KlOfHandMadeDistributions()
    {
        using var scope = NewDisposeScope();
        double expected = 0.5 * Math.Log(0.5 / 0.25) + 0.5 * Math.Log(0.5 / 0.75);
        Assert.Equal(expected, ProbeMeasures.Kl(LogOf(0.5, 0.5), LogOf(0.25, 0.75)).item<double>(), 12);
        Assert.Equal(0, ProbeMeasures.Kl(LogOf(0.1, 0.2, 0.7), LogOf(0.1, 0.2, 0.7)).item<double>(), 12);
        // Mass where q is small costs a lot; p = 0 where q > 0 costs nothing.
        Assert.Equal(Math.Log(1 / 0.001), ProbeMeasures.Kl(LogOf(1, 0), LogOf(0.001, 0.999)).item<double>(), 9);
        // Broadcasting: a [2, 2] block against one q.
        var rows = torch.stack([LogOf(0.5, 0.5), LogOf(0.25, 0.75)]);
        var kl = ProbeMeasures.Kl(rows, LogOf(0.25, 0.75)).data<double>().ToArray();
        Assert.Equal(expected, kl[0], 12);
        Assert.Equal(0, kl[1], 12);
    }

    [Fact]
    public void KlWithoutEosRenormalisesBothSides()
    {
        using var scope = NewDisposeScope();
        // Without id 0 both are (1/2, 1/2): no difference, whatever the eos masses.
        Assert.Equal(0, ProbeMeasures.KlWithout(LogOf(0.5, 0.25, 0.25), LogOf(0.1, 0.45, 0.45), 0).item<double>(), 12);
        // p' = (1, 0), q' = (1/2, 1/2): ln 2.
        Assert.Equal(Math.Log(2), ProbeMeasures.KlWithout(LogOf(0.2, 0.8, 0), LogOf(0.1, 0.45, 0.45), 0).item<double>(), 12);
        // All mass on eos: undefined.
        Assert.True(double.IsNaN(ProbeMeasures.KlWithout(LogOf(1, 0, 0), LogOf(0.1, 0.45, 0.45), 0).item<double>()));
    }
}
