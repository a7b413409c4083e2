using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models.Hf;

/// <summary>The sizes of a Llama-style (pre-norm RMSNorm, RoPE, SwiGLU) bidirectional decoder.</summary>
/// <param name="VocabRows">rows of the embedding and output head (LLaDA's embedding_size, which may pad vocab_size).</param>
/// <param name="QkvBias">q/k/v projections carry a bias (Qwen2/Dream; LLaDA's include_qkv_bias).</param>
/// <param name="AllBias">every linear layer carries a bias (LLaDA's include_bias).</param>
/// <param name="ScaleLogits">multiply the logits by 1/sqrt(d_model) (LLaDA's scale_logits).</param>
public sealed record DecoderDims(
    int DModel, int NHeads, int NKvHeads, int HeadDim, int MlpHidden, int VocabRows, int NLayers,
    double RmsEps, double RopeTheta, bool QkvBias = false, bool AllBias = false, bool TiedHead = false, bool ScaleLogits = false);

/// <summary>
/// Where a Llama-style decoder keeps its tensors: templates with "{0}" for the layer index, for the
/// parts attn_norm, q, k, v, o, ffn_norm, gate, up, down (each "….weight", biases "….bias").
/// </summary>
public sealed record DecoderLayout(string Embed, string FinalNorm, string Head, IReadOnlyDictionary<string, string> Layer)
{
    public static readonly string[] Parts = ["attn_norm", "q", "k", "v", "o", "ffn_norm", "gate", "up", "down"];

    public string Name(int layer, string part, string kind = "weight") => string.Format(Layer[part], layer) + "." + kind;

    /// <summary>Every tensor the checkpoint must hold, with its shape, from the dims alone.</summary>
    public List<TensorSpec> Spec(DecoderDims d)
    {
        long q = (long)d.NHeads * d.HeadDim, kv = (long)d.NKvHeads * d.HeadDim;
        var list = new List<TensorSpec> { new(Embed + ".weight", [d.VocabRows, d.DModel]) };
        for (int i = 0; i < d.NLayers; i++)
        {
            var outs = new Dictionary<string, long[]>
            {
                ["attn_norm"] = [d.DModel], ["q"] = [q, d.DModel], ["k"] = [kv, d.DModel], ["v"] = [kv, d.DModel],
                ["o"] = [d.DModel, q], ["ffn_norm"] = [d.DModel], ["gate"] = [d.MlpHidden, d.DModel],
                ["up"] = [d.MlpHidden, d.DModel], ["down"] = [d.DModel, d.MlpHidden],
            };
            foreach (var part in Parts)
            {
                list.Add(new(Name(i, part), outs[part]));
                bool isNorm = part.EndsWith("norm");
                bool bias = !isNorm && (d.AllBias || d.QkvBias && part is "q" or "k" or "v");
                if (bias) list.Add(new(Name(i, part, "bias"), [outs[part][0]]));
            }
        }
        list.Add(new(FinalNorm + ".weight", [d.DModel]));
        if (!d.TiedHead) list.Add(new(Head + ".weight", [d.VocabRows, d.DModel]));
        return list;
    }
}

/// <summary>
/// The forward pass of a Llama-style bidirectional decoder over a <see cref="WeightStore"/>, computed in
/// fp32 one layer at a time: each matrix is converted from its storage dtype into the store's one reused
/// fp32 buffer just before its matmul (<see cref="WeightStore.Linear"/>), and the output head in row
/// slices. The math is that of LLaDA's LLaDALlamaBlock and of Qwen2/Dream's decoder layer:
/// x += o(attn(rope(q(n1(x))), rope(k(n1(x))), v(n1(x)))); x += down(silu(gate(n2(x))) * up(n2(x))).
/// </summary>
public static class DecoderForward
{
    /// <summary>Rows of the output head converted to fp32 at once (a slice of ~120 MB for a 4096-wide model).</summary>
    const long HeadSlice = 8192;

    /// <param name="ids">[B, L] int64.</param>
    /// <param name="positions">[B, L] int64 rotary positions; null: 0..L-1 in every row.</param>
    /// <param name="keyMask">[B, L] bool, false on keys no query may attend to (padding); null: all.</param>
    /// <returns>[B, L, VocabRows] fp32 logits, position i read at position i.</returns>
    public static Tensor Logits(WeightStore w, DecoderLayout names, DecoderDims d, Tensor ids, Tensor? positions, Tensor? keyMask)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long b = ids.shape[0], l = ids.shape[1];
        var pos = positions ?? arange(l, dtype: ScalarType.Int64).unsqueeze(0).expand(b, l);
        var (cos, sin) = Rope(pos, d.HeadDim, d.RopeTheta);
        Tensor? mask = keyMask?.to_type(ScalarType.Bool).view(b, 1, 1, l);

