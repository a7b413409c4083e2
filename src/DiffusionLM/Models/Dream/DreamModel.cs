using DiffusionLM.Models.Hf;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models.Dream;

/// <summary>
/// Dream (Dream-org/Dream-v0-Base-7B, -Instruct-7B; model_type "Dream"): Qwen2's decoder run
/// bidirectionally. Tensors: model.embed_tokens, model.layers.{i}.{input_layernorm,
/// self_attn.{q,k,v}_proj (with bias), self_attn.o_proj, post_attention_layernorm,
/// mlp.{gate,up,down}_proj}, model.norm, lm_head (absent when tie_word_embeddings).
/// </summary>
/// <remarks>
/// <para>Dream was adapted from an autoregressive model and keeps its habit: the output at position
/// i predicts token i + 1. Its generation code shifts the logits right by one before reading them,
/// <c>logits = cat([logits[:, :1], logits[:, :-1]], 1)</c>, so that row i predicts token i (row 0
/// repeats itself). This class does the same in <see cref="Logits"/>, which every sampler and the
/// ELBO read, so that they see position-i-predicts-token-i as for LLaDA; <see cref="ModelLogits"/>
/// gives the unshifted output for parity checks.</para>
/// <para>Left padding as Dream's _sample handles it: rotary positions are cumsum(mask) − 1 (1 on
/// padding), and padded keys are masked. Dream also masks padded queries; their rows are never read,
/// and leaving them unmasked keeps them finite (an all-masked row would be NaN in sdpa).</para>
/// </remarks>
public sealed class DreamModel : IHfDenoiser
{
    public ModelConfig Config { get; }
    public DecoderDims Dims { get; }
    public WeightStore Weights { get; }
    public string Family => "dream";

    public static readonly DecoderLayout Layout = new("model.embed_tokens", "model.norm", "lm_head",
        new Dictionary<string, string>
        {
            ["attn_norm"] = "model.layers.{0}.input_layernorm", ["q"] = "model.layers.{0}.self_attn.q_proj",
            ["k"] = "model.layers.{0}.self_attn.k_proj", ["v"] = "model.layers.{0}.self_attn.v_proj",
            ["o"] = "model.layers.{0}.self_attn.o_proj", ["ffn_norm"] = "model.layers.{0}.post_attention_layernorm",
            ["gate"] = "model.layers.{0}.mlp.gate_proj", ["up"] = "model.layers.{0}.mlp.up_proj",
            ["down"] = "model.layers.{0}.mlp.down_proj",
        });

    public DreamModel(ModelConfig config, DecoderDims dims, WeightStore weights) { Config = config; Dims = dims; Weights = weights; }

    public static bool IsDreamConfig(HfConfigJson c) =>
        string.Equals(c.ModelType, "dream", StringComparison.OrdinalIgnoreCase) || c.Architectures.Contains("DreamModel");

    public static (ModelConfig Config, DecoderDims Dims) ReadConfig(HfConfigJson c)
    {
        c.Require((c.String("hidden_act") ?? "silu") == "silu", "hidden_act", "only silu is implemented");
        c.Require(!c.Has("rope_scaling"), "rope_scaling", "scaled RoPE variants are not implemented");
        c.Require(!c.Bool("use_sliding_window", false), "use_sliding_window", "sliding-window attention is not implemented");
        int d = c.Int("hidden_size"), heads = c.Int("num_attention_heads"), layers = c.Int("num_hidden_layers");
        int kv = c.OptInt("num_key_value_heads") ?? heads;
        c.Require(heads > 0 && d % heads == 0, "num_attention_heads", $"must divide hidden_size ({d})");
        // Dream's attention uses head_dim = hidden_size / num_attention_heads (no separate head_dim field).
        c.Require(!c.Has("head_dim") || c.Int("head_dim") == d / heads, "head_dim", "must equal hidden_size / num_attention_heads");
        int vocab = c.Int("vocab_size");
        int eos = c.OptInt("eos_token_id") ?? 151643;
        var config = new ModelConfig
        {
            ModelType = "dream", DModel = d, NHeads = heads, NKvHeads = kv, NLayers = layers,
            MlpHiddenSize = c.Int("intermediate_size"), VocabSize = vocab,
            MaxSequenceLength = c.OptInt("max_position_embeddings") ?? 131072,
            RopeTheta = c.Double("rope_theta", 10000.0), RmsNormEps = c.Double("rms_norm_eps", 1e-6),
            WeightTying = c.Bool("tie_word_embeddings", false),
            MaskTokenId = c.OptInt("mask_token_id") ?? 151666, EosTokenId = eos,
            PadTokenId = c.OptInt("pad_token_id") ?? eos, BosTokenId = c.OptInt("bos_token_id") ?? eos,
            Schedule = "linear",
        };
        config.Validate(c.Path);
        var dims = new DecoderDims(d, heads, kv, d / heads, config.MlpHiddenSize, vocab, layers, config.RmsNormEps, config.RopeTheta,
            QkvBias: true, TiedHead: config.WeightTying);
        return (config, dims);
    }

    public static List<TensorSpec> Spec(DecoderDims dims) => Layout.Spec(dims);

    public static DreamModel Load(string dir, HfConfigJson c)
    {
        var (config, dims) = ReadConfig(c);
        return new DreamModel(config, dims, WeightStore.Load(dir, Spec(dims)));
    }

    /// <summary>Shifted: row i predicts token i (row 0 is the network's own row 0), as Dream's sampler reads it.</summary>
    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        using var scope = NewDisposeScope();
        var raw = ModelLogits(ids, attentionMask, time);
        long l = raw.shape[1];
        var shifted = l == 1 ? raw : cat([raw.narrow(1, 0, 1), raw.narrow(1, 0, l - 1)], 1);
        NonFinite.CheckLogits(shifted, "Dream model");
        return shifted.MoveToOuterDisposeScope();
    }

    public Tensor ModelLogits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        using var scope = NewDisposeScope();
        Tensor? positions = null;
        if (attentionMask is not null)
        {
            // Dream's _sample: tok_idx = cumsum(mask) − 1, then 1 where the mask is 0.
            var m = attentionMask.to_type(ScalarType.Int64);
            positions = (m.cumsum(-1) - 1).masked_fill(m.eq(0), 1);
        }
        return DecoderForward.Logits(Weights, Layout, Dims, ids, positions, attentionMask).MoveToOuterDisposeScope();
    }

    public void Dispose() => Weights.Dispose();
}
