using DiffusionLM.Models;
using DiffusionLM.Models.Gguf;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Gguf;

public class GgufExportTests
{
    [Fact]
    public void Header_names_the_llada_architecture_its_hyperparameters_and_tokenizer()
    {
        using var tmp = new TempFolder();
        var (model, tok) = TinyLladaFactory.WithBpe();
        using var _ = model;
        LladaGgufExport.Export(model, tok, tmp["m.gguf"], GgufDType.F32, "tiny");
        var g = new GgufTestReader(tmp["m.gguf"]);
        var c = model.Config;
        Assert.Equal(3u, g.Version);
        Assert.Equal("llada", g.Meta["general.architecture"]);
        Assert.Equal((uint)c.DModel, g.Meta["llada.embedding_length"]);
        Assert.Equal((uint)c.NLayers, g.Meta["llada.block_count"]);
        Assert.Equal((uint)c.NKvHeads, g.Meta["llada.attention.head_count_kv"]);
        Assert.Equal((uint)c.MlpHiddenSize, g.Meta["llada.feed_forward_length"]);
        Assert.Equal(500000f, g.Meta["llada.rope.freq_base"]);
        Assert.Equal(false, g.Meta["llada.attention.causal"]);
        Assert.Equal(false, g.Meta["diffusion.shift_logits"]);
        Assert.Equal("gpt2", g.Meta["tokenizer.ggml.model"]);
        Assert.Equal((uint)c.MaskTokenId, g.Meta["tokenizer.ggml.mask_token_id"]);
        var tokens = (List<object>)g.Meta["tokenizer.ggml.tokens"];
        Assert.Equal(c.VocabSize, tokens.Count); // padded to the embedding rows
        Assert.Equal("<|mask|>", tokens[c.MaskTokenId]);
        Assert.Equal($"[PAD{c.VocabSize - 1}]", tokens[^1]);
        Assert.Equal(tok.Merges.Count, ((List<object>)g.Meta["tokenizer.ggml.merges"]).Count);
        // PyTorch [out, in] listed in reverse: ggml's ne0 is the input width.
        var q = g.Tensors.Single(t => t.Name == "blk.0.attn_q.weight");
        Assert.Equal(new long[] { c.DModel, c.NHeads * c.HeadDim }, q.Dims);
        Assert.Equal(new long[] { c.DModel, c.VocabSize }, g.Tensors.Single(t => t.Name == "token_embd.weight").Dims);
        Assert.Contains(g.Tensors, t => t.Name == "output.weight");
        Assert.All(g.Tensors, t => Assert.Equal(0, t.Offset % 32));
        Assert.Equal(2 + 9 * c.NLayers + 1, g.Tensors.Count);
        // Unpermuted tensors keep their bytes: the embedding table is stored as it is.
        Assert.Equal(model.Transformer.wte.weight!.data<float>().ToArray(), g.F32("token_embd.weight"));
    }

    [Fact]
    public void A_tied_head_writes_no_output_tensor()
    {
        using var tmp = new TempFolder();
        var (model, tok) = TinyLladaFactory.WithBpe(tied: true);
        using var _ = model;
        LladaGgufExport.Export(model, tok, tmp["m.gguf"], GgufDType.F16, "tiny");
        var g = new GgufTestReader(tmp["m.gguf"]);
        Assert.DoesNotContain(g.Tensors, t => t.Name == "output.weight");
        Assert.Equal(1u, g.Tensors.Single(t => t.Name == "blk.1.ffn_down.weight").Type);   // F16
        Assert.Equal(0u, g.Tensors.Single(t => t.Name == "blk.1.ffn_norm.weight").Type);   // norms stay F32
    }

    [Fact]
    public void Llama2c_vocabulary_is_written_as_sentencepiece_pieces()
    {
        using var tmp = new TempFolder();
        var (model, tok) = TinyLladaFactory.WithLlama2c();
        using var _ = model;
        LladaGgufExport.Export(model, tok, tmp["m.gguf"], GgufDType.F32, "tiny");
        var g = new GgufTestReader(tmp["m.gguf"]);
        Assert.Equal("llama", g.Meta["tokenizer.ggml.model"]);
        var tokens = (List<object>)g.Meta["tokenizer.ggml.tokens"];
        var types = (List<object>)g.Meta["tokenizer.ggml.token_type"];
        Assert.Equal(513, tokens.Count);
        Assert.Equal("<0x0A>", tokens[3 + 10]);
        Assert.Equal(GgufVocab.Byte, types[3 + 10]);
        Assert.Equal("<mask>", tokens[512]);
        Assert.Equal(512u, g.Meta["tokenizer.ggml.mask_token_id"]);
        // llama2.c keeps spaces as spaces; llama.cpp looks pieces up with SentencePiece's "▁".
        Assert.Contains(tokens, t => ((string)t).StartsWith('\u2581'));
        Assert.DoesNotContain(tokens, t => ((string)t).Contains(' '));
    }

