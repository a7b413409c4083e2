using System.CommandLine;
using DiffusionLM.Analysis.Generation;
using DiffusionLM.Analysis.Quality;
using DiffusionLM.Cli.Reports;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using TorchSharp;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm bench generation`: every masked sampler × cache × pace, tokens/s against judged quality, over LLaDA's one-token-per-step baseline.</summary>
public static class BenchGenerationCommand
{
    public static Command Create()
    {
        var d = new GenerationOptions();
        var model = new Option<string?>("--model") { Description = $"model folder to measure; default: the bundled {ModelLocator.DefaultRelative}" };
        var judge = TeacherCorpusCommand.TeacherOption("--judge");
        var prompts = new Option<string?>("--prompts") { Description = $"story openings (JSON Lines with \"prompt\", or one per line); default: {BenchQualityCommand.DefaultOpenings}" };
        var samplers = new Option<string[]>("--samplers") { Description = "registered masked samplers to measure (default: every one with a pace; the baseline low_confidence is always measured)", AllowMultipleArgumentsPerToken = true };
        var samples = new Option<int>("--num-samples") { Description = "continuations judged per cell", DefaultValueFactory = _ => d.Samples };
        var genLength = new Option<int>("--gen-length") { Description = "tokens generated after each opening", DefaultValueFactory = _ => d.GenLength };
        var block = new Option<int>("--block-length") { Description = "block of the samplers that decode block by block", DefaultValueFactory = _ => d.BlockLength };
        var temperature = new Option<double>("--temperature") { Description = "sampling temperature of every sampler", DefaultValueFactory = _ => d.Temperature };
        var batch = new Option<int>("--batch-size") { Description = "rows generated together in the judged run (the batched speed)", DefaultValueFactory = _ => d.BatchSize };
        var timing = new Option<int>("--timing-samples") { Description = "the first samples generated again one at a time (the batch-1 speed; 0: skip)", DefaultValueFactory = _ => d.TimingSamples };
        var drift = new Option<int>("--drift-samples") { Description = "samples of each cached cell rerun with an uncached forward beside every step: how far the cache's predictions drift (0: skip)", DefaultValueFactory = _ => d.DriftSamples };
        var caches = new Option<string[]>("--caches") { Description = "block caches to run the block samplers under (none, prefix, dual; default all three); the baseline is always uncached", AllowMultipleArgumentsPerToken = true };
        var refresh = new Option<int[]>("--cache-refresh") { Description = "with a cache: steps of a block between its recordings, one or more (0: once per block, Fast-dLLM's; default 0); a cached cell is labelled dual/16 for 16", AllowMultipleArgumentsPerToken = true };
        var steps = new Option<int[]>("--steps") { Description = "step counts of the step-paced samplers (default: one, two and four tokens per step)", AllowMultipleArgumentsPerToken = true };
        var quick = new Option<bool>("--quick") { Description = "a CI-sized grid: one pace per sampler, caches none and dual (pair it with small --num-samples and --gen-length)" };
        var seed = new Option<long>("--seed") { Description = "seed of every draw (samples, bootstrap)", DefaultValueFactory = _ => d.Seed };
        var threads = new Option<int>("--threads") { Description = "torch threads (1: the fastest for the small bundled model, and what the figures state)", DefaultValueFactory = _ => 1 };
        var outDir = new Option<string>("--out") { Description = "folder for generation.json, generation.md and generation.png", DefaultValueFactory = _ => "bench/results" };
        var name = new Option<string>("--name") { Description = "file name stem of the outputs", DefaultValueFactory = _ => "generation" };
        var cmd = new Command("generation",
            "Speed against quality: every masked sampler × cache (none, prefix, dual) × a few paces (steps, thresholds, entropy budgets) continues the story " +
            "openings; tokens/s at batch 1 and batched, NFE, judge gen-PPL and entropy with 95% intervals, and the speed-up over LLaDA's sampler at one token per " +
            "step without a cache, measured in the same run. Writes JSON, a Markdown table and a PNG figure (gen-PPL against tokens/s).")
        {
            model, judge, prompts, samplers, samples, genLength, block, temperature, batch, timing, drift, caches, refresh, steps, quick, seed, threads, outDir, name,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            var given = r.GetValue(samplers);
            var options = new GenerationOptions(r.GetValue(samples), r.GetValue(genLength), r.GetValue(block), r.GetValue(temperature), r.GetValue(batch),
                r.GetValue(timing), r.GetValue(drift), r.GetValue(seed), given is { Length: > 0 } ? given : null, r.GetValue(quick),
                r.GetValue(caches) is { Length: > 0 } cs ? cs.Select(c => CacheModes.Parse(c, "--caches")).Distinct().ToArray() : null,
                r.GetValue(steps) is { Length: > 0 } st ? st : null, r.GetValue(refresh) is { Length: > 0 } rf ? rf : null);
            options.Validate();
            int nThreads = r.GetValue(threads);
            if (nThreads <= 0) throw new DlmException($"--threads must be positive (got {nThreads})");
            torch.set_num_threads(nThreads);
            var folder = ModelLocator.Resolve(r.GetValue(model));
            var (promptsFile, openings) = BenchQualityCommand.LoadOpenings(r.GetValue(prompts));
            var (judgeFolder, judgeModel, l2c) = BenchQualityCommand.LoadJudge(r.GetValue(judge));
            using var _ = judgeModel;
            using var loaded = ModelLoader.Load(folder);
            var grid = GenerationGrid.Build(options);
            var quality = new QualityOptions(options.Samples, options.GenLength, Temperature: options.Temperature, BatchSize: options.BatchSize, Seed: options.Seed);
            var result = ProgressView.Run($"bench generation ({grid.Count} cells; % of cell)", 100, report =>
            {
                var scorer = new QualityBenchmark(judgeModel, l2c, quality) { OnProgress = (phase, done, total) => report(100 * done / Math.Max(1, total), phase) };
                var floor = scorer.TeacherFloor(openings);
                var bench = new GenerationBenchmark(scorer, options)
                {
                    OnProgress = (cell, label, done, total) => report(100 * done / Math.Max(1, total), $"[{cell + 1}/{grid.Count}] {label}"),
                };
                var cells = bench.Run(folder, loaded.Model, loaded.Tokenizer, openings, grid);
                return new GenerationResult(options, BenchFiles.CpuName(), nThreads, folder, judgeFolder, promptsFile, openings.Count, floor, cells,
                    GenerationBenchmark.Best(cells, options));
            });
            string stem = r.GetValue(name)!;
            BenchFiles.Write(r.GetValue(outDir)!, stem, result, GenerationReport.Markdown(result), dir => GenerationReport.Figure(result, Path.Combine(dir, stem + ".png")), stem + ".png");
            return 0;
        }));
        return cmd;
    }
}
