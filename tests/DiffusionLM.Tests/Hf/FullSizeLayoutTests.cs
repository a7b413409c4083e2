using System.Text.Json.Nodes;
using DiffusionLM.Models;
using DiffusionLM.Models.Hf;
using Xunit;

namespace DiffusionLM.Tests.Hf;

/// <summary>
/// Every tensor name and shape of the full-size LLaDA-8B, Dream-7B and MDLM-OWT checkpoints, derived
/// from their real config.json values (fixtures below) without loading any weight, against a list the
/// test builds independently from the configs' numbers; and a sparse full-size LLaDA-8B shard set whose
/// headers the loader's check accepts.
/// </summary>
public class FullSizeLayoutTests
{
    /// <summary>GSAI-ML/LLaDA-8B-Instruct config.json (as mirrored in QuentinFitteRey/LLada-Reasoning, llada_local/config.json).</summary>
    const string Llada8b = """
    {"activation_type": "silu", "alibi": false, "alibi_bias_max": 8.0, "architectures": ["LLaDAModelLM"], "attention_dropout": 0.0,
     "attention_layer_norm": false, "attention_layer_norm_with_affine": true, "bias_for_layer_norm": false, "block_group_size": 1,
     "block_type": "llama", "d_model": 4096, "embedding_dropout": 0.0, "embedding_size": 126464, "eos_token_id": 126081,
     "flash_attention": false, "include_bias": false, "include_qkv_bias": false, "init_cutoff_factor": null, "init_device": "meta",
     "init_fn": "mitchell", "init_std": 0.02, "input_emb_norm": false, "layer_norm_type": "rms", "layer_norm_with_affine": true,
     "mask_token_id": 126336, "max_sequence_length": 4096, "mlp_hidden_size": 12288, "mlp_ratio": 4, "model_type": "llada",
     "multi_query_attention": null, "n_heads": 32, "n_kv_heads": 32, "n_layers": 32, "pad_token_id": 126081, "precision": "amp_bf16",
     "residual_dropout": 0.0, "rms_norm_eps": 1e-05, "rope": true, "rope_full_precision": true, "rope_theta": 500000.0,
     "scale_logits": false, "transformers_version": "4.46.3", "use_cache": false, "vocab_size": 126464, "weight_tying": false}
    """;

    /// <summary>Dream-org/Dream-v0-Instruct-7B config.json: the sizes (3584, 28 layers, 28/4 heads, 18944, 152064, eps 1e-6,
    /// θ 1e6, untied) as quoted in public Dream loaders; special ids from Dream's generation_config.json (151643) and mask 151666.</summary>
    const string Dream7b = """
    {"architectures": ["DreamModel"], "attention_dropout": 0.0, "bos_token_id": 151643, "eos_token_id": 151643, "hidden_act": "silu",
     "hidden_size": 3584, "initializer_range": 0.02, "intermediate_size": 18944, "mask_token_id": 151666, "max_position_embeddings": 131072,
     "max_window_layers": 28, "model_type": "Dream", "num_attention_heads": 28, "num_hidden_layers": 28, "num_key_value_heads": 4,
     "pad_token_id": 151643, "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000.0, "sliding_window": null,
     "tie_word_embeddings": false, "torch_dtype": "bfloat16", "use_cache": false, "use_sliding_window": false, "vocab_size": 152064}
    """;

    /// <summary>kuleshov-group/mdlm-owt config.json (the model fields).</summary>
    const string MdlmOwt = """
    {"architectures": ["MDLM"], "model_type": "mdlm", "vocab_size": 50258, "model_length": 1024, "hidden_dim": 768, "cond_dim": 128,
     "n_blocks": 12, "n_heads": 12, "dropout": 0.1, "time_conditioning": false, "var_min": true}
    """;

    static (ModelConfig, List<TensorSpec>) Describe(string json) => HfModels.Describe(new HfConfigJson("config.json", JsonNode.Parse(json)!.AsObject()));

    static void AssertSameSpec(Dictionary<string, long[]> expected, List<TensorSpec> actual)
    {
        var required = actual.Where(s => !s.Optional).ToList();
        Assert.Equal(expected.Count, required.Count);
        foreach (var s in required)
        {
            Assert.True(expected.TryGetValue(s.Name, out var shape), $"unexpected tensor {s.Name}");
            Assert.Equal(shape, s.Shape);
        }
    }

    [Fact]
    public void Llada8bNamesAndShapes()
    {
        var (config, spec) = Describe(Llada8b);
        Assert.Equal((126336, 126081, 126081), (config.MaskTokenId, config.EosTokenId, config.PadTokenId));
        var e = new Dictionary<string, long[]>
        {
            ["model.transformer.wte.weight"] = [126464, 4096], ["model.transformer.ln_f.weight"] = [4096],
            ["model.transformer.ff_out.weight"] = [126464, 4096],
        };
        for (int i = 0; i < 32; i++)
        {
            string p = $"model.transformer.blocks.{i}.";
            e[p + "attn_norm.weight"] = [4096]; e[p + "ff_norm.weight"] = [4096];
            e[p + "q_proj.weight"] = [4096, 4096]; e[p + "k_proj.weight"] = [4096, 4096]; e[p + "v_proj.weight"] = [4096, 4096];
            e[p + "attn_out.weight"] = [4096, 4096];
            e[p + "ff_proj.weight"] = [12288, 4096]; e[p + "up_proj.weight"] = [12288, 4096]; e[p + "ff_out.weight"] = [4096, 12288];
        }
        AssertSameSpec(e, spec);
        // 8.02 B parameters: LLaDA-8B.
        Assert.Equal(8_015_581_184L, spec.Sum(s => s.NumElements));
    }

