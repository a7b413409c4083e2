using DiffusionLM.Analysis.Trap;
using DiffusionLM.Sampling;
using TorchSharp;
using Xunit;

namespace DiffusionLM.Tests.Analysis;

/// <summary>
/// dependency_aware on a denoiser that knows the coupled language's exact conditionals, where the dependence is
/// known: given nothing, every position depends on every other (the template); given a word, the two members
/// of each pair depend on each other and the free positions on nothing.
/// </summary>
public class DependencyAwareOracleTests
{
    // K2-n6-p2-d3-m3-f2: pairs (0, 3) and (1, 4) among 3 modes, positions 2 and 5 free among 2 words.
    static readonly TrapLanguage Coupled = TrapLanguages.Coupled();
    const double Tau = 0.9;

    static (SamplerResult Result, OracleDenoiser Oracle) Run(DependencyAwareOptions o, int rows, ulong seed)
    {
        var oracle = new OracleDenoiser(Coupled);
        var prompts = Enumerable.Range(0, rows).Select(_ => new long[] { oracle.Bos }).ToArray();
        return (new DependencyAwareSampler(o).Generate(oracle, prompts, new torch.Generator(seed)), oracle);
    }

    static DependencyAwareOptions Options(int anchors = 0) =>
        new(GenLength: Coupled.Length, BlockLength: Coupled.Length, Temperature: 1.0, Threshold: Tau, AnchorsPerStep: anchors);

    static int Pair(int promptPos) => (promptPos - 1) switch { 0 or 3 => 0, 1 or 4 => 1, _ => -1 };

    [Fact]
    public void NeverDrawsDependentPositionsSideBySide()
    {
        var (r, _) = Run(Options(), 48, 11);
        foreach (var step in r.Trace)
            foreach (var row in step.Commits.GroupBy(c => c.Row))
            {
                // The uncertain draws of a step (probability below τ: not determined by anything committed with them).
                var drawn = row.Where(c => c.Confidence < Tau).Select(c => c.Position).ToList();
                if (step.Index == 0)
                {
                    // Given nothing every pair of positions is dependent through the template: one draw, nothing determined.
                    Assert.Single(row);
                    continue;
                }
                // Given the template, the two members of a pair are dependent: never both drawn in one step.
                Assert.All(drawn.Where(p => Pair(p) >= 0).GroupBy(Pair), g => Assert.Single(g));
            }
        Assert.All(r.Completions, c => Assert.True(Coupled.IsValid(c.Select(t => (int)t).ToArray()), Coupled.Text(c.Select(t => (int)t).ToArray())));
    }

    [Fact]
    public void DrawsTheIndependentPositionsOfTheSecondCallTogetherAndFinishesInTwoCalls()
    {
        var (r, _) = Run(Options(), 32, 5);
        Assert.Equal(2, r.Nfe);
        Assert.Equal(2, r.Trace.Count);
        // After the first word: one member of each pair and each free position left are drawn, the partners follow.
        foreach (var row in r.Trace[1].Commits.GroupBy(c => c.Row))
            Assert.Equal(Coupled.Length - 1, row.Count());
        Assert.All(r.Completions, c => Assert.True(Coupled.IsValid(c.Select(t => (int)t).ToArray())));
    }

    [Fact]
    public void OneAnchorPerStepDrawsOneUncertainPositionPerStep()
    {
        var (r, _) = Run(Options(anchors: 1), 16, 7);
        foreach (var step in r.Trace)
            foreach (var row in step.Commits.GroupBy(c => c.Row))
                Assert.True(row.Count(c => c.Confidence < Tau) <= 1, $"step {step.Index} drew {row.Count(c => c.Confidence < Tau)} uncertain positions");
        Assert.True(r.Nfe > 2, $"one anchor per step finished in {r.Nfe} calls");
        Assert.All(r.Completions, c => Assert.True(Coupled.IsValid(c.Select(t => (int)t).ToArray())));
    }

    [Fact]
    public void WithoutProbesItIsFastDllmsThresholdRule()
    {
        var oracle = new OracleDenoiser(Coupled);
        var prompts = Enumerable.Range(0, 8).Select(_ => new long[] { oracle.Bos }).ToArray();
        var dep = new DependencyAwareSampler(Options() with { Candidates = 0 }).Generate(oracle, prompts, new torch.Generator(3));
        var fast = new FastDllmSampler(new FastDllmOptions(Coupled.Length, Coupled.Length, 1.0, Threshold: Tau)).Generate(oracle, prompts, new torch.Generator(3));
        Assert.Equal(fast.Nfe, dep.Nfe);
        for (int i = 0; i < prompts.Length; i++) Assert.Equal(fast.Ids[i], dep.Ids[i]);
    }
}
