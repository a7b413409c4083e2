using System.CommandLine;
using DiffusionLM.IO;
using DiffusionLM.Import;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm import llama2c`: a llama2.c checkpoint and tokenizer become a model folder of the project.</summary>
public static class ImportLlama2cCommand
{
    public static Command Create()
    {
        var checkpoint = new Option<string>("--checkpoint") { Description = "llama2.c checkpoint, legacy version 0 (e.g. data/models/stories260K/stories260K.bin)", Required = true };
        var tokenizer = new Option<string>("--tokenizer") { Description = "llama2.c tokenizer file of the same vocabulary (e.g. data/models/stories260K/tok512.bin)", Required = true };
        var outDir = new Option<string>("--out") { Description = "model folder to write (config.json, model.safetensors, tokenizer.json); an earlier output of dlm there is replaced only with --force", Required = true };
        var force = OutputOptions.Force();
        var llama2c = new Command("llama2c",
            "Convert a llama2.c checkpoint (karpathy/llama2.c v0 .bin) and its tokenizer into a causal model folder. " +
            "wq/wk rows are permuted from llama2.c's adjacent-pair RoPE to rotate-half; the tokenizer keeps llama2.c's score-ordered BPE.")
        {
            checkpoint, tokenizer, outDir, force,
        };
        llama2c.SetAction(r => Io.Guard(() =>
        {
            using var output = OutputFolder.Claim(r.GetValue(outDir)!, "import llama2c", OutputOptions.Existing(r.GetValue(force)), [r.GetValue(checkpoint), r.GetValue(tokenizer)]);
            var (config, tok) = Llama2cImporter.Import(r.GetValue(checkpoint)!, r.GetValue(tokenizer)!, r.GetValue(outDir)!);
            Io.Out.WriteLine($"wrote {r.GetValue(outDir)}: causal model, d_model {config.DModel}, {config.NLayers} layers, {config.NHeads} heads ({config.NKvHeads} kv), " +
                $"vocab {config.VocabSize} ({(config.WeightTying ? "tied" : "untied")} classifier), context {config.MaxSequenceLength}; tokenizer of {tok.VocabSize} pieces");
            return 0;
        }));
        return llama2c;
    }
}
