using DiffusionLM.Sampling;
using TorchSharp;
using Xunit;

namespace DiffusionLM.Tests.Sampling;

/// <summary>The anchors' samplers and dependency_aware on a fake denoiser: form, NFE budget, determinism.</summary>
public class ParallelSamplerTests
{
    static readonly long[][] Prompts = [[1, 2, 3, 4], [5, 6, 7, 8]];
    const int Gen = 8;

    static SamplerSettings Settings(string name)
    {
        var e = SamplerRegistry.Find(name);
        return new(GenLength: Gen, Steps: e.Remasks ? 2 * Gen : Gen, BlockLength: e.Blocks ? 4 : null, Temperature: 1.0);
    }

    /// <summary>The most network calls a run of the sampler may make with <see cref="Settings"/>.</summary>
    static int Budget(string name) => name switch
    {
        "llada" or "low_confidence" or "random" => Gen,
        "fast_dllm_threshold" or "fast_dllm_factor" or "dependency_aware" or "eb" => Gen,
        "mdlm" => Gen + 1,
        _ when name.StartsWith("dream") => Gen,
        _ when name.StartsWith("remdm") => 2 * Gen + 1,
        _ => throw new InvalidOperationException(name),
    };

    public static TheoryData<string> Names()
    {
        var d = new TheoryData<string>();
        foreach (var e in SamplerRegistry.All.Where(e => e.Masked)) d.Add(e.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void WellFormedWithinBudgetAndDeterministic(string name)
    {
        var model = new FakeDenoiser(5);
        var sampler = SamplerRegistry.Create(name, Settings(name));
        var a = sampler.Generate(model, Prompts, new torch.Generator(42));
        var b = sampler.Generate(new FakeDenoiser(5), Prompts, new torch.Generator(42));
        for (int r = 0; r < Prompts.Length; r++)
        {
            Assert.Equal(Prompts[r].Length + Gen, a.Ids[r].Length);
            Assert.Equal(Prompts[r], a.Ids[r][..Prompts[r].Length]);
            Assert.DoesNotContain((long)FakeDenoiser.Mask, a.Ids[r]);
            Assert.All(a.Ids[r], t => Assert.InRange(t, 0, FakeDenoiser.Vocab - 1));
            Assert.Equal(a.Ids[r], b.Ids[r]);
        }
        Assert.Equal(a.Nfe, b.Nfe);
        Assert.InRange(a.Nfe, 1, Budget(name));
        Assert.Equal(model.Inputs.Count, a.Nfe);
        // The trace's commits replay to the result (remaskings are commits of the mask id).
        var x = Prompts.Select(p => p.Concat(Enumerable.Repeat((long)FakeDenoiser.Mask, Gen)).ToArray()).ToArray();
        foreach (var step in a.Trace)
            foreach (var c in step.Commits) x[c.Row][c.Position] = c.Token;
        for (int r = 0; r < Prompts.Length; r++) Assert.Equal(a.Ids[r], x[r]);
        // Another seed gives another draw somewhere (temperature 1).
        var other = sampler.Generate(new FakeDenoiser(5), Prompts, new torch.Generator(43));
        Assert.False(Enumerable.Range(0, Prompts.Length).All(r => other.Ids[r].SequenceEqual(a.Ids[r])), $"{name}: seeds 42 and 43 gave the same samples");
    }

    [Fact]
    public void FastDllmThresholdOneCommitsOneTokenPerStep()
    {
        var s = new FastDllmSampler(new FastDllmOptions(GenLength: Gen, BlockLength: Gen, Temperature: 1.0, Threshold: 1.0));
        var r = s.Generate(new FakeDenoiser(2) { Scale = 3f }, Prompts, new torch.Generator(1));
        Assert.Equal(Gen, r.Nfe);
        Assert.All(r.Trace, step => Assert.All(Enumerable.Range(0, Prompts.Length), row => Assert.Equal(1, step.Commits.Count(c => c.Row == row))));
    }

    [Fact]
    public void FastDllmThresholdZeroCommitsEachBlockInOneStep()
    {
        var s = new FastDllmSampler(new FastDllmOptions(GenLength: Gen, BlockLength: 4, Temperature: 0.0, Threshold: 0.0));
        var r = s.Generate(new FakeDenoiser(2), Prompts, new torch.Generator(1));
        Assert.Equal(2, r.Nfe);
        Assert.All(r.Trace, step => Assert.Equal(4 * Prompts.Length, step.Commits.Count));
    }

    [Fact]
    public void FastDllmThresholdTakesTopOneAndThoseAboveIt()
    {
        var o = new FastDllmOptions(Threshold: 0.6);
        double[] conf = [0.1, 0.7, 0.3, 0.65, 0.2];
        Assert.Equal([1, 3], FastDllmSampler.Select([0, 1, 2, 3, 4], i => conf[i], o).ToArray());
        double[] low = [0.1, 0.5, 0.3];
        Assert.Equal([1], FastDllmSampler.Select([0, 1, 2], i => low[i], o).ToArray());
    }

    [Fact]
    public void FastDllmFactorFollowsTheReferenceRule()
    {
        // factor 1: thresholds for ranks 1.. are 1 - 1/(n+1): rank 2 needs 2/3, rank 3 needs 3/4, rank 4 needs 4/5.
        var o = new FastDllmOptions(Factor: 1.0);
        double[] conf = [0.9, 0.8, 0.7, 0.1, 0.05];
        // sorted: 0.9 (always), 0.8 >= 2/3, 0.7 < 3/4 -> stop at index 2: two committed.
        Assert.Equal([0, 1], FastDllmSampler.Select([0, 1, 2, 3, 4], i => conf[i], o).ToArray());
        // The reference's quirk: a stop at the last index still takes it.
        double[] two = [0.9, 0.1];
        Assert.Equal(2, FastDllmSampler.Select([0, 1], i => two[i], o).Count());
        double[] one = [0.3];
        Assert.Single(FastDllmSampler.Select([0], i => one[i], o));
    }

    [Fact]
    public void MdlmMakesNoCallWhenNothingChanged()
    {
        var model = new FakeDenoiser(3);
        var s = new MdlmSampler(new MdlmOptions(GenLength: Gen, Steps: 64));
        var r = s.Generate(model, [Prompts[0]], new torch.Generator(9));
        Assert.True(r.Nfe < 64, $"64 steps for 8 tokens must leave steps without change (NFE {r.Nfe})");
        Assert.Equal(model.Inputs.Count, r.Nfe);
        // Consecutive calls always see different inputs: a call is made only after a change.
        for (int i = 1; i < model.Inputs.Count; i++) Assert.NotEqual(model.Inputs[i - 1][0], model.Inputs[i][0]);
        // A call at step i exactly when i = 0 or step i − 1 changed x; noise removal (a trace entry past the
        // last step) calls again only if the last step changed x.
        int expected = 0;
        for (int i = 0; i < r.Trace.Count; i++)
            if (i == 0 || r.Trace[i - 1].Commits.Count > 0) expected++;
        Assert.Equal(expected, r.Nfe);
    }

    [Fact]
    public void DreamOriginWithOneStepCommitsEverything()
    {
        var s = new DreamSampler(new DreamOptions(GenLength: Gen, Steps: 1, Temperature: 1.0));
        var r = s.Generate(new FakeDenoiser(3), Prompts, new torch.Generator(9));
        Assert.Equal(1, r.Nfe);
        Assert.Equal(Gen * Prompts.Length, r.Trace[0].Commits.Count);
    }

    [Theory]
    [InlineData(DreamOptions.MaskGitPlus)]
    [InlineData(DreamOptions.TopKMargin)]
    [InlineData(DreamOptions.Entropy)]
    public void DreamScoredOrdersCommitTheScheduledCount(string alg)
    {
        // steps 4 on 8 masks: t = 1, .75, .5, .25, eps: int(8·(1 − .75)) = 2, then int(6·(1/3)) = 1 (float32), ...
        var s = new DreamSampler(new DreamOptions(GenLength: Gen, Steps: 4, Alg: alg, Temperature: 0.0));
        var r = s.Generate(new FakeDenoiser(3), [Prompts[0]], new torch.Generator(9));
        var counts = r.Trace.Select(st => st.Commits.Count).ToArray();
        int masked = Gen;
        var ts = torch.linspace(1, 1e-3, 5, dtype: torch.ScalarType.Float32).data<float>().ToArray();
        for (int i = 0; i < 4; i++)
        {
            int expected = i == 3 ? masked : (int)(masked * (1f - ts[i + 1] / ts[i]));
            Assert.Equal(expected, counts[i]);
            masked -= expected;
        }
    }

    [Fact]
    public void DependencyAwareBatchesItsProbesIntoOneCall()
    {
        var model = new FakeDenoiser(4);
        var s = new DependencyAwareSampler(new DependencyAwareOptions(GenLength: Gen, BlockLength: Gen, Temperature: 1.0, Threshold: 0.9, Candidates: 3));
        var r = s.Generate(model, Prompts, new torch.Generator(5));
        Assert.Equal(model.Inputs.Count, r.Nfe);
        Assert.True(r.RowsEvaluated > (long)r.Nfe * Prompts.Length, "no probe rows were evaluated");
        // Every probe row differs from its sequence's current state in exactly one position (the anchor).
        foreach (var call in model.Inputs.Skip(1))
            foreach (var probe in call.Skip(Prompts.Length))
                Assert.Contains(call.Take(Prompts.Length), main => main.Zip(probe).Count(p => p.First != p.Second) == 1);
    }
}
