using DiffusionLM.Analysis.Trap;
using DiffusionLM.Sampling;
using DiffusionLM.Tests.Analysis;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Sampling;

/// <summary>EB-Sampler: γ = 0 is one token per step; with the exact conditionals of a trap language the entropy bound holds at every step.</summary>
public class EntropyBoundSamplerTests
{
    static readonly TrapLanguage Coupled = TrapLanguages.Coupled();

    [Fact]
    public void GammaZeroCommitsOneTokenPerStep()
    {
        var model = new FakeDenoiser(3);
        var r = new EntropyBoundSampler(new EntropyBoundOptions(GenLength: 8, BlockLength: 4, Gamma: 0)).Generate(model, [[1L, 2, 3], [4, 5, 6]], new Generator(1));
        Assert.Equal(8, r.Nfe);
        Assert.All(r.Trace, s => Assert.All(s.Commits.GroupBy(c => c.Row), g => Assert.Single(g)));
    }

    [Fact]
    public void LargerBudgetCommitsMoreTokensPerStep()
    {
        var model = new FakeDenoiser(3);
        var r = new EntropyBoundSampler(new EntropyBoundOptions(GenLength: 8, BlockLength: 8, Gamma: 100)).Generate(model, [[1L, 2, 3]], new Generator(1));
        Assert.Equal(1, r.Nfe);
        Assert.Equal(8, r.Trace[0].Commits.Count);
    }

    /// <summary>Steps (of any row) where the committed positions' entropies sum, minus the largest, to more than γ.</summary>
    static int Violations(List<(IReadOnlyList<Commit> Commits, double[,] Entropy)> steps, double gamma)
    {
        int bad = 0;
        foreach (var (commits, h) in steps)
            foreach (var row in commits.GroupBy(c => c.Row))
            {
                var hs = row.Select(c => h[c.Row, c.Position]).ToList();
                if (hs.Sum() - hs.Max() > gamma + 1e-12) bad++;
            }
        return bad;
    }

    static double[,] Entropies(Tensor logits)
    {
        using var scope = NewDisposeScope();
        var logp = logits.to_type(ScalarType.Float64).log_softmax(-1);
        var h = (logp.exp() * logp).nan_to_num(0, 0, 0).sum(-1).neg();
        int b = (int)h.shape[0], l = (int)h.shape[1];
        var flat = h.data<double>().ToArray();
        var o = new double[b, l];
        for (int i = 0; i < b; i++) for (int j = 0; j < l; j++) o[i, j] = flat[i * l + j];
        return o;
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.3)]
    [InlineData(1.0)]
    public void WithExactConditionalsTheBoundHoldsAtEveryStepAndTheMutantBreaksIt(double gamma)
    {
        var oracle = new OracleDenoiser(Coupled);
        var steps = new List<(IReadOnlyList<Commit>, double[,])>();
        var firstLogits = new List<double[,]>();
        var sampler = new EntropyBoundSampler(new EntropyBoundOptions(GenLength: Coupled.Length, BlockLength: Coupled.Length, Temperature: 1.0, Gamma: gamma))
        {
            Observer = o => steps.Add((o.Commits, Entropies(o.Logits))),
        };
        var prompts = Enumerable.Range(0, 32).Select(_ => new long[] { oracle.Bos }).ToArray();
        var r = sampler.Generate(oracle, prompts, new Generator(4));
        Assert.Equal(0, Violations(steps, gamma));
        // Given nothing every position depends on every other through the template and none is certain: one per step.
        Assert.All(r.Trace[0].Commits.GroupBy(c => c.Row), g => Assert.Single(g));
        // The mutant that commits every masked position of the first step at once violates the bound.
        var (_, h0) = steps[0];
        var all = Enumerable.Range(0, prompts.Length).SelectMany(b => Enumerable.Range(1, Coupled.Length).Select(p => new Commit(b, p, 0, 0))).ToList();
        Assert.True(Violations([(all, h0)], gamma) > 0);
    }
}
