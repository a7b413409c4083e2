using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionLM.Models;
using DiffusionLM.Models.Hf;
using DiffusionLM.Models.Llada;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Cli.Commands;

/// <summary>
/// dlm bench llada8b: peak memory and time of one forward pass of the full-size LLaDA-8B architecture
/// (its real config.json values) with random bf16 weights made in memory on the fly, computed as real
/// checkpoints are: weights kept bf16, each matrix converted into one reused fp32 buffer before its matmul,
/// with the forward's matmul bound (its FLOPs at the same run's fp32 matmul rate) beside it.
/// </summary>
public static class BenchLladaCommand
{
    /// <summary>GSAI-ML/LLaDA-8B-Instruct's config.json (the fields that shape the network).</summary>
    public const string Llada8bConfig = """
    {"activation_type": "silu", "alibi": false, "architectures": ["LLaDAModelLM"], "attention_layer_norm": false,
     "bias_for_layer_norm": false, "block_type": "llama", "d_model": 4096, "embedding_size": 126464, "eos_token_id": 126081,
     "include_bias": false, "include_qkv_bias": false, "input_emb_norm": false, "layer_norm_type": "rms", "layer_norm_with_affine": true,
     "mask_token_id": 126336, "max_sequence_length": 4096, "mlp_hidden_size": 12288, "mlp_ratio": 4, "model_type": "llada",
     "multi_query_attention": null, "n_heads": 32, "n_kv_heads": 32, "n_layers": 32, "pad_token_id": 126081, "rms_norm_eps": 1e-05,
     "rope": true, "rope_full_precision": true, "rope_theta": 500000.0, "scale_logits": false, "vocab_size": 126464, "weight_tying": false}
    """;

    public static Command Create()
    {
        var tokens = new Option<int>("--seq-len") { Description = "sequence length of the forward pass", DefaultValueFactory = _ => 64 };
        var layers = new Option<int?>("--layers") { Description = "run only this many of the 32 layers (when memory is short); time and memory are reported for that many" };
        var seed = new Option<long>("--seed") { Description = "seed of the random weights", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "print the figures as JSON" };
        var cmd = new Command("llada8b", "Peak memory (VmHWM) and time of one forward pass of LLaDA-8B's architecture with random bf16 weights made on the fly (nothing is read or written).")
        {
            tokens, layers, seed, json,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            var node = JsonNode.Parse(Llada8bConfig)!.AsObject();
            // Before the 16 GB of random weights are made: a length of 0 is no forward pass, one beyond the context not LLaDA's.
            int context = node["max_sequence_length"]!.GetValue<int>();
            int len = r.GetValue(tokens);
            if (len <= 0 || len > context) throw new DlmException($"--seq-len {len}: must be in 1..{context} (LLaDA-8B's context)");
            if (r.GetValue(layers) is int n)
            {
                if (n <= 0 || n > 32) throw new DlmException("--layers must be between 1 and 32");
                node["n_layers"] = n;
            }
            var (config, dims) = LladaHfModel.ReadConfig(new HfConfigJson("LLaDA-8B config.json", node));
            long rssStart = PeakRssBytes();
            var sw = Stopwatch.StartNew();
            using var g = new Generator((ulong)r.GetValue(seed));
            var tensors = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var spec in LladaHfModel.Spec(dims))
            {
                var t = empty(spec.Shape, ScalarType.BFloat16);
                // Norm weights near 1, matrices of LLaDA's init scale: a plausible activation range.
                if (spec.Shape.Length == 1) t.fill_(1.0); else t.uniform_(-0.02, 0.02, g);
                tensors[spec.Name] = t;
            }
            double makeSeconds = sw.Elapsed.TotalSeconds;
            using var model = new LladaHfModel(config, dims, WeightStore.FromTensors(tensors, "random"));
            long rssWeights = CurrentRssBytes();
            using var ids = randint(0, config.VocabSize, [1, r.GetValue(tokens)], generator: g);
            sw.Restart();
            using (var scope = NewDisposeScope()) { model.Logits(ids); }
            double forwardSeconds = sw.Elapsed.TotalSeconds;
            long peak = PeakRssBytes();
            // The bound: the forward's FLOPs at this run's fp32 matmul rate, measured on the forward's own widest
            // matmul ([tokens, d_model] · [mlp, d_model]ᵀ), after the forward so its memory is not in the peak.
            double rate = MatmulRate(len, config.DModel, config.MlpHiddenSize, g);
            double flops = FlopCount.Forward(config, 1, len);
            double boundSeconds = flops / rate;
            var figures = new
            {
                layers = config.NLayers, tokens = r.GetValue(tokens), parameters = model.Weights.ParameterCount, weight_bytes = model.Weights.Bytes,
                make_weights_seconds = makeSeconds, forward_seconds = forwardSeconds, forward_flops = flops,
                matmul_gflops = rate / 1e9, matmul_bound_seconds = boundSeconds, forward_over_bound = forwardSeconds / boundSeconds,
                rss_after_weights_bytes = rssWeights,
                peak_rss_bytes = peak, peak_rss_before_bytes = rssStart, threads = get_num_threads(),
            };
            if (r.GetValue(json)) { Io.Out.WriteLine(JsonSerializer.Serialize(figures)); return 0; }
            Io.Out.WriteLine($"LLaDA-8B architecture, {config.NLayers} layers, {figures.parameters:N0} parameters in bf16 ({figures.weight_bytes / 1e9:F2} GB)");
            Io.Out.WriteLine($"random weights made in {makeSeconds:F1} s; RSS {rssWeights / 1e9:F2} GB once they exist");
            Io.Out.WriteLine($"one forward pass of {figures.tokens} tokens: {forwardSeconds:F1} s ({get_num_threads()} threads)");
            Io.Out.WriteLine($"its {flops / 1e12:F2} TFLOP at this run's fp32 matmul rate ({rate / 1e9:F1} GFLOP/s on {len}×{config.DModel} · {config.DModel}×{config.MlpHiddenSize}): {boundSeconds:F1} s; forward ÷ matmul bound {forwardSeconds / boundSeconds:F2}");
            Io.Out.WriteLine($"peak RSS (VmHWM) {peak / 1e9:F2} GB");
            return 0;
        }));
        return cmd;
    }

    /// <summary>FLOP/s of an fp32 linear [1, tokens, inner] · [outer, inner]ᵀ: the median of three after a warm-up.</summary>
    static double MatmulRate(int tokens, int inner, int outer, Generator g)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var x = randn([1, tokens, inner], generator: g);
        var w = randn([outer, inner], generator: g);
        nn.functional.linear(x, w).Dispose();
        var times = new double[3];
        for (int i = 0; i < times.Length; i++)
        {
            var sw = Stopwatch.StartNew();
            nn.functional.linear(x, w).Dispose();
            times[i] = sw.Elapsed.TotalSeconds;
        }
        Array.Sort(times);
        return 2.0 * tokens * inner * outer / times[1];
    }

    static long StatusField(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]) * 1024;
        return -1;
    }

    static long PeakRssBytes() => StatusField("VmHWM");
    static long CurrentRssBytes() => StatusField("VmRSS");
}
