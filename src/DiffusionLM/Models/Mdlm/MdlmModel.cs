using DiffusionLM.Models.Hf;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models.Mdlm;

/// <summary>
/// MDLM (kuleshov-group/mdlm-owt; model_type "mdlm"): the DiT of models/dit.py with adaLN time
/// conditioning, under the <c>backbone.</c> prefix, followed by the SUBS parameterisation of
/// diffusion.py. GPT-2 tokenizer; the mask token is the last row of the vocabulary (vocab_size − 1 =
/// 50257, the size of GPT-2's vocabulary).
/// </summary>
/// <remarks>
/// <para>Block i: (shift₁, scale₁, gate₁, shift₂, scale₂, gate₂) = adaLN_modulation(c);
/// x += gate₁ · attn_out(attention(rope(qkv(LN(x)·w₁·(1 + scale₁) + shift₁))));
/// x += gate₂ · mlp(LN(x)·w₂·(1 + scale₂) + shift₂), with LN a bias-free LayerNorm (eps 1e-5), rotate-half
/// RoPE (θ = 10⁴) on q and k, non-causal attention and a GELU(tanh) MLP of width 4·hidden_dim.
/// c = silu(sigma_map(σ)), sigma_map = Linear(256 → cond) · SiLU · Linear(cond → cond) of the
/// sinusoidal embedding of σ. Output: LN·(1 + scale) + shift, then a linear layer with bias.</para>
/// <para>σ: with time_conditioning false (the released OWT model) σ = 0 whatever the time; with it,
/// σ(t) = −log(1 − (1 − 10⁻³) t), MDLM's log-linear total noise. The reference runs the blocks under
/// bf16 autocast on GPU; here everything is fp32.</para>
/// <para>SUBS: the mask column gets −10⁶ added, the logits are normalised to log-probabilities, and an
/// unmasked position gets 0 at its own token and −10⁶ elsewhere (MDLM's neg_infinity). These are what
/// <see cref="Logits"/> and <see cref="ModelLogits"/> return; samplers and the ELBO read them as logits.</para>
/// </remarks>
public sealed class MdlmModel : IHfDenoiser
{
    public const int FrequencyEmbeddingSize = 256, MlpRatio = 4;
    public const double RopeTheta = 10000.0, LayerNormEps = 1e-5, NegInfinity = -1000000.0, NoiseEps = 1e-3;

    public ModelConfig Config { get; }
    public int CondDim { get; }
    public WeightStore Weights { get; }
    public string Family => "mdlm";

    public MdlmModel(ModelConfig config, int condDim, WeightStore weights) { Config = config; CondDim = condDim; Weights = weights; }

    public static bool IsMdlmConfig(HfConfigJson c) => string.Equals(c.ModelType, "mdlm", StringComparison.OrdinalIgnoreCase);

    public static (ModelConfig Config, int CondDim) ReadConfig(HfConfigJson c)
    {
        int d = c.Int("hidden_dim"), heads = c.Int("n_heads"), vocab = c.Int("vocab_size");
        c.Require(heads > 0 && d % heads == 0, "n_heads", $"must divide hidden_dim ({d})");
        var config = new ModelConfig
        {
            ModelType = "mdlm", DModel = d, NHeads = heads, NKvHeads = heads, NLayers = c.Int("n_blocks"),
            MlpHiddenSize = MlpRatio * d, VocabSize = vocab, MaxSequenceLength = c.OptInt("model_length") ?? 1024,
            RopeTheta = RopeTheta, MaskTokenId = vocab - 1,
            // GPT-2's <|endoftext|> (50256) ends, separates and pads OWT documents; capped for tiny vocabularies.
            EosTokenId = Math.Min(50256, vocab - 2), PadTokenId = Math.Min(50256, vocab - 2), BosTokenId = Math.Min(50256, vocab - 2),
            TimeConditioning = c.Bool("time_conditioning", false), Schedule = "loglinear",
        };
        config.Validate(c.Path);
        return (config, c.Int("cond_dim"));
    }

