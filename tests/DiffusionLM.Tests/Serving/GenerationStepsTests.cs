using DiffusionLM.Serving;
using Xunit;

namespace DiffusionLM.Tests.Serving;

/// <summary>
/// The steps a session reports come from the sampling engine's observer: one per trace step, the engine's NFE, and
/// the positions the sampler's own trace says each step committed. A sampler that commits several positions a step
/// (Fast-dLLM's threshold) and a block cache (which a wrapper around the model would have hidden) tell this apart
/// from watching forward calls.
/// </summary>
public class GenerationStepsTests : IClassFixture<ChatClientTests.Model>
{
    readonly GenerationSession _session;
    public GenerationStepsTests(ChatClientTests.Model model) => _session = model.Session;

    [Theory]
    [InlineData("none")]
    [InlineData("prefix")]
    public void StepsAreTheTracesSteps(string cache)
    {
        var steps = new List<GenerationStep>();
        var extra = new DiffusionLM.Sampling.SamplerSettings { Cache = DiffusionLM.Sampling.CacheModes.Parse(cache) };
        var settings = new GenerationSettings { Sampler = "fast_dllm_threshold", GenLength = 16, Steps = 16, BlockLength = 8, Threshold = 0.3, Extra = extra };
        var output = _session.Generate([_session.Encode("ROMEO:", false)], settings, 0, default, steps.Add)[0];

        Assert.NotEmpty(steps);
        Assert.Equal(Enumerable.Range(0, steps.Count), steps.Select(s => s.Index));
        Assert.Equal(output.Nfe, steps[^1].Nfe);
        Assert.True(steps.Zip(steps.Skip(1)).All(p => p.First.Nfe < p.Second.Nfe), "NFE did not grow from step to step");
        Assert.Equal(output.Ids, steps[^1].Completions[0]);
        // Each step's commits are the positions the trace says it committed, with the tokens that stayed there.
        for (int k = 0; k < steps.Count; k++)
        {
            var expected = Enumerable.Range(0, 16).Where(i => output.CommittedAt[i] == k).ToArray();
            Assert.Equal(expected, steps[k].Commits[0].Select(c => c.Position).Order());
            Assert.All(steps[k].Commits[0], c => Assert.Equal(output.Ids[c.Position], c.Token));
            Assert.All(steps[k].Commits[0], c => Assert.InRange(c.Confidence, 0.0, 1.0));
        }
    }

    [Fact]
    public void RandomRemaskingReportsTheModelsProbabilityNotTheDraw()
    {
        // Under random remasking the trace's "confidence" is the uniform draw that picked the position; the stream
        // reports p(token), which at temperature 0 is the largest probability of its position, so never below 1/V.
        var steps = new List<GenerationStep>();
        var settings = new GenerationSettings { GenLength = 8, Steps = 8, Remasking = "random" };
        var output = _session.Generate([_session.Encode("ROMEO:", false)], settings, 3, default, steps.Add)[0];
        var streamed = steps.SelectMany(s => s.Commits[0]).ToDictionary(c => c.Position, c => c.Confidence);
        Assert.Equal(8, streamed.Count);
        Assert.All(streamed.Values, p => Assert.True(p >= 1.0 / _session.Config.VocabSize, $"p = {p} is below 1/V: not an argmax's probability"));
        Assert.Contains(Enumerable.Range(0, 8), i => Math.Abs(streamed[i] - output.Confidence[i]) > 1e-6);
    }
}
