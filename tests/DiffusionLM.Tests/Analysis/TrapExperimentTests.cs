using DiffusionLM.Models;
using DiffusionLM.Analysis.Trap;
using DiffusionLM.Sampling;
using Xunit;

namespace DiffusionLM.Tests.Analysis;

/// <summary>The trap measured with a denoiser that knows the exact conditionals of the paper's language.</summary>
public class TrapExperimentTests
{
    static readonly TrapLanguage Paper = TrapLanguages.Paper();

    static TrapPoint Measure(string sampler, SamplerSettings s, int samples = 400)
    {
        var oracle = new OracleDenoiser(Paper);
        var words = Enumerable.Range(0, Paper.Words.Count).ToArray();
        return TrapExperiment.Measure(oracle, new TrapSetting(sampler, sampler, s), [oracle.Bos], words, Paper, samples, 17, batch: 200);
    }

    [Fact]
    public void ExactMarginalsPredictThreeQuartersInvalid()
    {
        var oracle = new OracleDenoiser(Paper);
        var p = TrapExperiment.Predict(oracle, [oracle.Bos], Enumerable.Range(0, 6).ToArray(), Paper);
        Assert.Equal(0.75, p.InvalidRate, 6);
        Assert.All(p.Marginals, row => Assert.Equal(2, row.Count(v => Math.Abs(v - 0.5) < 1e-6)));
    }

    [Fact]
    public void OneTokenPerStepNeverFallsIntoTheTrap()
    {
        var pt = Measure("low_confidence", new SamplerSettings(GenLength: 3, Steps: 3, Temperature: 1.0));
        Assert.Equal(0, pt.Invalid);
        Assert.Equal(1.0, pt.TokensPerStep, 9);
    }

    [Fact]
    public void AllTokensInOneStepMatchTheProductOfMarginals()
    {
        var pt = Measure("random", new SamplerSettings(GenLength: 3, Steps: 1, Temperature: 1.0), samples: 1000);
        Assert.Equal(3.0, pt.TokensPerStep, 9);
        // Binomial(1000, 0.75): 4σ ≈ 0.055.
        Assert.InRange(pt.TrapRate, 0.75 - 0.055, 0.75 + 0.055);
    }

    [Fact]
    public void DependencyAwareCommitsTheSentenceInOneCallAfterTheFirstWithoutTrap()
    {
        var fast = Measure("fast_dllm_threshold", new SamplerSettings(GenLength: 3, Temperature: 1.0) { Threshold = 0.9 });
        var dep = Measure("dependency_aware", new SamplerSettings(GenLength: 3, Temperature: 1.0) { Threshold = 0.9 });
        Assert.Equal(0, fast.Invalid);
        Assert.Equal(0, dep.Invalid);
        Assert.Equal(2.0, fast.CommittingSteps, 9);
        Assert.Equal(2.0, dep.CommittingSteps, 9);
    }

    /// <summary>
    /// The two samplers agree on the paper's language at τ = 0.9 (above), so that test alone cannot tell
    /// dependency_aware from its fallback, Fast-dLLM's threshold rule (Candidates 0). What tells them apart
    /// is that dependency_aware reaches the same result by probing: it evaluates more rows per sample
    /// than the one row per call of its fallback, which the same assertion rejects.
    /// </summary>
    [Fact]
    public void DependencyAwareProbesWhereItsFallbackDoesNot()
    {
        static void AssertProbes(TrapPoint p) => Assert.True(p.RowsPerSample > p.CommittingSteps, $"{p.Sampler}: {p.RowsPerSample} rows per sample, {p.CommittingSteps} steps");
        var s = new SamplerSettings(GenLength: 3, Temperature: 1.0) { Threshold = 0.9 };
        AssertProbes(Measure("dependency_aware", s));
        var fallback = Measure("dependency_aware", s with { Candidates = 0 });
        Assert.Equal(0, fallback.Invalid);
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertProbes(fallback));
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertProbes(Measure("fast_dllm_threshold", s)));
    }

    /// <summary>
    /// The sweep is the registry's: every masked sampler but the generic entries (each variant once), every setting runs
    /// (a short run of each on the exact denoiser), and a sample's committing steps never exceed the batch's forward calls.
    /// </summary>
    [Fact]
    public void TheQuickSweepCoversEveryMaskedSamplerOnceAndEverySettingRuns()
    {
        var sweep = TrapExperiment.Sweep(Paper.Length, quick: true);
        var expected = SamplerRegistry.OfFamily(DiffusionProcess.Masked.Spelling).Where(e => !e.Generic).Select(e => e.Name).ToHashSet();
        Assert.Equal(expected, sweep.Select(s => s.Sampler).ToHashSet());
        Assert.DoesNotContain(sweep, s => SamplerRegistry.Find(s.Sampler).Generic);
        foreach (var setting in sweep)
        {
            var pt = Measure(setting.Sampler, setting.Settings, samples: 8);
            Assert.InRange(pt.CommittingSteps, 1, pt.BatchNfe);
            Assert.StartsWith(SamplerRegistry.Find(setting.Sampler).Pace!.Flag.TrimStart('-') + "=", TrapExperiment.Describe(setting));
        }
    }
}
