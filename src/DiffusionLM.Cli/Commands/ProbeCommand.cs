using System.CommandLine;
using System.Diagnostics;
using DiffusionLM.Analysis.Probe;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Reporting;
using DiffusionLM.Sampling;
using TorchSharp;

namespace DiffusionLM.Cli.Commands;

/// <summary><c>dlm probe</c>: the information-decay probe (the paper's Figure 2 over a prompt set).</summary>
public static class ProbeCommand
{
    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var prompts = new Option<string?>("--prompts") { Description = $"prompt file: .jsonl in any bundled shape (data/prompts/*.jsonl: \"prompt\"; \"turns\" → first turn; \"instruction\" (+ first instance's input)), or plain text, one prompt per line; default: the bundled story openings ({BenchQualityCommand.DefaultOpenings})" };
        var limit = new Option<int?>("--limit") { Description = "probe only the first N prompts of the file" };
        var masks = new Option<int>("--masks") { Description = "N: mask tokens after every prompt (prompt + N must fit the model's context)", DefaultValueFactory = _ => 128 };
        var topK = new Option<int>("--top-tokens") { Description = "tokens listed per masked position", DefaultValueFactory = _ => 3 };
        var outDir = new Option<string?>("--out") { Description = "report folder (replaced atomically): probe.json, probe.csv, probe_prompts.csv, summary.md, figure2.png, entropy_heatmap.png, measures.png[, stepwise_entropy.png]" };
        var batch = new Option<int>("--batch-size") { Description = "prompts per forward pass (left-padded, with an attention mask)", DefaultValueFactory = _ => 16 };
        var figurePrompt = new Option<int>("--figure-prompt") { Description = "which prompt (index in the file after --limit) figure2.png shows", DefaultValueFactory = _ => 0 };
        var noTruncate = new Option<bool>("--no-truncate") { Description = "stop with an error on a prompt too long for N masks, instead of keeping its last tokens (the default; cut prompts are counted in probe.json and summary.md)" };
        // Before cutting became the default it had to be asked for; the old spelling is still accepted.
        var truncate = new Option<bool>("--truncate-prompts") { Description = "the default (kept for old command lines)", Hidden = true };
        var noUnigram = new Option<bool>("--no-unigram") { Description = "probe a model without unigram.json: KL from the unigram is left out and \"structural\" means punctuation and eos only" };
        var steps = new Option<int?>("--steps") { Description = "stepwise variant: denoise the N masks in K steps with --sampler and re-probe after each step" };
        var sampler = new Option<string>("--sampler") { Description = "sampler of the stepwise variant: " + string.Join("; ", SamplerRegistry.All.Select(e => $"{e.Name} ({e.Description})")), DefaultValueFactory = _ => "llada" };
        var blockLength = new Option<int?>("--block-length") { Description = "stepwise: semi-autoregressive block length (default: N, one block)" };
        var remasking = new Option<string>("--remasking") { Description = "stepwise: low_confidence or random", DefaultValueFactory = _ => LladaSamplerOptions.LowConfidence };
        var temperature = new Option<double>("--temperature") { Description = "stepwise: 0 greedy, > 0 Gumbel-max sampling", DefaultValueFactory = _ => 0.0 };
        var seed = new Option<long>("--seed") { Description = "stepwise: seed of the sampler's random draws", DefaultValueFactory = _ => 0 };
        var force = OutputOptions.Force();
        var allowSpecial = PromptOptions.AllowSpecialTokens();
        var bench = new Option<bool>("--bench") { Description = "benchmark: time the probe batched and one prompt at a time (side by side) and print prompts/s; --out is optional" };