    [Fact]
    public void Dream7bNamesAndShapes()
    {
        var (config, spec) = Describe(Dream7b);
        Assert.Equal(151666, config.MaskTokenId);
        var e = new Dictionary<string, long[]>
        {
            ["model.embed_tokens.weight"] = [152064, 3584], ["model.norm.weight"] = [3584], ["lm_head.weight"] = [152064, 3584],
        };
        for (int i = 0; i < 28; i++)
        {
            string p = $"model.layers.{i}.";
            e[p + "input_layernorm.weight"] = [3584]; e[p + "post_attention_layernorm.weight"] = [3584];
            e[p + "self_attn.q_proj.weight"] = [3584, 3584]; e[p + "self_attn.q_proj.bias"] = [3584];
            e[p + "self_attn.k_proj.weight"] = [512, 3584]; e[p + "self_attn.k_proj.bias"] = [512]; // 4 kv heads × 128
            e[p + "self_attn.v_proj.weight"] = [512, 3584]; e[p + "self_attn.v_proj.bias"] = [512];
            e[p + "self_attn.o_proj.weight"] = [3584, 3584];
            e[p + "mlp.gate_proj.weight"] = [18944, 3584]; e[p + "mlp.up_proj.weight"] = [18944, 3584]; e[p + "mlp.down_proj.weight"] = [3584, 18944];
        }
        AssertSameSpec(e, spec);
        Assert.Equal(7_615_616_512L, spec.Sum(s => s.NumElements)); // Qwen2.5-7B's count
    }

    [Fact]
    public void MdlmOwtNamesAndShapes()
    {
        var (config, spec) = Describe(MdlmOwt);
        Assert.Equal(50257, config.MaskTokenId); // = GPT-2's vocabulary size
        var e = new Dictionary<string, long[]>
        {
            ["backbone.vocab_embed.embedding"] = [50258, 768],
            ["backbone.sigma_map.mlp.0.weight"] = [128, 256], ["backbone.sigma_map.mlp.0.bias"] = [128],
            ["backbone.sigma_map.mlp.2.weight"] = [128, 128], ["backbone.sigma_map.mlp.2.bias"] = [128],
            ["backbone.output_layer.norm_final.weight"] = [768], ["backbone.output_layer.linear.weight"] = [50258, 768],
            ["backbone.output_layer.linear.bias"] = [50258], ["backbone.output_layer.adaLN_modulation.weight"] = [1536, 128],
            ["backbone.output_layer.adaLN_modulation.bias"] = [1536],
        };
        for (int i = 0; i < 12; i++)
        {
            string p = $"backbone.blocks.{i}.";
            e[p + "norm1.weight"] = [768]; e[p + "norm2.weight"] = [768];
            e[p + "attn_qkv.weight"] = [2304, 768]; e[p + "attn_out.weight"] = [768, 768];
            e[p + "mlp.0.weight"] = [3072, 768]; e[p + "mlp.0.bias"] = [3072]; e[p + "mlp.2.weight"] = [768, 3072]; e[p + "mlp.2.bias"] = [768];
            e[p + "adaLN_modulation.weight"] = [4608, 128]; e[p + "adaLN_modulation.bias"] = [4608];
        }
        AssertSameSpec(e, spec);
        Assert.Contains(spec, s => s.Name == "backbone.rotary_emb.inv_freq" && s.Optional && s.Shape.SequenceEqual(new long[] { 32 }));
    }

    /// <summary>
    /// Sparse shards (headers written, data left as holes: no disk used) with LLaDA-8B's exact names,
    /// shapes and bf16 dtype pass the loader's header check, which reads no data.
    /// </summary>
    [Fact]
    public void SparseFullSizeLladaShardsPassTheHeaderCheck()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["config.json"], Llada8b);
        var (_, spec) = Describe(Llada8b);
        var map = new JsonObject();
        var groups = spec.Select((s, i) => (s, i)).GroupBy(p => p.i % 6).ToList();
        foreach (var g in groups)
        {
            var file = $"model-{g.Key + 1:D5}-of-00006.safetensors";
            SparseShard.Write(dir[file], g.Select(p => p.s).ToList(), "BF16", 2);
            foreach (var (s, _) in g) map[s.Name] = file;
        }
        File.WriteAllText(dir["model.safetensors.index.json"], new JsonObject { ["weight_map"] = map }.ToJsonString());
        var (config, tensors) = HfModels.Check(dir.Path);
        Assert.Equal(291, tensors.Count);
        Assert.Equal(8_015_581_184L, tensors.Values.Sum(t => t.NumElements));
        Assert.All(tensors.Values, t => Assert.Equal("BF16", t.DType));
    }
}

/// <summary>Writes a safetensors header and extends the file to its full length without writing the data.</summary>
internal static class SparseShard
{
    public static void Write(string path, IReadOnlyList<TensorSpec> tensors, string dtype, int elementSize)
    {
        var header = new JsonObject();
        long offset = 0;
        foreach (var t in tensors)
        {
            long bytes = t.NumElements * elementSize;
            header[t.Name] = new JsonObject { ["dtype"] = dtype, ["shape"] = new JsonArray(t.Shape.Select(d => (JsonNode)d).ToArray()), ["data_offsets"] = new JsonArray(offset, offset + bytes) };
            offset += bytes;
        }
        var json = System.Text.Encoding.UTF8.GetBytes(header.ToJsonString());
        using var f = File.Create(path);
        f.Write(BitConverter.GetBytes((ulong)json.Length));
        f.Write(json);
        f.SetLength(8 + json.Length + offset);
    }
}