        var x = w.Raw(names.Embed + ".weight").index_select(0, ids.reshape(-1)).to_type(ScalarType.Float32).view(b, l, d.DModel);
        for (int i = 0; i < d.NLayers; i++)
        {
            using var layerScope = NewDisposeScope();
            x = Layer(w, names, d, i, x, cos, sin, mask).MoveToOuterDisposeScope();
        }
        x = RmsNorm(x, w.F32(names.FinalNorm + ".weight"), d.RmsEps);
        var head = d.TiedHead ? names.Embed + ".weight" : names.Head + ".weight";
        var parts = new List<Tensor>();
        for (long start = 0; start < d.VocabRows; start += HeadSlice)
            parts.Add(w.LinearRows(x, head, start, Math.Min(HeadSlice, d.VocabRows - start)));
        var logits = parts.Count == 1 ? parts[0] : cat(parts, -1);
        if (d.ScaleLogits) logits = logits * (1.0 / Math.Sqrt(d.DModel));
        return logits.MoveToOuterDisposeScope();
    }

    static Tensor Layer(WeightStore w, DecoderLayout names, DecoderDims d, int i, Tensor x, Tensor cos, Tensor sin, Tensor? mask)
    {
        long b = x.shape[0], l = x.shape[1];
        Tensor Lin(Tensor input, string part)
        {
            var bias = names.Name(i, part, "bias");
            return w.Linear(input, names.Name(i, part), w.Contains(bias) ? bias : null);
        }
        var h = RmsNorm(x, w.F32(names.Name(i, "attn_norm")), d.RmsEps);
        var q = Lin(h, "q").view(b, l, d.NHeads, d.HeadDim).transpose(1, 2);
        var k = Lin(h, "k").view(b, l, d.NKvHeads, d.HeadDim).transpose(1, 2);
        var v = Lin(h, "v").view(b, l, d.NKvHeads, d.HeadDim).transpose(1, 2);
        q = q * cos + RotateHalf(q) * sin;
        k = k * cos + RotateHalf(k) * sin;
        if (d.NKvHeads != d.NHeads)
        {
            // Query head j reads key/value head j / (n_heads / n_kv_heads): LLaDA's repeat_interleave, HF's repeat_kv.
            int rep = d.NHeads / d.NKvHeads;
            k = k.repeat_interleave(rep, dim: 1);
            v = v.repeat_interleave(rep, dim: 1);
        }
        var att = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask, is_casual: false);
        att = att.transpose(1, 2).reshape(b, l, (long)d.NHeads * d.HeadDim);
        x = x + Lin(att, "o");
        var f = RmsNorm(x, w.F32(names.Name(i, "ffn_norm")), d.RmsEps);
        return x + Lin(nn.functional.silu(Lin(f, "gate")) * Lin(f, "up"), "down");
    }

    /// <summary>RMSNorm in fp32: weight · x / sqrt(mean(x²) + eps).</summary>
    public static Tensor RmsNorm(Tensor x, Tensor weight, double eps)
        => weight * (x * rsqrt(x.pow(2).mean([-1L], keepdim: true) + eps));

    public static Tensor RotateHalf(Tensor x)
    {
        long half = x.shape[^1] / 2;
        return cat([-x.narrow(-1, half, half), x.narrow(-1, 0, half)], -1);
    }

    /// <summary>
    /// cos and sin [B, 1, L, head_dim] of the rotate-half RoPE at the given positions, computed in fp32
    /// exactly as LLaDA's and Hugging Face's reference code do (inv_freq = 1 / θ^(2i/d) in fp32, then
    /// position · inv_freq in fp32), so the tables match theirs bit for bit.
    /// </summary>
    public static (Tensor Cos, Tensor Sin) Rope(Tensor positions, int headDim, double theta)
    {
        using var scope = NewDisposeScope();
        var exponent = arange(0, headDim, 2, dtype: ScalarType.Int64).to_type(ScalarType.Float32) / headDim;
        var invFreq = 1.0f / full_like(exponent, theta).pow(exponent);
        var freqs = positions.to_type(ScalarType.Float32).unsqueeze(-1) * invFreq;
        var emb = cat([freqs, freqs], -1).unsqueeze(1);
        return (emb.cos().MoveToOuterDisposeScope(), emb.sin().MoveToOuterDisposeScope());
    }
}
