using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Tests.Corruption;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Sampling;

public class GaussianSamplerTests(ITestOutputHelper output)
{
    static readonly long[][] Prompts = [[1, 2, 1], [2, 2]];

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ValidIdsPromptKeptDeterministicAndOneCallPerStep(bool ddim)
    {
        var oracle = new GaussianOracle();
        var sampler = new GaussianSampler(new GaussianSamplerOptions(GenLength: 6, Steps: 10, Ddim: ddim));
        SamplerResult Run(ulong seed) { using var g = new Generator(seed); return sampler.Generate(oracle, Prompts, g); }
        var a = Run(1);
        Assert.Equal(10, a.Nfe);
        Assert.Equal(10, oracle.Calls);
        Assert.Equal(10, a.Trace.Count);
        Assert.Equal(3, a.PromptLength);
        Assert.Equal([1L, 2, 1], a.Ids[0][..3]);
        Assert.Equal([2L, 2], a.Ids[1][1..3]);
        Assert.All(a.Completions.SelectMany(r => r), id => Assert.InRange(id, 0, GaussianOracle.V - 1));
        // The first step proposes every completion position.
        Assert.Equal(2 * 6, a.Trace[0].Commits.Count);
        Assert.All(a.Trace.SelectMany(s => s.Commits), c => Assert.True(c.Position >= 3));
        Assert.Equal(a.Ids, Run(1).Ids);
        Assert.NotEqual(a.Ids, Run(2).Ids);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void WithTheBayesOptimalDenoiserTokensFollowTheirDistribution(bool ddim)
    {
        // Tokens are i.i.d. from p, so exact denoising must produce p at every position (up to discretisation).
        var oracle = new GaussianOracle();
        var sampler = new GaussianSampler(new GaussianSamplerOptions(GenLength: 16, Steps: 40, Ddim: ddim));
        using var g = new Generator(5);
        var ids = sampler.Generate(oracle, Enumerable.Repeat(new long[] { 1 }, 256).ToArray(), g).Completions.SelectMany(r => r).ToArray();
        var freq = Enumerable.Range(0, GaussianOracle.V).Select(v => ids.Count(i => i == v) / (double)ids.Length).ToArray();
        double tv = 0.5 * freq.Zip(GaussianOracle.P).Sum(f => Math.Abs(f.First - f.Second));
        output.WriteLine($"{(ddim ? "DDIM" : "DDPM")}: frequencies {string.Join(", ", freq.Select(f => f.ToString("F3")))} against {string.Join(", ", GaussianOracle.P)}; TV {tv:F3}");
        // 4096 tokens: sampling noise alone gives TV ≈ 0.01.
        Assert.True(tv < 0.04, $"total variation {tv} from p");
    }

    [Fact]
    public void ClampChangesNothingWhenTheEstimateIsAlreadyAnEmbedding()
    {
        // A very sharp oracle's softmax is one-hot, so x̂_0 is already a row of E and snapping it is the identity.
        var sharp = new GaussianOracle { Sharpness = 1e4f };
        SamplerResult Run(bool clamp) { using var g = new Generator(3); return new GaussianSampler(new(GenLength: 8, Steps: 12, Clamp: clamp)).Generate(sharp, Prompts, g); }
        Assert.Equal(Run(false).Ids, Run(true).Ids);
        // With the exact (soft) posterior, clamping does move the trajectory.
        var soft = new GaussianOracle();
        float[] Final(bool clamp)
        {
            float[] last = [];
            using var g = new Generator(3);
            var s = new GaussianSampler(new(GenLength: 8, Steps: 12, Clamp: clamp)) { Observer = o => last = o.Continuous!.data<float>().ToArray() };
            s.Generate(soft, Prompts, g);
            return last;
        }
        Assert.NotEqual(Final(false), Final(true));
    }

    [Fact]
    public void ObserverSeesTheContinuousStateAndItsRounding()
    {
        var oracle = new GaussianOracle();
        var seen = new List<(long[] State, long[] Shape)>();
        var sampler = new GaussianSampler(new(GenLength: 5, Steps: 6)) { Observer = o => seen.Add((o.State.data<long>().ToArray(), o.Continuous!.shape)) };
        using var g = new Generator(1);
        var r = sampler.Generate(oracle, Prompts, g);
        Assert.Equal(6, seen.Count);
        Assert.All(seen, s => Assert.Equal(new long[] { 2, 8, GaussianOracle.D }, s.Shape));
        Assert.All(seen, s => Assert.Equal([1L, 2, 1], s.State[..3]));
        Assert.All(seen.SelectMany(s => s.State), id => Assert.InRange(id, 0, GaussianOracle.V - 1));
        // Observing changes nothing.
        using var g2 = new Generator(1);
        Assert.Equal(r.Ids, new GaussianSampler(new(GenLength: 5, Steps: 6)).Generate(oracle, Prompts, g2).Ids);
    }

    [Fact]
    public void RegistryDefaultsAndRefusesADiscreteModel()
    {
        Assert.Equal("gaussian_ddpm", SamplerRegistry.DefaultFor(DiffusionProcess.Gaussian));
        var s = (GaussianSampler)SamplerRegistry.Create("gaussian_ddim", new SamplerSettings(GenLength: 4, Steps: 3) { Clamp = true });
        Assert.True(s.Options.Ddim && s.Options.Clamp);
        Assert.Equal(1.0, s.Options.Temperature); // the CLI's greedy 0 means plain score interpolation
        Assert.Throws<DlmException>(() => SamplerRegistry.CheckFamily("gaussian_ddpm", "masked"));
        using var g = new Generator(1);
        var e = Assert.Throws<DlmException>(() => s.Generate(new FakeDenoiser(), [[1L, 2]], g));
        Assert.Contains("gaussian", e.Message);
    }
}