    public static List<TensorSpec> Spec(ModelConfig c, int cond)
    {
        long d = c.DModel, v = c.VocabSize, h = MlpRatio * d;
        var list = new List<TensorSpec>
        {
            new("backbone.vocab_embed.embedding", [v, d]),
            new("backbone.sigma_map.mlp.0.weight", [cond, FrequencyEmbeddingSize]), new("backbone.sigma_map.mlp.0.bias", [cond]),
            new("backbone.sigma_map.mlp.2.weight", [cond, cond]), new("backbone.sigma_map.mlp.2.bias", [cond]),
            // A persistent buffer in models/dit.py: saved by some exports, recomputed here either way.
            new("backbone.rotary_emb.inv_freq", [c.HeadDim / 2], Optional: true),
        };
        for (int i = 0; i < c.NLayers; i++)
        {
            string p = $"backbone.blocks.{i}.";
            list.AddRange(
            [
                new(p + "norm1.weight", [d]), new(p + "attn_qkv.weight", [3 * d, d]), new(p + "attn_out.weight", [d, d]),
                new(p + "norm2.weight", [d]), new(p + "mlp.0.weight", [h, d]), new(p + "mlp.0.bias", [h]),
                new(p + "mlp.2.weight", [d, h]), new(p + "mlp.2.bias", [d]),
                new(p + "adaLN_modulation.weight", [6 * d, cond]), new(p + "adaLN_modulation.bias", [6 * d]),
            ]);
        }
        list.AddRange(
        [
            new("backbone.output_layer.norm_final.weight", [d]),
            new("backbone.output_layer.linear.weight", [v, d]), new("backbone.output_layer.linear.bias", [v]),
            new("backbone.output_layer.adaLN_modulation.weight", [2 * d, cond]), new("backbone.output_layer.adaLN_modulation.bias", [2 * d]),
        ]);
        return list;
    }

