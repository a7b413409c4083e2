using System.Text.Json.Nodes;
using DiffusionLM.Models;
using DiffusionLM.Models.Hf;
using DiffusionLM.Tests.Text;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Hf;

/// <summary>Writes tiny Hugging Face folders with random weights in the exact released layouts.</summary>
internal static class HfFixtures
{
    public static ByteLevelBpeTokenizer Tokenizer => TokenizerTestData.Shared;

    /// <summary>Random weights for every tensor of a spec: norm weights around 1, matrices of scale 0.2.</summary>
    public static Dictionary<string, Tensor> Random(IEnumerable<TensorSpec> spec, int seed)
    {
        using var g = new Generator((ulong)seed);
        var result = new Dictionary<string, Tensor>();
        foreach (var s in spec.Where(s => !s.Optional))
        {
            bool norm = s.Name.Contains("norm") || s.Name.EndsWith("ln_f.weight");
            var t = norm ? 1 + 0.1 * randn(s.Shape, generator: g) : 0.2 * randn(s.Shape, generator: g);
            result[s.Name] = t;
        }
        return result;
    }

    /// <summary>
    /// Writes config.json, the tensors in <paramref name="dtype"/> (one model.safetensors, or
    /// <paramref name="shards"/> shards with model.safetensors.index.json) and the shared tokenizer.json.
    /// Returns the tensors as stored, converted back to fp32 (bf16-rounded for bf16), for the naive reference.
    /// </summary>
    public static Dictionary<string, Tensor> Write(string dir, JsonObject config, Dictionary<string, Tensor> tensors, ScalarType dtype, int shards = 1,
        string? tokenizerConfig = null)
    {
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJsonString());
        Tokenizer.Save(Path.Combine(dir, "tokenizer.json"));
        if (tokenizerConfig is not null) File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), tokenizerConfig);
        var stored = tensors.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(dtype));
        if (shards == 1) SafeTensors.Save(Path.Combine(dir, "model.safetensors"), stored);
        else
        {
            var names = stored.Keys.Order(StringComparer.Ordinal).ToList();
            var map = new JsonObject();
            for (int s = 0; s < shards; s++)
            {
                var file = $"model-{s + 1:D5}-of-{shards:D5}.safetensors";
                var part = names.Where((_, i) => i % shards == s).ToDictionary(n => n, n => stored[n]);
                SafeTensors.Save(Path.Combine(dir, file), part);
                foreach (var n in part.Keys) map[n] = file;
            }
            File.WriteAllText(Path.Combine(dir, "model.safetensors.index.json"), new JsonObject { ["metadata"] = new JsonObject(), ["weight_map"] = map }.ToJsonString());
        }
        return stored.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float32));
    }

    public static JsonObject LladaConfig(int vocabRows, bool tied = false) => new()
    {
        ["model_type"] = "llada", ["architectures"] = new JsonArray("LLaDAModelLM"), ["activation_type"] = "silu", ["block_type"] = "llama",
        ["layer_norm_type"] = "rms", ["rope"] = true, ["alibi"] = false, ["include_bias"] = false, ["include_qkv_bias"] = false,
        ["d_model"] = 32, ["n_heads"] = 4, ["n_kv_heads"] = 2, ["n_layers"] = 2, ["mlp_hidden_size"] = 48, ["mlp_ratio"] = 4,
        ["vocab_size"] = Tokenizer.VocabSize, ["embedding_size"] = vocabRows, ["max_sequence_length"] = 256, ["rope_theta"] = 500000.0,
        ["rms_norm_eps"] = 1e-5, ["weight_tying"] = tied, ["mask_token_id"] = Tokenizer.Special.MaskId,
        ["eos_token_id"] = Tokenizer.Special.EosId, ["pad_token_id"] = Tokenizer.Special.PadId,
    };

    public static JsonObject DreamConfig() => new()
    {
        ["model_type"] = "Dream", ["architectures"] = new JsonArray("DreamModel"), ["hidden_act"] = "silu", ["hidden_size"] = 32,
        ["intermediate_size"] = 40, ["num_attention_heads"] = 4, ["num_key_value_heads"] = 2, ["num_hidden_layers"] = 2,
        ["vocab_size"] = Tokenizer.VocabSize, ["max_position_embeddings"] = 64, ["rms_norm_eps"] = 1e-6, ["rope_theta"] = 1000000.0,
        ["tie_word_embeddings"] = false, ["mask_token_id"] = Tokenizer.Special.MaskId, ["eos_token_id"] = Tokenizer.Special.EosId,
        ["pad_token_id"] = Tokenizer.Special.PadId, ["bos_token_id"] = Tokenizer.Special.BosId, ["rope_scaling"] = null,
        ["use_sliding_window"] = false,
    };

    /// <summary>MDLM with vocab_size = tokenizer + 1 (the mask row), as MDLM-OWT's 50258 = GPT-2's 50257 + 1.</summary>
    public static JsonObject MdlmConfig(bool timeConditioning) => new()
    {
        ["model_type"] = "mdlm", ["architectures"] = new JsonArray("MDLM"), ["hidden_dim"] = 32, ["cond_dim"] = 16, ["n_blocks"] = 2,
        ["n_heads"] = 4, ["vocab_size"] = Tokenizer.VocabSize + 1, ["model_length"] = 64, ["dropout"] = 0.1,
        ["time_conditioning"] = timeConditioning,
    };

    public static HfConfigJson Parse(JsonObject o, string name = "config.json") => new(name, o);
}
