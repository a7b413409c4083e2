using DiffusionLM.Models;
using DiffusionLM.Models.Gguf;
using DiffusionLM.Peers;
using DiffusionLM.Text;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Gguf;

/// <summary>
/// The exported GGUF run by llama.cpp itself (LLamaSharp.Backend.Cpu's libllama) gives our logits:
/// the check that names, dimension order, the Q/K permutation, RoPE base, norms and attention
/// masking were all written as llama.cpp reads them.
/// </summary>
public class LlamaCppParityTests
{
    static readonly int[] Ids = [5, 17, 250, 3, 99, 42, 42, 7, 120, 260, 11, 64, 1, 200, 33, 80, 150, 19, 2, 270];

    static float MaxDiff(LladaModel model, string gguf, int[] ids, bool? flashAttention = null)
    {
        using var m = new LlamaCppModel(gguf, ids.Length, threads: 1, flashAttention);
        Assert.True(m.IsDiffusion);
        var theirs = new float[ids.Length * m.VocabSize];
        m.Logits(ids, theirs);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ours = model.Logits(tensor(ids.Select(i => (long)i).ToArray(), [1, ids.Length])).data<float>().ToArray();
        Assert.Equal(ours.Length, theirs.Length);
        return ours.Zip(theirs, (a, b) => Math.Abs(a - b)).Max();
    }

    [Fact]
    public void F32_gguf_matches_our_forward_to_1e_4()
    {
        using var tmp = new TempFolder();
        var (model, tok) = TinyLladaFactory.WithBpe();
        using var _ = model;
        LladaGgufExport.Export(model, tok, tmp["m.gguf"], GgufDType.F32, "tiny");
        // ggml's CPU flash attention (libllama's "auto" default, which the diffusion CLI keeps) rounds through
        // f16; without it the f32 graph is our arithmetic up to summation order.
        float exact = MaxDiff(model, tmp["m.gguf"], Ids, flashAttention: false);
        Assert.True(exact < 1e-4, $"max |Δlogit| {exact} without flash attention");
        float auto = MaxDiff(model, tmp["m.gguf"], Ids);
        Assert.True(auto < 1e-3, $"max |Δlogit| {auto} with libllama's default (flash attention auto)");
        AssertSameTokens(tok, tmp["m.gguf"]);
    }

    /// <summary>The vocabulary written for llama.cpp tokenizes text as our tokenizer does.</summary>
    static void AssertSameTokens(ITokenizer tok, string gguf)
    {
        using var m = new LlamaCppModel(gguf, 16, threads: 1);
        foreach (var text in new[] { "the king went to the castle", "Once upon a time, the old man sat by the fire.\nThe end!" })
            Assert.Equal(tok.Encode(text), m.Tokenize(text));
    }

    [Fact]
    public void Without_the_qk_permutation_llama_cpp_computes_something_else()
    {
        // Mutation test of the parity check: the same export with Q/K rows left in HF order must fail it.
        using var tmp = new TempFolder();
        var (model, tok) = TinyLladaFactory.WithBpe();
        using var _ = model;
        LladaGgufExport.Export(model, tok, tmp["m.gguf"], GgufDType.F32, "tiny", chatTemplate: null, permuteQk: false);
        Assert.True(MaxDiff(model, tmp["m.gguf"], Ids, flashAttention: false) > 1e-3);
    }

    [Fact]
    public void F16_and_q8_0_stay_within_their_rounding_bounds()
    {
        using var tmp = new TempFolder();
        var (model, tok) = TinyLladaFactory.WithBpe(tied: true);
        using var _ = model;
        LladaGgufExport.Export(model, tok, tmp["h.gguf"], GgufDType.F16, "tiny");
        LladaGgufExport.Export(model, tok, tmp["q.gguf"], GgufDType.Q8_0, "tiny");
        // Logits of this model reach ~1.4; f16 weights keep ~3 significant digits, q8_0 ~2 (measured: 2.5e-4 and 6.7e-3).
        Assert.True(MaxDiff(model, tmp["h.gguf"], Ids, flashAttention: false) < 2e-3);
        Assert.True(MaxDiff(model, tmp["q.gguf"], Ids, flashAttention: false) < 2e-2);
    }

    [Fact]
    public void Llama2c_vocabulary_loads_and_its_model_matches()
    {
        using var tmp = new TempFolder();
        var (model, tok) = TinyLladaFactory.WithLlama2c();
        using var _ = model;
        LladaGgufExport.Export(model, tok, tmp["m.gguf"], GgufDType.F32, "tiny");
        float diff = MaxDiff(model, tmp["m.gguf"], [1, 300, 511, 512, 512, 40, 3], flashAttention: false);
        Assert.True(diff < 1e-4, $"max |Δlogit| {diff}");
        AssertSameTokens(tok, tmp["m.gguf"]);
    }
}
