using DiffusionLM.Models;
using DiffusionLM.Analysis.Audit;
using DiffusionLM.Analysis.Trap;
using DiffusionLM.Corruption;
using Xunit;

namespace DiffusionLM.Tests.Analysis.Audit;

/// <summary>L2 for every family: TrapModel trains a model of the family, the family's default sampler draws from it.</summary>
[Collection("TorchGlobalState")]
public class TrapAuditTests
{
    [Theory]
    [InlineData("masked", "llada")]
    [InlineData("uniform", "uniform_ancestral")]
    [InlineData("gaussian", "gaussian_ddpm")]
    public void ATrapModelOfEachFamilyIsTrainedAndSampled(string process, string sampler)
    {
        var losses = new List<double>();
        var r = TrapAudit.Run(TrapLanguages.Paper(), new TrapTrainingOptions(Sentences: 200, Steps: 12, BatchSize: 16, Seed: 1) { Process = DiffusionProcess.Parse(process) },
            samples: 30, seed: 2, (step, loss) => losses.Add(loss));
        Assert.Equal(process, r.Process);
        Assert.Equal(sampler, r.Sampler);
        Assert.Equal(12, losses.Count);
        Assert.All(losses, l => Assert.True(double.IsFinite(l)));
        // As many steps as words (3), two, one: tokens per step 1, 1.5, 3.
        Assert.Equal([3, 2, 1], r.Points.Select(p => p.Steps));
        Assert.Equal([1.0, 1.5, 3.0], r.Points.Select(p => p.TokensPerStep));
        Assert.All(r.Points, p => Assert.Equal(30, p.Samples));
        // The count and the example agree: an example is given exactly when some sample was invalid, and it is not a sentence of the language.
        Assert.All(r.Points, p =>
        {
            Assert.InRange(p.Invalid, 0, p.Samples);
            Assert.Equal(p.Invalid > 0, p.ExampleInvalid.Length > 0);
            if (p.Invalid > 0) Assert.False(TrapLanguages.Paper().IsValid(p.ExampleInvalid), p.ExampleInvalid);
        });
    }

    [Fact]
    public void TheSameSeedGivesTheSameTrapRates()
    {
        var o = new TrapTrainingOptions(Sentences: 200, Steps: 8, BatchSize: 16, Seed: 3) { Process = DiffusionProcess.Uniform };
        var a = TrapAudit.Run(TrapLanguages.Paper(), o, samples: 40, seed: 5);
        var b = TrapAudit.Run(TrapLanguages.Paper(), o, samples: 40, seed: 5);
        Assert.Equal(a.Points.Select(p => p.Invalid), b.Points.Select(p => p.Invalid));
        Assert.Equal(a.FinalLoss, b.FinalLoss);
    }
}
