using System.CommandLine;
using DiffusionLM.Models;
using DiffusionLM.Models.Gguf;
using DiffusionLM.Models.Hf;
using DiffusionLM.Models.Llada;

namespace DiffusionLM.Cli.Commands;

/// <summary>dlm export gguf: a LLaDA-architecture model (ours or an imported Hugging Face LLaDA) as a GGUF file for llama.cpp.</summary>
public static class ExportGgufCommand
{
    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var outFile = new Option<string>("--out") { Description = "the .gguf file to write (replaced atomically if it exists)", Required = true };
        var dtype = new Option<string>("--dtype") { Description = "weight matrices as f32, f16 or q8_0 (norms stay f32)", DefaultValueFactory = _ => "f32" };
        var pre = new Option<string?>("--tokenizer-pre") { Description = "llama.cpp's pre-tokenizer name, for a Hugging Face tokenizer.json that is not GPT-2's plain ByteLevel" };
        var cmd = new Command("gguf", "Write a LLaDA-architecture model as GGUF v3 for llama.cpp's \"llada\" architecture (non-causal, tokenizer included, Q/K rows permuted for ggml's RoPE).")
        {
            model, outFile, dtype, pre,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            var type = r.GetValue(dtype) switch
            {
                "f32" => GgufDType.F32, "f16" => GgufDType.F16, "q8_0" => GgufDType.Q8_0,
                var s => throw new DlmException($"--dtype must be f32, f16 or q8_0, not \"{s}\""),
            };
            var dir = ModelLocator.Resolve(r.GetValue(model));
            var output = r.GetValue(outFile)!;
            if (Directory.Exists(output)) throw new DlmException($"--out {output}: is a folder; give the path of a .gguf file");
            string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(dir)));
            string? template = Text.Chat.ChatTemplate.Load(dir)?.Text;
            GgufExportResult result;
            switch (Directory.Exists(dir) ? HfModels.Family(dir) : null)
            {
                case "llada":
                {
                    using var m = LladaHfModel.Load(dir, HfConfigJson.Load(Path.Combine(dir, "config.json")));
                    result = LladaGgufExport.Export(m, Path.Combine(dir, HfModels.TokenizerFile), output, type, name, r.GetValue(pre), template);
                    break;
                }
                case string other:
                    throw new DlmException($"{dir}: a {other} model; GGUF export writes LLaDA-architecture models only");
                default:
                {
                    var (m, tokenizer) = Checkpoint.Load(dir);
                    using var _ = m;
                    result = LladaGgufExport.Export(m, tokenizer, output, type, name, template);
                    break;
                }
            }
            Io.Out.WriteLine($"exported {dir} → {output} (llada, {r.GetValue(dtype)}, {result.Tensors} tensors, {result.Bytes / 1e6:F1} MB)");
            if (result.KeptF16.Count > 0) Io.Out.WriteLine($"kept in f16 (rows not a multiple of 32): {string.Join(", ", result.KeptF16)}");
            return 0;
        }));
        return cmd;
    }
}
