using System.CommandLine;
using System.Text.Json;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Serving;
using DiffusionLM.Text;
using DiffusionLM.Text.Chat;
using TorchSharp;

namespace DiffusionLM.Cli.Commands;

public static class GenerateCommand
{
    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var prompt = new Option<string?>("--prompt") { Description = "the prompt text (\"\" for none); or --prompts FILE" };
        var prompts = new Option<string?>("--prompts") { Description = "generate for every prompt of a file: one per line, or JSON lines {\"prompt\": ..., optional settings: sampler, gen_length, steps, block_length, temperature, remasking, threshold, cfg, cache, chat}; writes one JSON object per sample" };
        var numSamples = new Option<int>("--num-samples") { Description = "with --prompts: samples per prompt", DefaultValueFactory = _ => 1 };
        var batchSize = new Option<int>("--batch-size") { Description = "with --prompts: rows generated together in one batch", DefaultValueFactory = _ => 8 };
        var outFile = new Option<string?>("--out") { Description = "with --prompts: the JSON-lines file to write (atomically); default: standard output" };
        var timings = new Option<bool>("--timings") { Description = "with --prompts: add each sample's batch wall time (\"seconds\"); without it the same seed writes the same file byte for byte" };
        var genLength = new Option<int>("--gen-length") { Description = "tokens to generate", DefaultValueFactory = _ => 128 };
        var steps = new Option<int>("--steps") { Description = "denoising steps in all (divided evenly over the blocks)", DefaultValueFactory = _ => 128 };
        var blockLength = new Option<int?>("--block-length") { Description = "semi-autoregressive block length (default: --gen-length, one block)" };
        var temperature = new Option<double>("--temperature") { Description = "0: greedy; > 0: Gumbel-max sampling at this temperature", DefaultValueFactory = _ => 0.0 };
        var sampler = new Option<string?>("--sampler") { Description = "sampler (default: llada for masked models, the family's own for uniform and gaussian ones): " + string.Join("; ", SamplerRegistry.All.Select(e => $"{e.Name} [{e.Family}] ({e.Description})")) };
        var remasking = new Option<string>("--remasking") { Description = "which predictions to commit each step: low_confidence (most confident first) or random", DefaultValueFactory = _ => "low_confidence" };
        var cfg = new Option<double>("--cfg") { Description = "unsupervised classifier-free guidance scale (0: off)", DefaultValueFactory = _ => 0.0 };
        var seed = new Option<long>("--seed") { Description = "seed of the sampler's random draws", DefaultValueFactory = _ => 0 };
        var chat = new Option<bool>("--chat") { Description = "wrap the prompt as a user message in the model's chat template (tokenizer_config.json's chat_template) with the assistant turn opened" };
        var logitsEosInf = new Option<bool>("--logits-eos-inf") { Description = "LLaDA's logits_eos_inf: EOS logit set to -inf before sampling, so EOS is never generated (eos id from config.json)" };
        var confEosEotInf = new Option<bool>("--confidence-eos-eot-inf") { Description = "LLaDA's confidence_eos_eot_inf as its code really behaves (see LladaSamplerOptions): after the argmax, the EoT column (and at temperature 0 the EOS column) leaves the softmax, so positions predicting them are committed last" };
        var eotId = new Option<int?>("--eot-id") { Description = "end-of-turn id for --confidence-eos-eot-inf (default: the tokenizer's <|eot_id|> or <|im_end|>)" };
        var threshold = new Option<double?>("--threshold") { Description = $"fast_dllm_threshold / dependency_aware: commit predictions at least this confident (default {new FastDllmOptions().Threshold})" };
        var factor = new Option<double?>("--factor") { Description = "fast_dllm_factor: the n-th most confident is committed while >= 1 - factor/(n+1) (default 1)" };
        var alg = new Option<string?>("--alg") { Description = "dream: unmasking order origin | maskgit_plus | topk_margin | entropy (default origin)" };
        var algTemp = new Option<double?>("--alg-temp") { Description = "dream: draw the positions from softmax(confidence / alg_temp) instead of taking the best" };
        var topP = new Option<double?>("--top-p") { Description = "dream, mdlm, remdm: nucleus filtering of the token distribution" };
        var topK = new Option<int?>("--top-k") { Description = "dream: top-k filtering of the token distribution" };
        var eps = new Option<double?>("--eps") { Description = "dream (1e-3), mdlm and remdm (1e-5): last point of the time grid" };
        var remdmStrategy = new Option<string?>("--remdm-strategy") { Description = "remdm: cap | rescale | conf | loop (default cap)" };
        var eta = new Option<double?>("--eta") { Description = "remdm: remasking rate η (0.008; loop 0.02)" };
        var tOn = new Option<double?>("--t-on") { Description = "remdm loop: start of the remasking plateau (0.55)" };
        var tOff = new Option<double?>("--t-off") { Description = "remdm loop: end of the plateau (0.05)" };
        var alphaOn = new Option<double?>("--alpha-on") { Description = "remdm loop: α held on the plateau (0.9)" };
        var candidates = new Option<int?>("--candidates") { Description = "dependency_aware: most tokens probed per position (default 8; 0 = no probe: Fast-dLLM's threshold rule)" };
        var probes = new Option<int?>("--probes") { Description = "dependency_aware: most positions probed per call, the least certain (default 8)" };
        var anchorsPerStep = new Option<int?>("--anchors-per-step") { Description = "dependency_aware: most independent uncertain positions drawn per step (default 0 = no limit)" };
        var cache = new Option<string>("--cache") { Description = CacheModes.Help + $" (samplers: {string.Join(", ", SamplerRegistry.All.Where(e => e.Cacheable).Select(e => e.Name))})", DefaultValueFactory = _ => "none" };
        var gamma = new Option<double?>("--gamma") { Description = $"eb / uniform_eb: entropy budget in nats per step (default {new EntropyBoundOptions().Gamma}; 0 = one token per step)" };
        var clamp = new Option<bool>("--clamp") { Description = "gaussian_ddpm / gaussian_ddim: Diffusion-LM's clamping trick, the x0 estimate snapped to the nearest token embedding at every step" };
        var allowSpecial = PromptOptions.AllowSpecialTokens();
        var json = new Option<bool>("--json") { Description = "print {\"text\", \"ids\", \"trace\"}: the trace lists the positions committed at each step with their confidence" };

