using System.CommandLine;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Models.Llada;
using static TorchSharp.torch;

namespace DiffusionLM.Cli.Commands;

/// <summary>dlm export hf: one of our trained masked models in LLaDA's Hugging Face layout.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var outDir = new Option<string>("--out") { Description = "the folder to write (atomically; an earlier output of dlm there is replaced only with --force)", Required = true };
        var force = OutputOptions.Force();
        var dtype = new Option<string>("--dtype") { Description = "tensor dtype: fp32 or bf16", DefaultValueFactory = _ => "fp32" };
        var hf = new Command("hf", "Write a project checkpoint in LLaDA's Hugging Face layout (config.json with model_type \"llada\", LLaDA's tensor names, tokenizer.json). Python loads it with LLaDA's configuration_llada.py and modeling_llada.py copied into the folder (trust_remote_code=True).")
        {
            model, outDir, dtype, force,
        };
        hf.SetAction(r => Io.Guard(() =>
        {
            var type = r.GetValue(dtype) switch
            {
                "fp32" => ScalarType.Float32, "bf16" => ScalarType.BFloat16,
                var s => throw new DlmException($"--dtype must be fp32 or bf16, not \"{s}\""),
            };
            var dir = ModelLocator.Resolve(r.GetValue(model));
            using var output = OutputFolder.Claim(r.GetValue(outDir)!, "export hf", OutputOptions.Existing(r.GetValue(force)), [dir]);
            var (m, tokenizer) = Checkpoint.Load(dir);
            using var _ = m;
            LladaHfExport.Export(m, tokenizer, r.GetValue(outDir)!, type);
            Io.Out.WriteLine($"exported {dir} → {r.GetValue(outDir)} (LLaDA layout, {r.GetValue(dtype)})");
            return 0;
        }));
        return new Command("export", "Write project models in other tools' layouts.") { hf, ExportGgufCommand.Create() };
    }
}
