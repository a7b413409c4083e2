using DiffusionLM.Models;
using DiffusionLM.Teacher;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Teacher;

public class DreamInitTests
{
    static LladaModel Teacher => Stories260K.Model;
    const int V = 512;

    /// <summary>
    /// The denoiser's config is the teacher's made bidirectional, shifted and one token larger (the mask, id 512); every
    /// teacher tensor is copied bit for bit, and the extra row of each vocabulary-sized tensor is the mean of the teacher's
    /// rows, summed here in float64 row by row (1e-6).
    /// </summary>
    static void AssertTeacherWeightsAndAMeanMaskRow(LladaModel d)
    {
        var c = d.Config;
        Assert.False(c.Causal);
        Assert.True(c.LogitsShift);
        Assert.Equal((V + 1, V), (c.VocabSize, c.MaskTokenId));
        var teacher = Teacher.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        Assert.Equal(teacher.Keys.Order(), d.named_parameters().Select(p => p.name).Order());
        int extended = 0;
        foreach (var (name, p) in d.named_parameters())
        {
            var src = teacher[name];
            if (p.shape[0] == V + 1)
            {
                extended++;
                Assert.True(p.narrow(0, 0, V).allclose(src, rtol: 0, atol: 0), name);
                var rows = src.to_type(ScalarType.Float64).data<double>().ToArray();
                int width = (int)src.shape[1];
                var mask = p[V].to_type(ScalarType.Float64).data<double>().ToArray();
                for (int j = 0; j < width; j++)
                {
                    double mean = 0;
                    for (int r = 0; r < V; r++) mean += rows[r * width + j];
                    mean /= V;
                    Assert.True(Math.Abs(mask[j] - mean) < 1e-6, $"{name}[{V}, {j}] = {mask[j]}, the mean of the teacher's rows is {mean}");
                }
            }
            else Assert.True(p.allclose(src, rtol: 0, atol: 0), name);
        }
        Assert.True(extended >= 1, "no vocabulary-sized tensor gained the mask row");
    }

    [Fact]
    public void DenoiserKeepsTheTeacherWeightsAndAddsAMeanMaskRow()
    {
        using var _ = no_grad();
        using var d = DreamInit.FromCausal(Teacher);
        AssertTeacherWeightsAndAMeanMaskRow(d);
    }

    [Fact]
    public void MutantWithTheFirstRowAsMaskIsRejectedByTheWeightCheck()
    {
        using var _ = no_grad();
        using var d = DreamInitMutants.WithFirstRowAsMask(Teacher);
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertTeacherWeightsAndAMeanMaskRow(d));
    }

    /// <summary>
    /// On one token the bidirectional, shifted denoiser is the teacher itself (attention over one key is causal, and
    /// the shift keeps position 0): its 512 logits are the teacher's (1e-5). And its mask logit is the average token's:
    /// h·mean(W) = mean(h·W) for the mean row, tied or not, computed here in float64 (1e-4).
    /// </summary>
    static void AssertOneTokenIsTheTeacherAndTheMaskLogitTheMean(LladaModel d)
    {
        foreach (long id in new long[] { 1, 42, 300 })
        {
            using var ids = tensor(new[] { id }).view(1, 1);
            var ours = d.Logits(ids).to_type(ScalarType.Float64).flatten().data<double>().ToArray();
            var theirs = Teacher.Logits(ids).to_type(ScalarType.Float64).flatten().data<double>().ToArray();
            Assert.Equal(V + 1, ours.Length);
            for (int v = 0; v < V; v++) Assert.True(Math.Abs(ours[v] - theirs[v]) < 1e-5, $"token {id}: logit {v} is {ours[v]}, the teacher's {theirs[v]}");
            double mean = ours.Take(V).Average();
            Assert.True(Math.Abs(ours[V] - mean) < 1e-4, $"token {id}: mask logit {ours[V]}, the average token's {mean}");
        }
    }

    [Fact]
    public void OnOneTokenTheDenoiserIsTheTeacherAndItsMaskLogitTheAverage()
    {
        using var _ = no_grad();
        using var d = DreamInit.FromCausal(Teacher);
        AssertOneTokenIsTheTeacherAndTheMaskLogitTheMean(d);
    }

    [Fact]
    public void MutantWithTheFirstRowAsMaskIsRejectedByTheMaskLogit()
    {
        using var _ = no_grad();
        using var d = DreamInitMutants.WithFirstRowAsMask(Teacher);
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertOneTokenIsTheTeacherAndTheMaskLogitTheMean(d));
    }

    /// <summary>
    /// Position i ≥ 1 of the denoiser reports what position i − 1 computes (position 0 keeps its own), as Dream:
    /// compared with the same weights read unshifted, bit for bit, on a 6-token input with a mask in it.
    /// </summary>
    static void AssertLogitsAreShiftedByOne(LladaModel d)
    {
        using var plain = new LladaModel(d.Config with { LogitsShift = false });
        foreach (var ((_, a), (_, b)) in plain.named_parameters().Zip(d.named_parameters())) a.copy_(b);
        using var ids = tensor(new long[,] { { 1, 403, 87, V, 12, 250 } });
        using var raw = plain.Logits(ids);
        using var s = d.Logits(ids);
        Assert.True(s.narrow(1, 1, 5).allclose(raw.narrow(1, 0, 5), rtol: 0, atol: 0), "position i does not carry position i − 1's output");
        Assert.True(s.narrow(1, 0, 1).allclose(raw.narrow(1, 0, 1), rtol: 0, atol: 0), "position 0 does not keep its own output");
    }

    [Fact]
    public void ItsLogitsAreShiftedByOne()
    {
        using var _ = no_grad();
        using var d = DreamInit.FromCausal(Teacher);
        AssertLogitsAreShiftedByOne(d);
    }

    [Fact]
    public void MutantWithoutTheShiftIsRejectedByTheShiftCheck()
    {
        using var _ = no_grad();
        using var d = DreamInitMutants.WithoutShift(Teacher);
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertLogitsAreShiftedByOne(d));
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