        var cmd = new Command("generate", "Generate a continuation of a prompt with LLaDA's low-confidence (or random) remasking sampler; a causal model (config \"causal\": true) is decoded left to right with a key/value cache instead.")
        {
            model, prompt, prompts, numSamples, batchSize, outFile, timings, sampler, genLength, steps, blockLength, temperature, remasking, cfg, seed, json, chat, logitsEosInf, confEosEotInf, eotId,
            threshold, factor, alg, algTemp, topP, topK, eps, remdmStrategy, eta, tOn, tOff, alphaOn, candidates, probes, anchorsPerStep, clamp, allowSpecial, cache, gamma,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            using var loaded = ModelLoader.Load(ModelLocator.Resolve(r.GetValue(model)));
            var (m, tokenizer) = (loaded.Model, loaded.Tokenizer);
            int? eot = r.GetValue(eotId) ?? (tokenizer as HfTokenizer)?.Find("<|eot_id|>") ?? (tokenizer as HfTokenizer)?.Find("<|im_end|>");
            var settings = new SamplerSettings(
                GenLength: r.GetValue(genLength), Steps: r.GetValue(steps), BlockLength: r.GetValue(blockLength),
                Temperature: r.GetValue(temperature), Remasking: r.GetValue(remasking)!, CfgScale: r.GetValue(cfg),
                LogitsEosInf: r.GetValue(logitsEosInf), ConfidenceEosEotInf: r.GetValue(confEosEotInf), EosId: m.Config.EosTokenId, EotId: eot)
            {
                Threshold = r.GetValue(threshold), Factor = r.GetValue(factor), Alg = r.GetValue(alg), AlgTemp = r.GetValue(algTemp),
                TopP = r.GetValue(topP), TopK = r.GetValue(topK), Eps = r.GetValue(eps), RemdmStrategy = r.GetValue(remdmStrategy),
                Eta = r.GetValue(eta), TOn = r.GetValue(tOn), TOff = r.GetValue(tOff), AlphaOn = r.GetValue(alphaOn),
                Candidates = r.GetValue(candidates), Probes = r.GetValue(probes), AnchorsPerStep = r.GetValue(anchorsPerStep), Clamp = r.GetValue(clamp),
                Cache = CacheModes.Parse(r.GetValue(cache)), Gamma = r.GetValue(gamma),
            };
            SamplerOptionRanges.Check(settings);
            if (r.GetValue(prompts) is { } promptsFile)
            {
                if (r.GetValue(prompt) is not null) throw new DlmException("give --prompt or --prompts, not both");
                if (r.GetValue(json)) throw new DlmException("--prompts always writes JSON lines; drop --json");
                using var session = new GenerationSession(loaded);
                var batchSettings = new GenerationSettings
                {
                    Sampler = r.GetValue(sampler), GenLength = settings.GenLength, Steps = settings.Steps, BlockLength = settings.BlockLength,
                    Temperature = settings.Temperature, Remasking = settings.Remasking, Threshold = settings.Threshold, CfgScale = settings.CfgScale,
                    Chat = r.GetValue(chat), Extra = settings,
                };
                return BatchGenerate.Run(session, batchSettings, new BatchGenerate.Options(promptsFile, r.GetValue(numSamples), r.GetValue(batchSize),
                    r.GetValue(outFile), r.GetValue(seed), r.GetValue(timings)));
            }
            if (r.GetValue(prompt) is null) throw new DlmException("--prompt TEXT (or --prompts FILE) is required");
            foreach (var (name, given) in new[] { ("--num-samples", r.GetResult(numSamples) is { Implicit: false }), ("--batch-size", r.GetResult(batchSize) is { Implicit: false }),
                         ("--out", r.GetValue(outFile) is not null), ("--timings", r.GetValue(timings)) })
                if (given) throw new DlmException($"{name} applies to --prompts FILE only");
            // A causal model (an imported llama2.c teacher) is decoded left to right, not by a diffusion sampler.
            if (m.Config.Causal)
                return CausalGenerate.Run(m, tokenizer, r.GetValue(prompt)!, settings.GenLength, settings.Temperature, r.GetValue(seed), r.GetValue(json));
            var samplerName = r.GetValue(sampler) ?? SamplerRegistry.DefaultFor(m.Config.Process);
            SamplerRegistry.CheckFamily(samplerName, m.Config.Process.Spelling);
            var chosen = SamplerRegistry.Create(samplerName, settings);
            var promptText = r.GetValue(prompt)!;
            IChatTemplate? template = null;
            if (r.GetValue(chat))
            {
                template = loaded.ChatTemplate
                    ?? throw new DlmException($"{loaded.Folder}: --chat needs a chat_template in {ChatTemplate.ConfigFile}");
            }
            // llama2.c's convention (run.c): a text starts with <s>; the story model learnt that <s> opens a story.
            var encoded = PromptEncoder.Encode(tokenizer, promptText, template, r.GetValue(allowSpecial));
            var promptIds = (tokenizer is Llama2cTokenizer ? encoded.Prepend(tokenizer.Special.BosId) : encoded).Select(i => (long)i).ToArray();
            int context = m.Config.MaxSequenceLength;
            if (promptIds.Length + settings.GenLength > context)
                throw new DlmException($"the prompt is {promptIds.Length} tokens and --gen-length {settings.GenLength}: {promptIds.Length + settings.GenLength} in all, longer than the model's context of {context} tokens");
            using var g = new torch.Generator((ulong)r.GetValue(seed));
            var result = chosen.Generate(m, [promptIds], g);
            var completion = result.Completions[0];
            // The answer ends at the first eos: what follows is padding the model was trained to emit.
            int end = Array.IndexOf(completion, (long)m.Config.EosTokenId);
            // A chat answer also ends at the end of its turn.
            if (r.GetValue(chat) && eot is int e && Array.IndexOf(completion, (long)e) is int te && te >= 0 && (end < 0 || te < end)) end = te;
            var visible = end < 0 ? completion : completion[..end];
            string text = tokenizer.Decode(visible.Select(i => (int)i));
            if (!r.GetValue(json))
            {
                Io.Out.WriteLine(text);
                // Low-confidence decoding often commits the sure eos padding first; say so rather than print nothing.
                if (end == 0) Io.Err.WriteLine("(the model ended the answer at once: eos at the first position; try --block-length 16, or --remasking random --temperature 1)");
                return 0;
            }
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
