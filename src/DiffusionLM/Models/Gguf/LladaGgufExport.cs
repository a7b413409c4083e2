using DiffusionLM.IO;
using DiffusionLM.Models.Llada;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models.Gguf;

/// <summary>How the exporter stores the weight matrices (norms always stay F32, as llama.cpp's converter keeps 1-D tensors).</summary>
public enum GgufDType { F32, F16, Q8_0 }

/// <summary>What an export wrote: the file, its size, and the matrices that could not take the requested type.</summary>
public sealed record GgufExportResult(string Path, long Bytes, int Tensors, IReadOnlyList<string> KeptF16);

/// <summary>
/// Writes a LLaDA-architecture model (ours, or an imported Hugging Face LLaDA) as a GGUF file for
/// llama.cpp's "llada" architecture (src/models/llada.cpp): hyperparameters under llada.*,
/// non-causal attention, unshifted logits, the tokenizer under tokenizer.ggml.*, and the tensors
/// under llama.cpp's names.
/// </summary>
/// <remarks>
/// PyTorch stores a linear weight as [out, in] row-major; ggml lists dimensions fastest first, so the
/// same bytes are a ggml tensor of ne = [in, out]: the data is written as it is, the dimensions reversed.
/// Rotary embeddings: LLaDA (Hugging Face) rotates the pairs (j, j + hd/2) of each head; llama.cpp runs
/// llada with ggml's "normal" RoPE, which rotates (2j, 2j + 1). Permuting the rows of Q and K within
/// each head (new row 2j = old j, new row 2j + 1 = old j + hd/2) makes the two agree: q·k is unchanged
/// because q and k get the same permutation. llama.cpp's convert_hf_to_gguf.py does the same (undo_permute).
/// </remarks>
public static class LladaGgufExport
{
    /// <summary>Our checkpoint (project layout).</summary>
    public static GgufExportResult Export(LladaModel model, ITokenizer tokenizer, string outPath, GgufDType dtype, string name, string? chatTemplate = null)
        => Export(model, tokenizer, outPath, dtype, name, chatTemplate, permuteQk: true);

    /// <param name="permuteQk">false only in the test that shows the permutation is needed (a mutation test).</param>
    internal static GgufExportResult Export(LladaModel model, ITokenizer tokenizer, string outPath, GgufDType dtype, string name, string? chatTemplate, bool permuteQk)
    {
        var c = model.Config;
        Refuse(c);
        var vocab = GgufVocab.From(tokenizer, c.VocabSize, new SpecialTokens(c.MaskTokenId, c.EosTokenId, c.PadTokenId, c.BosTokenId));
        var weights = Checkpoint.WeightsOf(model);
        return Write(c, n => weights[n].detach().to_type(ScalarType.Float32), c.WeightTying, vocab, outPath, dtype, name, chatTemplate, permuteQk);
    }

    /// <summary>A Hugging Face LLaDA folder loaded by <see cref="LladaHfModel"/>; its tokenizer.json is read from <paramref name="tokenizerJson"/>.</summary>
    public static GgufExportResult Export(LladaHfModel model, string tokenizerJson, string outPath, GgufDType dtype, string name, string? tokenizerPre = null, string? chatTemplate = null)
    {
        var c = model.Config;
        var d = model.Dims;
        if (d.QkvBias || d.AllBias) throw new DlmException("GGUF export: this LLaDA has biases (include_bias / include_qkv_bias); llama.cpp's llada architecture has no q/k/v biases");
        if (d.ScaleLogits) throw new DlmException("GGUF export: this LLaDA scales its logits (scale_logits); llama.cpp's llada architecture cannot express that");
        Refuse(c);
        var vocab = GgufVocab.FromHfTokenizerJson(tokenizerJson, c.VocabSize, new SpecialTokens(c.MaskTokenId, c.EosTokenId, c.PadTokenId, c.BosTokenId), tokenizerPre);
        return Write(c, model.Weights.F32, d.TiedHead, vocab, outPath, dtype, name, chatTemplate, permuteQk: true);
    }

    static void Refuse(ModelConfig c)
    {
        if (!c.Process.Absorbing) throw new DlmException($"GGUF export: this model was trained with the \"{c.Process}\" process; llama.cpp's diffusion loop is for masked (absorbing) models");
        if (c.Causal) throw new DlmException("GGUF export: this model is causal (an autoregressive baseline); llama.cpp's llada architecture is bidirectional");
        if (c.TimeConditioning) throw new DlmException("GGUF export: this model is time-conditioned; llama.cpp's llada architecture has no time embedding");
    }

    /// <summary>llama.cpp's tensor name for each of LLaDA's (the layer's block prefix stripped).</summary>
    static readonly (string Ours, string Gguf)[] BlockTensors =
    [
        ("attn_norm", "attn_norm"), ("q_proj", "attn_q"), ("k_proj", "attn_k"), ("v_proj", "attn_v"), ("attn_out", "attn_output"),
        ("ff_norm", "ffn_norm"), ("ff_proj", "ffn_gate"), ("up_proj", "ffn_up"), ("ff_out", "ffn_down"),
    ];