    public static MdlmModel Load(string dir, HfConfigJson c)
    {
        var (config, cond) = ReadConfig(c);
        return new MdlmModel(config, cond, WeightStore.Load(dir, Spec(config, cond)));
    }

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        var logits = ModelLogits(ids, attentionMask, time);
        NonFinite.CheckLogits(logits, "MDLM model");
        return logits;
    }

    public Tensor ModelLogits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        if (ids.shape[1] > Config.MaxSequenceLength)
            throw new DlmException($"sequence of {ids.shape[1]} tokens exceeds the model's context of {Config.MaxSequenceLength} (model_length)");
        var raw = Backbone(ids, Sigma(ids.shape[0], time), attentionMask);
        return Subs(raw, ids).MoveToOuterDisposeScope();
    }

    /// <summary>σ per row: zeros without time conditioning (diffusion.py's _process_sigma), else the log-linear total noise of t.</summary>
    Tensor Sigma(long batch, Tensor? time)
    {
        if (!Config.TimeConditioning) return zeros(batch, dtype: ScalarType.Float32);
        if (time is null) throw new ArgumentException("this MDLM is time-conditioned: pass the diffusion time");
        var t = time.to_type(ScalarType.Float32).reshape(-1).expand(batch);
        return -log1p(-(1 - NoiseEps) * t);
    }

    /// <summary>The DiT's raw output [B, L, V] fp32.</summary>
    public Tensor Backbone(Tensor ids, Tensor sigma, Tensor? keyMask = null)
    {
        using var scope = NewDisposeScope();
        var w = Weights;
        long b = ids.shape[0], l = ids.shape[1], d = Config.DModel;
        int heads = Config.NHeads, hd = Config.HeadDim;
        var x = w.Raw("backbone.vocab_embed.embedding").index_select(0, ids.reshape(-1)).to_type(ScalarType.Float32).view(b, l, d);
        var tFreq = TimestepEmbedding(sigma, FrequencyEmbeddingSize);
        var c = nn.functional.silu(Linear(nn.functional.silu(Linear(tFreq, "backbone.sigma_map.mlp.0")), "backbone.sigma_map.mlp.2"));
        var (cos, sin) = DecoderForward.Rope(arange(l, dtype: ScalarType.Int64).unsqueeze(0), hd, RopeTheta);
        Tensor? mask = keyMask?.to_type(ScalarType.Bool).view(b, 1, 1, l);
        for (int i = 0; i < Config.NLayers; i++)
        {
            using var layer = NewDisposeScope();
            string p = $"backbone.blocks.{i}.";
            var mod = Linear(c, p + "adaLN_modulation").unsqueeze(1).chunk(6, 2);
            var h = Modulate(LayerNorm(x, p + "norm1.weight"), mod[0], mod[1]);
            var qkv = w.Linear(h, p + "attn_qkv.weight").view(b, l, 3, heads, hd);
            var q = qkv.select(2, 0).transpose(1, 2);
            var k = qkv.select(2, 1).transpose(1, 2);
            var v = qkv.select(2, 2).transpose(1, 2);
            q = q * cos + DecoderForward.RotateHalf(q) * sin;
            k = k * cos + DecoderForward.RotateHalf(k) * sin;
            var att = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask, is_casual: false)
                .transpose(1, 2).reshape(b, l, d);
            x = x + mod[2] * w.Linear(att, p + "attn_out.weight");
            var m = Modulate(LayerNorm(x, p + "norm2.weight"), mod[3], mod[4]);
            m = Linear(GeluTanh(Linear(m, p + "mlp.0")), p + "mlp.2");
            x = (x + mod[5] * m).MoveToOuterDisposeScope();
        }
        var fin = Linear(c, "backbone.output_layer.adaLN_modulation").unsqueeze(1).chunk(2, 2);
        x = Modulate(LayerNorm(x, "backbone.output_layer.norm_final.weight"), fin[0], fin[1]);
        return Linear(x, "backbone.output_layer.linear").MoveToOuterDisposeScope();
    }

    Tensor Linear(Tensor x, string prefix) => Weights.Linear(x, prefix + ".weight", prefix + ".bias");

    Tensor LayerNorm(Tensor x, string weight) => nn.functional.layer_norm(x, [x.shape[^1]], eps: LayerNormEps) * Weights.F32(weight);

    /// <summary>nn.GELU(approximate='tanh'): 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).</summary>
    public static Tensor GeluTanh(Tensor x) => 0.5 * x * (1 + tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x.pow(3))));

    static Tensor Modulate(Tensor x, Tensor shift, Tensor scale) => x * (1 + scale) + shift;

    /// <summary>GLIDE's sinusoidal embedding: [cos(t·f), sin(t·f)], f = exp(−ln(10⁴)·i/half).</summary>
    public static Tensor TimestepEmbedding(Tensor t, int dim)
    {
        int half = dim / 2;
        var freqs = exp(-Math.Log(10000.0) * arange(0, half, dtype: ScalarType.Float32) / half);
        var args = t.to_type(ScalarType.Float32).unsqueeze(1) * freqs.unsqueeze(0);
        var emb = cat([args.cos(), args.sin()], -1);
        return dim % 2 == 1 ? cat([emb, zeros_like(emb.narrow(1, 0, 1))], -1) : emb;
    }

    /// <summary>diffusion.py's _subs_parameterization.</summary>
    Tensor Subs(Tensor logits, Tensor xt)
    {
        var maskCol = arange(logits.shape[^1], dtype: ScalarType.Int64).eq(Config.MaskTokenId).to_type(ScalarType.Float32) * NegInfinity;
        logits = logits + maskCol;
        logits = logits - logits.logsumexp(-1, keepdim: true);
        var unmasked = xt.ne(Config.MaskTokenId).unsqueeze(-1);
        var carry = full_like(logits, NegInfinity).scatter(-1, xt.unsqueeze(-1), zeros_like(logits.narrow(-1, 0, 1)));
        return where(unmasked, carry, logits);
    }

    public void Dispose() => Weights.Dispose();
}