        var cmd = new Command("probe",
            "The information-decay probe (the paper's Figure 2 as an instrument): each prompt followed by N masks, one forward pass; " +
            "per masked position the top-k tokens, entropy, KL from the corpus unigram, structural top-1 share, the prompt's information " +
            "KL(p(x_i | prompt, masks) ‖ p(x_i | masks only)) and eos mass, averaged over the prompts with 95% intervals.")
        {
            model, prompts, limit, masks, topK, outDir, batch, figurePrompt, noTruncate, truncate, noUnigram, steps, sampler, blockLength, remasking, temperature, seed, bench, force, allowSpecial,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            if (r.GetValue(noTruncate) && r.GetValue(truncate)) throw new DlmException("--no-truncate and --truncate-prompts contradict each other");
            var options = new ProbeOptions(r.GetValue(masks), r.GetValue(topK), r.GetValue(batch), TruncatePrompts: !r.GetValue(noTruncate));
            options.Validate();
            var stepwise = r.GetValue(steps) is int k
                ? new StepwiseOptions(r.GetValue(sampler)!, k, r.GetValue(blockLength), r.GetValue(remasking)!, r.GetValue(temperature), r.GetValue(seed))
                : null;
            stepwise?.Validate(options.Masks);
            if (stepwise is not null)
            {
                SamplerOptionRanges.Remasking(stepwise.Remasking);
                SamplerOptionRanges.Blocks(options.Masks, stepwise.Steps, stepwise.BlockLength, "--masks");
            }
            DiffusionLM.Sampling.SamplingOps.CheckTemperature("--temperature", r.GetValue(temperature));
            string? output = r.GetValue(outDir);
            bool isBench = r.GetValue(bench);
            if (output is null && !isBench) throw new DlmException("--out DIR is required (the report folder)");
            string promptsFile = r.GetValue(prompts) ?? ModelLocator.FindBundled(BenchQualityCommand.DefaultOpenings)
                ?? throw new DlmException($"no --prompts given and the bundled {BenchQualityCommand.DefaultOpenings} was not found");
            var set = PromptSet.Load(promptsFile, r.GetValue(limit));
            int figure = r.GetValue(figurePrompt);
            if (figure < 0 || figure >= set.Count) throw new DlmException($"--figure-prompt {figure} is out of range: {set.Count} prompts (0..{set.Count - 1})");

            string folder = ModelLocator.Resolve(r.GetValue(model));
            using var claimed = output is null ? null : OutputFolder.Claim(output, "probe", OutputOptions.Existing(r.GetValue(force)), [folder, promptsFile]);
            using var loaded = ModelLoader.Load(folder);
            var unigram = UnigramReference.TryLoad(folder, loaded.Model.Config.VocabSize);
            if (unigram is null && !r.GetValue(noUnigram))
                throw new DlmException($"{Path.Combine(folder, Checkpoint.UnigramFile)}: not found. The KL from the corpus unigram and the frequent-token share need the " +
                    "token counts that `dlm train` stores with a model; pass --no-unigram to probe without them");
            if (r.GetValue(noUnigram)) unigram = null;
            // The stepwise variant denoises the masks: a sampler of another family (uniform, gaussian) cannot.
            if (stepwise is not null) SamplerRegistry.CheckFamily(stepwise.Sampler, loaded.Model.Config.Process.Spelling);

            if (isBench) return Bench(loaded, unigram, set, options);
            var result = ProgressView.Run($"probing {set.Count} prompts × {options.Masks} masks", set.Count * (stepwise is null ? 1 : 2),
                report =>
                {
                    // The stepwise run counts its prompts from zero again: keep the bar moving forward.
                    int offset = 0, last = 0;
                    void OnProgress(int done, int all)
                    {
                        if (done < last) offset += last;
                        last = done;
                        report(offset + done, null);
                    }
                    return new InformationProbe(loaded.Model, loaded.Tokenizer, unigram, loaded.ChatTemplate) { OnProgress = OnProgress, AllowSpecialTokens = r.GetValue(allowSpecial) }.Run(set, options, stepwise);
                });
            ProbeReport.Write(output!, result, new ProbeRunInfo(folder, promptsFile), figure);
            Io.Out.WriteLine($"probed {result.Prompts.Count} prompts × {options.Masks} masks in {result.Seconds:F1} s; report in {output}");
            Io.Out.Write(ProbeBand.Markdown(ProbeBand.Of(result)));
            return 0;
        }));
        return cmd;
    }

    /// <summary>
    /// Batched vs one prompt at a time, measured in the same process on the same prompts. CPU time is printed
    /// next to wall time: on a shared machine a wall time far above CPU time / threads means waiting for cores.
    /// </summary>
    static int Bench(LoadedModel loaded, UnigramReference? unigram, IReadOnlyList<ProbePrompt> set, ProbeOptions options)
    {
        var probe = new InformationProbe(loaded.Model, loaded.Tokenizer, unigram, loaded.ChatTemplate);
        int threads = torch.get_num_threads();
        probe.Run(set.Take(Math.Min(2, set.Count)).ToArray(), options); // warm-up: first calls allocate and pick kernels
        var single = Time(() => probe.Run(set, options with { BatchSize = 1 }));
        var all = Time(() => probe.Run(set, options));
        Io.Out.WriteLine($"probe benchmark: {loaded.Folder}, {options.Masks} masks, top-{options.TopK}, {threads} torch threads, {Environment.ProcessorCount} cores visible");
        Io.Out.WriteLine($"{"run",-34} {"prompts",7} {"wall s",8} {"cpu s",8} {"prompts/s",10}");
        void Row(string name, int n, (double Wall, double Cpu) t) => Io.Out.WriteLine($"{name,-34} {n,7} {t.Wall,8:F2} {t.Cpu,8:F2} {n / t.Wall,10:F2}");
        Row("one prompt at a time", set.Count, single);
        Row($"batched (batch size {options.BatchSize})", set.Count, all);
        Io.Out.WriteLine($"speed-up of batching: {single.Wall / all.Wall:F2}× wall, {single.Cpu / all.Cpu:F2}× cpu");
        double per100 = 100 * all.Wall / set.Count;
        Io.Out.WriteLine($"100 prompts × {options.Masks} masks: {per100:F1} s wall (target: under 60 s on 2 cores) → {(per100 < 60 ? "meets" : "misses")} it, {60 / per100:F2}× the budget");
        return 0;
    }

    static (double Wall, double Cpu) Time(Action run)
    {
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        run();
        process.Refresh();
        return (clock.Elapsed.TotalSeconds, (process.TotalProcessorTime - cpu).TotalSeconds);
    }
}