    /// <summary>The tensors in file order: (our name, GGUF name, heads to permute by, or 0).</summary>
    public static IEnumerable<(string Ours, string Gguf, int PermuteHeads)> TensorMap(ModelConfig c, bool tied)
    {
        const string t = "model.transformer.";
        yield return (t + "wte.weight", "token_embd.weight", 0);
        for (int i = 0; i < c.NLayers; i++)
            foreach (var (ours, gguf) in BlockTensors)
                yield return ($"{t}blocks.{i}.{ours}.weight", $"blk.{i}.{gguf}.weight",
                    ours == "q_proj" ? c.NHeads : ours == "k_proj" ? c.NKvHeads : 0);
        yield return (t + "ln_f.weight", "output_norm.weight", 0);
        if (!tied) yield return (t + "ff_out.weight", "output.weight", 0);
    }

    /// <summary>Rows of a [heads·hd, in] projection reordered so that (j, j + hd/2) become (2j, 2j + 1) in every head.</summary>
    public static Tensor PermuteForNormalRope(Tensor w, int heads)
    {
        long rows = w.shape[0], cols = w.shape[1], hd = rows / heads;
        return w.reshape(heads, 2, hd / 2, cols).transpose(1, 2).reshape(rows, cols).contiguous();
    }

    static GgufExportResult Write(ModelConfig c, Func<string, Tensor> weight, bool tied, GgufVocab vocab, string outPath, GgufDType dtype, string name, string? chatTemplate, bool permuteQk)
    {
        if (c.MaskTokenId < 0) throw new DlmException("GGUF export: the model has no mask token (mask_token_id); llama.cpp's diffusion loop needs one");
        var w = new GgufWriter();
        w.String("general.architecture", "llada");
        w.String("general.name", name);
        w.UInt32("general.file_type", dtype switch { GgufDType.F32 => 0u, GgufDType.F16 => 1u, _ => 7u }); // llama_ftype ALL_F32, MOSTLY_F16, MOSTLY_Q8_0
        if (dtype == GgufDType.Q8_0) w.UInt32("general.quantization_version", 2);
        w.UInt32("llada.context_length", (uint)c.MaxSequenceLength);
        w.UInt32("llada.embedding_length", (uint)c.DModel);
        w.UInt32("llada.block_count", (uint)c.NLayers);
        w.UInt32("llada.feed_forward_length", (uint)c.MlpHiddenSize);
        w.UInt32("llada.attention.head_count", (uint)c.NHeads);
        w.UInt32("llada.attention.head_count_kv", (uint)c.NKvHeads);
        // Always written: the loader's default (10000) is not LLaDA-8B's 500000.
        w.Float32("llada.rope.freq_base", (float)c.RopeTheta);
        w.UInt32("llada.rope.dimension_count", (uint)c.HeadDim);
        w.Float32("llada.attention.layer_norm_rms_epsilon", (float)c.RmsNormEps);
        w.Bool("llada.attention.causal", false);
        w.UInt32("llada.vocab_size", (uint)c.VocabSize);
        // Read by llama.cpp's diffusion example: Dream-style models predict token i at position i − 1.
        w.Bool("diffusion.shift_logits", c.LogitsShift);
        vocab.WriteTo(w);
        if (chatTemplate is not null) w.String("tokenizer.chat_template", chatTemplate);

        var keptF16 = new List<string>();
        foreach (var (ours, gguf, heads) in TensorMap(c, tied))
        {
            using var scope = NewDisposeScope();
            var t = weight(ours);
            if (heads > 0 && permuteQk) t = PermuteForNormalRope(t, heads);
            var values = t.contiguous().data<float>().ToArray();
            long[] dims = t.shape.Reverse().ToArray();
            var type = t.dim() == 1 ? GgmlType.F32 : dtype switch { GgufDType.F32 => GgmlType.F32, GgufDType.F16 => GgmlType.F16, _ => GgmlType.Q8_0 };
            if (type == GgmlType.Q8_0 && dims[0] % GgufQuant.Q8BlockSize != 0)
            {
                // As llama.cpp's converter: a row that is not whole Q8_0 blocks falls back to F16.
                type = GgmlType.F16;
                keptF16.Add(gguf);
            }
            var data = type switch
            {
                GgmlType.F32 => GgufQuant.F32(values),
                GgmlType.F16 => GgufQuant.F16(values),
                _ => GgufQuant.Q8_0(values, dims[0]),
            };
            w.Tensor(new GgufTensor(gguf, dims, type, data));
        }
        AtomicFile.Write(outPath, w.WriteTo);
        return new GgufExportResult(outPath, new FileInfo(outPath).Length, w.Tensors.Count, keptF16);
    }
}
