using DiffusionLM.Models;
using DiffusionLM.Teacher;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Teacher;

public class DreamInitTests
{
    [Fact]
    public void DenoiserKeepsTheTeacherWeightsAndAddsAMeanMaskRow()
    {
        using var _ = no_grad();
        using var d = DreamInit.FromCausal(Stories260K.Model);
        var c = d.Config;
        Assert.False(c.Causal);
        Assert.True(c.LogitsShift);
        Assert.Equal((513, 512), (c.VocabSize, c.MaskTokenId));
        var teacher = Stories260K.Model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        foreach (var (name, p) in d.named_parameters())
        {
            if (name.EndsWith("wte.weight"))
            {
                Assert.True(p.narrow(0, 0, 512).allclose(teacher[name], rtol: 0, atol: 0));
                Assert.True(p[512].allclose(teacher[name].mean([0L]), rtol: 0, atol: 1e-7));
            }
            else Assert.True(p.allclose(teacher[name], rtol: 0, atol: 0), name);
        }
    }

    [Fact]
    public void ShiftedLogitsPutPositionIMinusOnesOutputAtPositionI()
    {
        using var _ = no_grad();
        var cfg = new ModelConfig { DModel = 16, NHeads = 2, NKvHeads = 1, NLayers = 1, MlpHiddenSize = 24, VocabSize = 20, MaxSequenceLength = 16, MaskTokenId = 19, EosTokenId = 18 };
        using var plain = new LladaModel(cfg, new Generator(1));
        using var shifted = new LladaModel(cfg with { LogitsShift = true });
        foreach (var ((_, a), (_, b)) in shifted.named_parameters().Zip(plain.named_parameters())) a.copy_(b);
        using var ids = tensor(new long[,] { { 1, 5, 7, 3, 2 } });
        using var raw = plain.Logits(ids);
        using var s = shifted.Logits(ids);
        Assert.True(s.narrow(1, 1, 4).allclose(raw.narrow(1, 0, 4), rtol: 0, atol: 0));
        Assert.True(s.narrow(1, 0, 1).allclose(raw.narrow(1, 0, 1), rtol: 0, atol: 0)); // position 0 keeps its own output, as Dream
    }

    [Fact]
    public void OnlyACausalModelMayHaveNoMaskToken()
    {
        var cfg = new ModelConfig { DModel = 16, NHeads = 2, NKvHeads = 1, NLayers = 1, MlpHiddenSize = 24, VocabSize = 20, MaxSequenceLength = 16, MaskTokenId = -1, EosTokenId = 18 };
        Assert.Contains("mask_token_id", Assert.Throws<DlmException>(() => cfg.Validate()).Message);
        (cfg with { Causal = true }).Validate();
    }

    [Fact]
    public void TinyBenchmarkRunsEndToEnd()
    {
        var stories = TeacherCorpus.Sample(Stories260K.Model, Stories260K.Tokenizer, new TeacherCorpusOptions(24, 5, 24, MaxTokens: 80));
        var o = new TeacherBenchOptions(TrainSteps: 3, BatchSize: 4, GenLength: 16, StepCounts: [16, 4], Samples: 3, ElboWindows: 2, McSamples: 2, HeldOutFraction: 0.25);
        var r = new TeacherBenchmark(Stories260K.Model, Stories260K.Tokenizer, o).Run(stories);
        Assert.Equal(["scratch", "dream-init"], r.models.Select(m => m.name));
        Assert.True(r.teacher.exact_ppl > 1 && double.IsFinite(r.teacher.exact_ppl));
        Assert.True(r.teacher.floor.gen_ppl > 1 && r.teacher.floor.tokens > 0);
        foreach (var m in r.models)
        {
            Assert.Equal([16, 4], m.gen.Select(g => g.steps));
            Assert.True(double.IsFinite(m.elbo_ppl) && m.elbo_ppl > 1);
            Assert.All(m.gen, g => Assert.True(g.gen_ppl > 1 && g.tokens > 0));
        }
        // Three steps of training leave a random-init denoiser far worse than the teacher it learns from.
        Assert.True(r.models[0].elbo_ppl > r.teacher.exact_ppl);
    }
}
