using System.CommandLine;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Models.Hf;
using DiffusionLM.Text.Chat;

namespace DiffusionLM.Cli.Commands;

/// <summary>dlm import hf: checks a Hugging Face folder and copies what DiffusionLM reads into a new folder.</summary>
public static class ImportHfCommand
{
    /// <summary>The files of a Hugging Face folder DiffusionLM reads (plus the shards the index names).</summary>
    static readonly string[] DataFiles =
        ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
         SafeTensors.SingleFileName, SafeTensors.IndexFileName];

    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "a Hugging Face model folder (LLaDA, Dream or MDLM: config.json, safetensors shards, tokenizer.json)", Required = true };
        var outDir = new Option<string>("--out") { Description = "the folder to create (atomically; an earlier output of dlm there is replaced only with --force)", Required = true };
        var force = OutputOptions.Force();
        var hf = new Command("hf", "Check a Hugging Face folder (config, every tensor name and shape, tokenizer, chat template) and copy its data files into --out. DiffusionLM also reads such folders in place: --model accepts them directly.")
        {
            from, outDir, force,
        };
        hf.SetAction(r => Io.Guard(() =>
        {
            var src = r.GetValue(from)!;
            using var output = OutputFolder.Claim(r.GetValue(outDir)!, "import hf", OutputOptions.Existing(r.GetValue(force)), [src]);
            var (config, tensors) = HfModels.Check(src);
            using (HfModels.LoadTokenizer(src, config)) { }
            var chat = ChatTemplate.Load(src);
            var files = DataFiles.Where(f => File.Exists(Path.Combine(src, f)))
                .Concat(tensors.Values.Select(t => Path.GetFileName(t.File))).Distinct().ToList();
            AtomicDirectory.Write(r.GetValue(outDir)!, tmp =>
            {
                foreach (var f in files) File.Copy(Path.Combine(src, f), Path.Combine(tmp, f));
            });
            long count = tensors.Values.Sum(t => t.NumElements);
            Io.Out.WriteLine($"imported {config.ModelType}: {tensors.Count} tensors, {count:N0} parameters, {files.Count} files{(chat is null ? "" : ", chat template")} → {r.GetValue(outDir)}");
            return 0;
        }));
        return hf;
    }
}
