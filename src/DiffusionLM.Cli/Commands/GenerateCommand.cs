using System.CommandLine;
using System.Text.Json;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using TorchSharp;

namespace DiffusionLM.Cli.Commands;

public static class GenerateCommand
{
    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var prompt = new Option<string>("--prompt") { Description = "the prompt text (\"\" for none)", Required = true };
        var genLength = new Option<int>("--gen-length") { Description = "tokens to generate", DefaultValueFactory = _ => 128 };
        var steps = new Option<int>("--steps") { Description = "denoising steps in all (divided evenly over the blocks)", DefaultValueFactory = _ => 128 };
        var blockLength = new Option<int?>("--block-length") { Description = "semi-autoregressive block length (default: --gen-length, one block)" };
        var temperature = new Option<double>("--temperature") { Description = "0: greedy; > 0: Gumbel-max sampling at this temperature", DefaultValueFactory = _ => 0.0 };
        var sampler = new Option<string>("--sampler") { Description = "sampler: " + string.Join("; ", SamplerRegistry.All.Select(e => $"{e.Name} ({e.Description})")), DefaultValueFactory = _ => "llada" };
        var remasking = new Option<string>("--remasking") { Description = "which predictions to commit each step: low_confidence (most confident first) or random", DefaultValueFactory = _ => "low_confidence" };
        var cfg = new Option<double>("--cfg") { Description = "unsupervised classifier-free guidance scale (0: off)", DefaultValueFactory = _ => 0.0 };
        var seed = new Option<long>("--seed") { Description = "seed of the sampler's random draws", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "print {\"text\", \"ids\", \"trace\"}: the trace lists the positions committed at each step with their confidence" };

        var cmd = new Command("generate", "Generate a continuation of a prompt with LLaDA's low-confidence (or random) remasking sampler; a causal model (config \"causal\": true) is decoded left to right with a key/value cache instead.")
        {
            model, prompt, sampler, genLength, steps, blockLength, temperature, remasking, cfg, seed, json,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            var settings = new SamplerSettings(
                GenLength: r.GetValue(genLength), Steps: r.GetValue(steps), BlockLength: r.GetValue(blockLength),
                Temperature: r.GetValue(temperature), Remasking: r.GetValue(remasking)!, CfgScale: r.GetValue(cfg));
            var chosen = SamplerRegistry.Create(r.GetValue(sampler)!, settings);
            using var loaded = ModelLoader.Load(ModelLocator.Resolve(r.GetValue(model)));
            var (m, tokenizer) = (loaded.Model, loaded.Tokenizer);
            // A causal model (an imported llama2.c teacher) is decoded left to right, not by a diffusion sampler.
            if (m.Config.Causal)
                return CausalGenerate.Run(m, tokenizer, r.GetValue(prompt)!, settings.GenLength, settings.Temperature, r.GetValue(seed), r.GetValue(json));
            var promptIds = tokenizer.Encode(r.GetValue(prompt)!).Select(i => (long)i).ToArray();
            int context = m.Config.MaxSequenceLength;
            if (promptIds.Length + settings.GenLength > context)
                throw new DlmException($"the prompt is {promptIds.Length} tokens and --gen-length {settings.GenLength}: {promptIds.Length + settings.GenLength} in all, longer than the model's context of {context} tokens");
            using var g = new torch.Generator((ulong)r.GetValue(seed));
            var result = chosen.Generate(m, [promptIds], g);
            var completion = result.Completions[0];
            // The answer ends at the first eos: what follows is padding the model was trained to emit.
            int end = Array.IndexOf(completion, (long)m.Config.EosTokenId);
            var visible = end < 0 ? completion : completion[..end];
            string text = tokenizer.Decode(visible.Select(i => (int)i));
            if (!r.GetValue(json)) { Io.Out.WriteLine(text); return 0; }
            var payload = new
            {
                text,
                ids = completion,
                prompt_ids = promptIds,
                nfe = result.Nfe,
                trace = result.Trace.Select(s => new
                {
                    step = s.Index, block = s.Block,
                    commits = s.Commits.Select(c => new { position = c.Position - result.PromptLength, token = c.Token, text = tokenizer.TokenText((int)c.Token), confidence = c.Confidence }),
                }),
            };
            Io.Out.WriteLine(JsonSerializer.Serialize(payload));
            return 0;
        }));
        return cmd;
    }
}
