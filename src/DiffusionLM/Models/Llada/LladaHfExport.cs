using System.Text.Json.Nodes;
using DiffusionLM.IO;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models.Llada;

/// <summary>
/// Writes one of the project's masked models in LLaDA's Hugging Face layout: config.json with
/// model_type "llada" and LLaDA's config fields (configuration_llada.py), model.safetensors under
/// LLaDA's tensor names (which are our parameter names), and tokenizer.json. Python loads it with
/// LLaDA's modeling_llada.py / configuration_llada.py copied into the folder (trust_remote_code).
/// </summary>
public static class LladaHfExport
{
    /// <param name="allowShiftedLogits">write a model with Dream-style shifted logits anyway (the benchmark does, and tells its
    /// own reader to shift): LLaDA's layout has no field for it, so the folder alone would be read unshifted.</param>
    public static void Export(LladaModel model, ITokenizer tokenizer, string outDir, ScalarType dtype = ScalarType.Float32, bool allowShiftedLogits = false)
    {
        var c = model.Config;
        if (c.LogitsShift && !allowShiftedLogits)
            throw new DlmException("this model's logits are shifted (Dream-style: position i is predicted from the state at i − 1); LLaDA's Hugging Face " +
                "layout has no field for that, so every loader would read it unshifted and predict the wrong positions. Use `dlm export gguf` " +
                "(it records diffusion.shift_logits, which llama.cpp's diffusion loop honours) or keep the project's own folder");
        if (c.Causal) throw new DlmException("this model is causal (an autoregressive baseline); LLaDA's layout is bidirectional only");
        if (c.TimeConditioning) throw new DlmException("this model is time-conditioned; LLaDA's layout has no time embedding");
        if (!c.Process.Absorbing) throw new DlmException($"this model was trained with the \"{c.Process}\" process; LLaDA's layout is for masked models");
        if (dtype is not (ScalarType.Float32 or ScalarType.BFloat16)) throw new DlmException("export dtype must be fp32 or bf16");
        var config = Config(c, dtype);
        AtomicDirectory.Write(outDir, tmp =>
        {
            File.WriteAllText(Path.Combine(tmp, "config.json"), config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            using var scope = NewDisposeScope();
            var tensors = Checkpoint.WeightsOf(model).ToDictionary(kv => kv.Key, kv => kv.Value.detach().to_type(dtype));
            SafeTensors.Save(Path.Combine(tmp, SafeTensors.SingleFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            Checkpoint.SaveTokenizer(tokenizer, Path.Combine(tmp, Checkpoint.TokenizerFile));
        });
    }

    /// <summary>LLaDA's config.json for our architecture (field set and fixed values as in LLaDA-8B's).</summary>
    public static JsonObject Config(ModelConfig c, ScalarType dtype) => new()
    {
        ["activation_type"] = "silu", ["alibi"] = false, ["alibi_bias_max"] = 8.0,
        ["architectures"] = new JsonArray("LLaDAModelLM"),
        ["attention_dropout"] = 0.0, ["attention_layer_norm"] = false, ["attention_layer_norm_with_affine"] = true,
        ["auto_map"] = new JsonObject
        {
            ["AutoConfig"] = "configuration_llada.LLaDAConfig", ["AutoModelForCausalLM"] = "modeling_llada.LLaDAModelLM",
            ["AutoModel"] = "modeling_llada.LLaDAModelLM",
        },
        ["bias_for_layer_norm"] = false, ["block_group_size"] = 1, ["block_type"] = "llama", ["d_model"] = c.DModel,
        ["embedding_dropout"] = 0.0, ["embedding_size"] = c.VocabSize, ["eos_token_id"] = c.EosTokenId, ["flash_attention"] = false,
        ["include_bias"] = false, ["include_qkv_bias"] = false, ["init_cutoff_factor"] = null, ["init_device"] = "meta",
        ["init_fn"] = "mitchell", ["init_std"] = 0.02, ["input_emb_norm"] = false, ["layer_norm_type"] = "rms",
        ["layer_norm_with_affine"] = true, ["mask_token_id"] = c.MaskTokenId, ["max_sequence_length"] = c.MaxSequenceLength,
        ["mlp_hidden_size"] = c.MlpHiddenSize, ["mlp_ratio"] = 4, ["model_type"] = "llada", ["multi_query_attention"] = null,
        ["n_heads"] = c.NHeads, ["n_kv_heads"] = c.NKvHeads, ["n_layers"] = c.NLayers, ["pad_token_id"] = c.PadTokenId,
        ["bos_token_id"] = c.BosTokenId,
        ["precision"] = dtype == ScalarType.BFloat16 ? "amp_bf16" : "fp32", ["residual_dropout"] = 0.0, ["rms_norm_eps"] = c.RmsNormEps,
        ["rope"] = true, ["rope_full_precision"] = true, ["rope_theta"] = c.RopeTheta, ["scale_logits"] = false,
        ["torch_dtype"] = dtype == ScalarType.BFloat16 ? "bfloat16" : "float32",
        ["use_cache"] = false, ["vocab_size"] = c.VocabSize, ["weight_tying"] = c.WeightTying,
    };
}