    [Fact]
    public void Permuting_qk_rows_turns_rotate_half_rope_into_adjacent_pair_rope()
    {
        // q·k after rotate-half RoPE (ours, HF LLaDA) equals q'·k' after adjacent-pair RoPE (ggml normal) on permuted rows.
        using var scope = NewDisposeScope();
        using var g = new Generator(3);
        int heads = 2, hd = 8, len = 5;
        var wq = randn(heads * hd, 16, generator: g);
        var wk = randn(heads * hd, 16, generator: g);
        var x = randn(len, 16, generator: g);
        using var rope = new RotaryEmbedding(hd, len, 10000);
        Tensor Heads(Tensor w) => matmul(x, w.t()).view(1, len, heads, hd).transpose(1, 2);
        var ours = matmul(rope.Apply(Heads(wq)), rope.Apply(Heads(wk)).transpose(-1, -2));
        var permuted = matmul(AdjacentPairRope(Heads(LladaGgufExport.PermuteForNormalRope(wq, heads)), 10000),
            AdjacentPairRope(Heads(LladaGgufExport.PermuteForNormalRope(wk, heads)), 10000).transpose(-1, -2));
        Assert.True(ours.allclose(permuted, rtol: 1e-4, atol: 1e-4));
        // Mutation: without the permutation the scores differ.
        var unpermuted = matmul(AdjacentPairRope(Heads(wq), 10000), AdjacentPairRope(Heads(wk), 10000).transpose(-1, -2));
        Assert.False(ours.allclose(unpermuted, rtol: 1e-2, atol: 1e-2));
    }

    /// <summary>ggml's LLAMA_ROPE_TYPE_NORM: dimensions (2j, 2j+1) rotated by position·theta^(−2j/d).</summary>
    static Tensor AdjacentPairRope(Tensor x, double theta)
    {
        long len = x.shape[2], hd = x.shape[3];
        var inv = 1.0 / pow(theta, arange(0, hd, 2, dtype: ScalarType.Float64) / hd);
        var ang = outer(arange(len, dtype: ScalarType.Float64), inv).to_type(ScalarType.Float32); // [L, hd/2]
        var pairs = x.view(x.shape[0], x.shape[1], len, hd / 2, 2);
        var a = pairs.select(-1, 0); var b = pairs.select(-1, 1);
        var ra = a * ang.cos() - b * ang.sin();
        var rb = a * ang.sin() + b * ang.cos();
        return stack([ra, rb], -1).view(x.shape);
    }

    [Fact]
    public void Q8_0_blocks_hold_a_half_scale_and_rounded_bytes()
    {
        var x = Enumerable.Range(0, 64).Select(i => (float)Math.Sin(i) * (i < 32 ? 1f : 0.01f)).ToArray();
        var q = GgufQuant.Q8_0(x, 64);
        Assert.Equal(2 * GgufQuant.Q8BlockBytes, q.Length);
        var back = GgufQuant.DequantizeQ8_0(q);
        for (int b = 0; b < 2; b++)
        {
            float amax = x.Skip(32 * b).Take(32).Max(Math.Abs);
            // Rounding to the nearest of 255 levels: at most half a step (plus the half-precision scale's error).
            for (int j = 0; j < 32; j++) Assert.True(Math.Abs(back[32 * b + j] - x[32 * b + j]) <= amax / 127f * 0.51f + 1e-3f * amax);
            int top = Enumerable.Range(0, 32).MaxBy(j => Math.Abs(x[32 * b + j]));
            Assert.Equal(127, Math.Abs((int)(sbyte)q[b * GgufQuant.Q8BlockBytes + 2 + top])); // the largest value takes the full range
        }
        Assert.Throws<ArgumentException>(() => GgufQuant.Q8_0(new float[48], 48));
    }

    [Fact]
    public void Models_that_GGUF_llada_cannot_express_are_refused_and_nothing_is_written()
    {
        using var tmp = new TempFolder();
        var causal = Assert.Throws<DlmException>(() => LladaGgufExport.Export(Stories260K.Model, Stories260K.Tokenizer, tmp["c.gguf"], GgufDType.F32, "s"));
        Assert.Contains("causal", causal.Message);
        var (model, tok) = TinyLladaFactory.WithBpe();
        using var _ = model;
        var gaussian = new LladaModel(model.Config with { Process = DiffusionProcess.Gaussian, TimeConditioning = true });
        using var __ = gaussian;
        Assert.Contains("gaussian", Assert.Throws<DlmException>(() => LladaGgufExport.Export(gaussian, tok, tmp["g.gguf"], GgufDType.F32, "g")).Message);
        Assert.Empty(Directory.GetFiles(tmp.Path));
    }
}
