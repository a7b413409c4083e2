using DiffusionLM.Models.Hf;
using static TorchSharp.torch;

namespace DiffusionLM.Models.Llada;

/// <summary>
/// LLaDA as released on Hugging Face (GSAI-ML/LLaDA-8B-Base, -Instruct, LLaDA-1.5; model_type "llada",
/// modeling_llada.py's LLaDAModelLM with block_type "llama"), computed from its own checkpoint in the
/// checkpoint's dtype. Tensor names: model.transformer.wte, blocks.{i}.{attn_norm, q_proj, k_proj,
/// v_proj, attn_out, ff_norm, ff_proj, up_proj, ff_out}, ln_f, ff_out (absent when weight_tying).
/// </summary>
/// <remarks>
/// Config semantics, from configuration_llada.py: an absent n_kv_heads means n_heads (1 with
/// multi_query_attention); an absent mlp_hidden_size means mlp_ratio · d_model; the embedding and output
/// head have embedding_size rows (which may pad vocab_size; null means vocab_size), and so do the
/// logits, as in the reference; absent fields take the reference defaults (weight_tying true,
/// include_bias false, rope_theta 10000, rms_norm_eps 1e-5, ...). Anything that selects other math
/// (sequential blocks, LayerNorm, ALiBi, QK-norm, ...) is refused with the field named.
/// Attention is bidirectional; a padding mask masks keys, as LLaDA's attention_bias does, and
/// positions are not shifted for left padding (LLaDA's rotary positions are absolute indices).
/// </remarks>
public sealed class LladaHfModel : IHfDenoiser
{
    public ModelConfig Config { get; }
    public DecoderDims Dims { get; }
    public WeightStore Weights { get; }
    public string Family => "llada";

    public static readonly DecoderLayout Layout = new("model.transformer.wte", "model.transformer.ln_f", "model.transformer.ff_out",
        new Dictionary<string, string>
        {
            ["attn_norm"] = "model.transformer.blocks.{0}.attn_norm", ["q"] = "model.transformer.blocks.{0}.q_proj",
            ["k"] = "model.transformer.blocks.{0}.k_proj", ["v"] = "model.transformer.blocks.{0}.v_proj",
            ["o"] = "model.transformer.blocks.{0}.attn_out", ["ffn_norm"] = "model.transformer.blocks.{0}.ff_norm",
            ["gate"] = "model.transformer.blocks.{0}.ff_proj", ["up"] = "model.transformer.blocks.{0}.up_proj",
            ["down"] = "model.transformer.blocks.{0}.ff_out",
        });

    public LladaHfModel(ModelConfig config, DecoderDims dims, WeightStore weights) { Config = config; Dims = dims; Weights = weights; }

    public static bool IsLladaConfig(HfConfigJson c) =>
        c.ModelType == "llada" && (c.Architectures.Contains("LLaDAModelLM") || c.Has("block_type") || c.Has("embedding_size"));

    /// <summary>Our config and the decoder sizes from LLaDA's config.json.</summary>
    public static (ModelConfig Config, DecoderDims Dims) ReadConfig(HfConfigJson c)
    {
        c.Require((c.String("block_type") ?? "sequential") == "llama", "block_type", "only LLaDA's \"llama\" block (separate q/k/v, ff_proj/up_proj) is implemented");
        c.Require((c.String("activation_type") ?? "swiglu") == "silu", "activation_type", "the llama block multiplies silu(ff_proj) by up_proj; only \"silu\" is implemented");
        c.Require((c.String("layer_norm_type") ?? "default") == "rms", "layer_norm_type", "only \"rms\" is implemented");
        c.Require(c.Bool("rope", false), "rope", "rotary embeddings are required");
        c.Require(!c.Bool("alibi", false), "alibi", "ALiBi is not implemented");
        c.Require(!c.Bool("attention_layer_norm", false), "attention_layer_norm", "QK-norm is not implemented");
        c.Require(c.Bool("layer_norm_with_affine", true), "layer_norm_with_affine", "norms without a weight are not implemented");
        bool includeBias = c.Bool("include_bias", false);
        bool normBias = c.Has("bias_for_layer_norm") ? c.Bool("bias_for_layer_norm", false) : includeBias;
        c.Require(!normBias, "bias_for_layer_norm", "RMSNorm with a bias is not implemented");
        c.Require(!c.Bool("input_emb_norm", false), "input_emb_norm", "scaled input embeddings are not implemented");
        c.Require(c.Double("rope_scaling_factor", 1.0) > 0, "rope_scaling_factor", "must be positive");

        int d = c.OptInt("d_model") ?? 768, heads = c.OptInt("n_heads") ?? 12, layers = c.OptInt("n_layers") ?? 12;
        int kv = c.OptInt("n_kv_heads") ?? (c.Has("multi_query_attention") && c.Bool("multi_query_attention", false) ? 1 : heads);
        int mlp = c.OptInt("mlp_hidden_size") ?? (c.OptInt("mlp_ratio") ?? 4) * d;
        int vocab = c.OptInt("vocab_size") ?? 50257;
        // configuration_llada.py: embedding_size defaults to 50304; an explicit null means vocab_size.
        int rows = c.Json.ContainsKey("embedding_size") ? c.OptInt("embedding_size") ?? vocab : 50304;
        c.Require(rows >= vocab, "embedding_size", $"must be at least vocab_size ({vocab})");
        c.Require(heads > 0 && d % heads == 0, "n_heads", $"must divide d_model ({d})");
        var config = new ModelConfig
        {
            ModelType = "llada", DModel = d, NHeads = heads, NKvHeads = kv, NLayers = layers, MlpHiddenSize = mlp,
            VocabSize = rows, MaxSequenceLength = c.OptInt("max_sequence_length") ?? 1024,
            RopeTheta = c.Double("rope_theta", 10000.0), RmsNormEps = c.Double("rms_norm_eps", 1e-5),
            WeightTying = c.Bool("weight_tying", true),
            MaskTokenId = c.OptInt("mask_token_id") ?? 50256, EosTokenId = c.OptInt("eos_token_id") ?? 50256,
            PadTokenId = c.OptInt("pad_token_id") ?? 50256, BosTokenId = c.OptInt("bos_token_id") ?? c.OptInt("eos_token_id") ?? 50256,
            Schedule = "linear",
        };
        config.Validate(c.Path);
        var dims = new DecoderDims(d, heads, kv, d / heads, mlp, rows, layers, config.RmsNormEps, config.RopeTheta,
            QkvBias: c.Bool("include_qkv_bias", false), AllBias: includeBias, TiedHead: config.WeightTying,
            ScaleLogits: c.Bool("scale_logits", false));
        return (config, dims);
    }

    public static List<TensorSpec> Spec(DecoderDims dims) => Layout.Spec(dims);

    public static LladaHfModel Load(string dir, HfConfigJson c)
    {
        var (config, dims) = ReadConfig(c);
        return new LladaHfModel(config, dims, WeightStore.Load(dir, Spec(dims)));
    }

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        var logits = ModelLogits(ids, attentionMask, time);
        NonFinite.CheckLogits(logits, Weights.Source);
        return logits;
    }

    public Tensor ModelLogits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        if (ids.shape[1] > Config.MaxSequenceLength)
            throw new DlmException($"sequence of {ids.shape[1]} tokens exceeds the model's context of {Config.MaxSequenceLength} (max_sequence_length)");
        return DecoderForward.Logits(Weights, Layout, Dims, ids, positions: null, keyMask: attentionMask);
    }

    public void Dispose() => Weights.Dispose();
}
