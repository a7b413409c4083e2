using System.CommandLine;
using System.Text.Json;
using DiffusionLM.Corruption.Masking;
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
        var prompts = new Option<string?>("--prompts") { Description = "generate for every prompt of a file: one per line, or JSON lines {\"prompt\": ..., optional settings: sampler, gen_length, steps, block_length, temperature, remasking, threshold, cfg, cache, cache_refresh, chat}; writes one JSON object per sample" };
        var numSamples = new Option<int>("--num-samples") { Description = "with --prompts: samples per prompt", DefaultValueFactory = _ => 1 };
        var batchSize = new Option<int>("--batch-size") { Description = "with --prompts: rows generated together in one batch", DefaultValueFactory = _ => 8 };
        var outFile = new Option<string?>("--out") { Description = "with --prompts: the JSON-lines file to write (atomically); default: standard output" };
        var timings = new Option<bool>("--timings") { Description = "with --prompts: add each sample's batch wall time (\"seconds\"); without it the same seed writes the same file byte for byte" };
        // The run's shape has the verb's defaults (SamplerSettings'); every sampler option's default is its options record's,
        // printed from the registry (SamplerHelp), so the options below carry no default of their own.
        var shape = new SamplerSettings();
        var genLength = new Option<int>("--gen-length") { Description = "tokens to generate", DefaultValueFactory = _ => shape.GenLength };
        var steps = new Option<int>("--steps") { Description = "denoising steps in all (divided evenly over the blocks)", DefaultValueFactory = _ => shape.Steps };
        var blockLength = new Option<int?>("--block-length") { Description = "semi-autoregressive block length (default: --gen-length, one block)" };
        var temperature = new Option<double>("--temperature") { Description = "0: greedy; > 0: Gumbel-max sampling at this temperature", DefaultValueFactory = _ => shape.Temperature };
        var sampler = new Option<string?>("--sampler") { Description = "sampler (default: llada for masked models, the family's own for uniform and gaussian ones; `dlm samplers` lists each with its options and defaults): " + string.Join(", ", SamplerRegistry.All.Select(e => e.Name)) };
        var remasking = new Option<string?>("--remasking") { Description = SamplerHelp.Describe("--remasking") };
        var cfg = new Option<double?>("--cfg") { Description = SamplerHelp.Describe("--cfg") };
        var seed = new Option<long>("--seed") { Description = "seed of the sampler's random draws", DefaultValueFactory = _ => 0 };
        var chat = new Option<bool>("--chat") { Description = "wrap the prompt as a user message in the model's chat template (tokenizer_config.json's chat_template) with the assistant turn opened" };
        var logitsEosInf = new Option<bool>("--logits-eos-inf") { Description = SamplerHelp.Describe("--logits-eos-inf") + "; eos id from config.json" };
        var confEosEotInf = new Option<bool>("--confidence-eos-eot-inf") { Description = SamplerHelp.Describe("--confidence-eos-eot-inf") };
        var eotId = new Option<int?>("--eot-id") { Description = "end-of-turn id for --confidence-eos-eot-inf (default: the tokenizer's <|eot_id|> or <|im_end|>)" };
        var threshold = new Option<double?>("--threshold") { Description = SamplerHelp.Describe("--threshold") };
        var factor = new Option<double?>("--factor") { Description = SamplerHelp.Describe("--factor") };
        var alg = new Option<string?>("--alg") { Description = SamplerHelp.Describe("--alg") };
        var algTemp = new Option<double?>("--alg-temp") { Description = SamplerHelp.Describe("--alg-temp") };
        var topP = new Option<double?>("--top-p") { Description = SamplerHelp.Describe("--top-p") };
        var topK = new Option<int?>("--top-k") { Description = SamplerHelp.Describe("--top-k") };
        var eps = new Option<double?>("--eps") { Description = SamplerHelp.Describe("--eps") };
        var remdmStrategy = new Option<string?>("--remdm-strategy") { Description = SamplerHelp.Describe("--remdm-strategy") };
        var eta = new Option<double?>("--eta") { Description = SamplerHelp.Describe("--eta") };
        var tOn = new Option<double?>("--t-on") { Description = SamplerHelp.Describe("--t-on") };
        var tOff = new Option<double?>("--t-off") { Description = SamplerHelp.Describe("--t-off") };
        var alphaOn = new Option<double?>("--alpha-on") { Description = SamplerHelp.Describe("--alpha-on") };
        var candidates = new Option<int?>("--candidates") { Description = SamplerHelp.Describe("--candidates") };
        var probes = new Option<int?>("--probes") { Description = SamplerHelp.Describe("--probes") };
        var anchorsPerStep = new Option<int?>("--anchors-per-step") { Description = SamplerHelp.Describe("--anchors-per-step") };
        var cache = new Option<string>("--cache") { Description = CacheModes.Help + $" (samplers: {string.Join(", ", SamplerRegistry.All.Where(e => e.Cacheable).Select(e => e.Name))})", DefaultValueFactory = _ => "none" };
        var cacheRefresh = new Option<int>("--cache-refresh") { Description = CacheModes.RefreshHelp, DefaultValueFactory = _ => 0 };
        var gamma = new Option<double?>("--gamma") { Description = SamplerHelp.Describe("--gamma") };
        var clamp = new Option<bool>("--clamp") { Description = SamplerHelp.Describe("--clamp") };
        var allowSpecial = PromptOptions.AllowSpecialTokens();
        var matmul = MatmulOptions.Create();
        var json = new Option<bool>("--json") { Description = "print {\"text\", \"ids\", \"trace\"}: the trace lists the positions committed at each step with their confidence" };

        var cmd = new Command("generate", "Generate a continuation of a prompt with LLaDA's low-confidence (or random) remasking sampler; a causal model (config \"causal\": true) is decoded left to right with a key/value cache instead.")
        {
            model, prompt, prompts, numSamples, batchSize, outFile, timings, sampler, genLength, steps, blockLength, temperature, remasking, cfg, seed, json, chat, logitsEosInf, confEosEotInf, eotId,
            threshold, factor, alg, algTemp, topP, topK, eps, remdmStrategy, eta, tOn, tOff, alphaOn, candidates, probes, anchorsPerStep, clamp, allowSpecial, cache, cacheRefresh, gamma, matmul,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            using var loaded = ModelLoader.Load(ModelLocator.Resolve(r.GetValue(model)));
            var (m, tokenizer) = (loaded.Model, loaded.Tokenizer);
            MatmulOptions.Apply(r.GetValue(matmul)!, m);
            int? eot = r.GetValue(eotId) ?? (tokenizer as HfTokenizer)?.Find("<|eot_id|>") ?? (tokenizer as HfTokenizer)?.Find("<|im_end|>");
            var settings = new SamplerSettings(
                GenLength: r.GetValue(genLength), Steps: r.GetValue(steps), BlockLength: r.GetValue(blockLength),
                Temperature: r.GetValue(temperature), Remasking: r.GetValue(remasking), CfgScale: r.GetValue(cfg),
                LogitsEosInf: Flag(r.GetValue(logitsEosInf)), ConfidenceEosEotInf: Flag(r.GetValue(confEosEotInf)), EosId: m.Config.EosTokenId, EotId: eot)
            {
                Threshold = r.GetValue(threshold), Factor = r.GetValue(factor), Alg = r.GetValue(alg), AlgTemp = r.GetValue(algTemp),
                TopP = r.GetValue(topP), TopK = r.GetValue(topK), Eps = r.GetValue(eps), RemdmStrategy = r.GetValue(remdmStrategy),
                Eta = r.GetValue(eta), TOn = r.GetValue(tOn), TOff = r.GetValue(tOff), AlphaOn = r.GetValue(alphaOn),
                Candidates = r.GetValue(candidates), Probes = r.GetValue(probes), AnchorsPerStep = r.GetValue(anchorsPerStep), Clamp = Flag(r.GetValue(clamp)),
                Cache = CacheModes.Parse(r.GetValue(cache)), CacheRefresh = r.GetValue(cacheRefresh), Gamma = r.GetValue(gamma),
            };
            SamplerOptionRanges.Check(settings);
            if (r.GetValue(eotId) is int givenEot && (givenEot < 0 || givenEot >= m.Config.VocabSize))
                throw new DlmException($"--eot-id {givenEot}: not a token id of this model (vocabulary {m.Config.VocabSize})");
            if (r.GetValue(prompts) is { } promptsFile)
            {
                if (r.GetValue(prompt) is not null) throw new DlmException("give --prompt or --prompts, not both");
                if (r.GetValue(json)) throw new DlmException("--prompts always writes JSON lines; drop --json");
                using var session = new GenerationSession(loaded);
                var batchSettings = new GenerationSettings
                {
                    Sampler = r.GetValue(sampler), GenLength = settings.GenLength, Steps = settings.Steps, BlockLength = settings.BlockLength,
                    Temperature = settings.Temperature, Remasking = settings.Remasking ?? ServingDefaults.Remasking, Threshold = settings.Threshold,
                    CfgScale = settings.CfgScale ?? ServingDefaults.CfgScale,
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
            {
                if (r.GetValue(sampler) is string givenSampler && givenSampler != "autoregressive")
                    throw new DlmException($"--sampler {givenSampler}: this model is causal (config.json \"causal\": true) and is decoded left to right; use --sampler autoregressive or none");
                return CausalGenerate.Run(m, tokenizer, r.GetValue(prompt)!, settings.GenLength, settings.Temperature, r.GetValue(seed), r.GetValue(json));
            }
            var samplerName = r.GetValue(sampler) ?? SamplerRegistry.DefaultFor(m.Config.Process);
            SamplerRegistry.CheckFamily(samplerName, m.Config.Process.Spelling);
            // Only LLaDA's sampler guides; the others would ignore --cfg without a word.
            if (settings.CfgScale is double guidance && guidance != 0 && samplerName is not ("llada" or LladaSamplerOptions.LowConfidence or LladaSamplerOptions.Random))
                throw new DlmException($"--cfg {settings.CfgScale}: only LLaDA's sampler (llada, low_confidence, random) applies classifier-free guidance, not {samplerName}");
            var chosen = SamplerRegistry.Create(samplerName, settings);
            var promptText = r.GetValue(prompt)!;
            IChatTemplate? template = null;
            if (r.GetValue(chat))
            {
                template = loaded.ChatTemplate
                    ?? throw new DlmException($"{loaded.Folder}: --chat needs a chat_template in {ChatTemplate.ConfigFile}");
            }
            // The same ids as the server's (GenerationSession.Encode): <s> first for a llama2.c model.
            var promptIds = PromptEncoder.ForGeneration(tokenizer, promptText, template, r.GetValue(allowSpecial)).Select(i => (long)i).ToArray();
            int context = m.Config.MaxSequenceLength;
            if ((long)promptIds.Length + settings.GenLength > context)
                throw new DlmException($"the prompt is {promptIds.Length} tokens and --gen-length {settings.GenLength}: {promptIds.Length + settings.GenLength} in all, longer than the model's context of {context} tokens");
            using var g = new torch.Generator((ulong)r.GetValue(seed));
            // A model trained under a token-dependent corruption is sampled from its clean conditional (MaskEvidenceRemoval).
            var result = chosen.Generate(MaskEvidenceRemoval.ForSampling(m, loaded.Folder), [promptIds], g);
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

    /// <summary>A flag's value as a setting: absent is "not given", so the options record's default applies.</summary>
    static bool? Flag(bool on) => on ? true : null;

    static readonly GenerationSettings ServingDefaults = new();
}
