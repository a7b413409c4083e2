using System.Globalization;
using System.Text;
using System.Text.Json;
using System.CommandLine;
using DiffusionLM.Models;
using DiffusionLM.Models.Hf;
using DiffusionLM.Text.Chat;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Cli.Commands;

public static class InspectCommand
{
    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var ids = new Option<string?>("--ids") { Description = "comma-separated token ids: print the logits of one forward pass over them as {\"logits\": [[...], ...]} (one row per position, as the model's reference code defines them: Dream's unshifted, MDLM's SUBS log-probabilities)" };
        var json = new Option<bool>("--json") { Description = "print the description (and logits) as one JSON object" };
        var cmd = new Command("inspect", "Describe a model folder (ours or Hugging Face LLaDA/Dream/MDLM): architecture, parameters, dtype, memory; optionally the logits of one forward pass for parity checks.")
        {
            model, ids, json,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            using var loaded = ModelLoader.Load(ModelLocator.Resolve(r.GetValue(model)));
            var m = loaded.Model;
            var c = m.Config;
            var hf = m as IHfDenoiser;
            long parameters = hf?.Weights.ParameterCount ?? ((LladaModel)m).ParameterCount();
            long bytes = hf?.Weights.Bytes ?? parameters * 4;
            string dtype = hf?.Weights.DTypeSummary ?? $"Float32 ({parameters:N0} params)";
            var chat = ChatTemplate.Load(loaded.Folder);
            var info = new
            {
                folder = loaded.Folder,
                family = hf?.Family ?? "dlm",
                architecture = hf is null ? "LladaModel (project checkpoint)" : m.GetType().Name,
                d_model = c.DModel, n_layers = c.NLayers, n_heads = c.NHeads, n_kv_heads = c.NKvHeads, mlp_hidden_size = c.MlpHiddenSize,
                vocab_size = c.VocabSize, tokenizer_vocab = loaded.Tokenizer.VocabSize, context = c.MaxSequenceLength, rope_theta = c.RopeTheta,
                mask_token_id = c.MaskTokenId, eos_token_id = c.EosTokenId, pad_token_id = c.PadTokenId,
                time_conditioning = c.TimeConditioning, parameters, dtype, weight_bytes = bytes, chat_template = chat is not null,
            };
            float[][]? logits = null;
            var idText = r.GetValue(ids);
            if (idText is not null)
            {
                var list = idText.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(s =>
                    long.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) && v >= 0 && v < c.VocabSize ? v
                    : throw new DlmException($"--ids: \"{s}\" is not a token id below the vocabulary size {c.VocabSize}")).ToArray();
                if (list.Length == 0) throw new DlmException("--ids: give at least one id");
                if (list.Length > c.MaxSequenceLength) throw new DlmException($"--ids: {list.Length} ids, more than the model's context of {c.MaxSequenceLength} tokens");
                using var scope = NewDisposeScope();
                using var _ = no_grad();
                var input = tensor(list).unsqueeze(0);
                // Time-conditioned models need a time: t = 1 (all masked) is where generation starts.
                Tensor? time = c.TimeConditioning ? ones(1) : null;
                // A gaussian model reads ids through its process, which knows the input scale at that time.
                var outp = hf is not null ? hf.ModelLogits(input, null, time)
                    : c.IsGaussian ? Corruption.GaussianProcess.ForModel(c, m).LogitsOfIds(m, input, null, time)
                    : m.Logits(input, null, time);
                var flat = outp.squeeze(0).to_type(ScalarType.Float32).contiguous();
                int v = (int)flat.shape[1];
                var data = flat.data<float>().ToArray();
                logits = Enumerable.Range(0, list.Length).Select(i => data.AsSpan(i * v, v).ToArray()).ToArray();
            }
            if (r.GetValue(json))
            {
                var node = JsonSerializer.SerializeToNode(info)!.AsObject();
                if (logits is not null) node["logits"] = JsonSerializer.SerializeToNode(logits);
                Io.Out.WriteLine(node.ToJsonString());
                return 0;
            }
            if (logits is not null) { Io.Out.WriteLine(JsonSerializer.Serialize(new { logits })); return 0; }
            var sb = new StringBuilder();
            sb.AppendLine($"{info.architecture} ({info.family}) in {info.folder}");
            sb.AppendLine($"  d_model {c.DModel}, {c.NLayers} layers, {c.NHeads} heads ({c.NKvHeads} key/value), MLP {c.MlpHiddenSize}, RoPE θ {c.RopeTheta}");
            sb.AppendLine($"  vocabulary {c.VocabSize} (tokenizer {loaded.Tokenizer.VocabSize}), context {c.MaxSequenceLength}");
            sb.AppendLine($"  mask {c.MaskTokenId}, eos {c.EosTokenId}, pad {c.PadTokenId}{(c.TimeConditioning ? ", time-conditioned" : "")}");
            sb.AppendLine($"  parameters {parameters:N0}; dtype {dtype}; weights {bytes / 1e9:F2} GB in memory");
            sb.Append($"  chat template: {(chat is null ? "none" : "yes")}");
            Io.Out.WriteLine(sb.ToString());
            return 0;
        }));
        return cmd;
    }
}
