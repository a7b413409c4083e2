using System.CommandLine;
using System.Text.Json;
using DiffusionLM.Analysis.Probe;
using DiffusionLM.Analysis.Quality;
using DiffusionLM.Cli.Reports;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Text;
using TorchSharp;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm bench quality`: the table every "at equal quality" claim is measured against.</summary>
public static class BenchQualityCommand
{
    public const string DefaultOpenings = "data/prompts/story_openings.jsonl";
    /// <summary>The model that was the default before the story model, kept for this comparison.</summary>
    public const string PreviousDefault = "models/shakespeare";

    public static Command Create()
    {
        var models = new Option<string[]>("--model") { Description = $"model folders to measure (repeatable); default: {ModelLocator.DefaultRelative} and {PreviousDefault}", AllowMultipleArgumentsPerToken = true };
        var judge = TeacherCorpusCommand.TeacherOption("--judge");
        var prompts = new Option<string?>("--prompts") { Description = $"story openings (JSON Lines with \"prompt\", or one per line); default: {DefaultOpenings}" };
        var corpus = new Option<string?>("--corpus") { Description = $"teacher corpus whose held-out stories (its last 5%) the ELBO scores; default: {BenchTeacherCommand.DefaultCorpus}" };
        var samples = new Option<int>("--num-samples") { Description = "continuations per cell (sample i continues opening i mod the number of openings)", DefaultValueFactory = _ => 256 };
        var genLength = new Option<int>("--gen-length") { Description = "tokens generated after each opening", DefaultValueFactory = _ => 128 };
        var steps = new Option<int[]>("--steps") { Description = "sampling step counts of LLaDA's sampler over the whole continuation", DefaultValueFactory = _ => [128, 64, 32, 16, 8], AllowMultipleArgumentsPerToken = true };
        var blockLength = new Option<int?>("--block-length") { Description = "LLaDA's semi-autoregressive block (must divide --gen-length; the steps are shared equally by the blocks); default: one block of --gen-length" };
        var remasking = new Option<string[]>("--remasking") { Description = "LLaDA remasking strategies", DefaultValueFactory = _ => ["low_confidence", "random"], AllowMultipleArgumentsPerToken = true };
        var temperature = new Option<double>("--temperature") { Description = "sampling temperature of the teacher's floor and of the sampler", DefaultValueFactory = _ => 1.0 };
        var batch = new Option<int>("--batch-size") { Description = "continuations generated together", DefaultValueFactory = _ => 64 };
        var elbo = new Option<int>("--elbo-stories") { Description = "held-out stories scored by each model's ELBO and by the judge exactly (0: skip the held-out likelihood; the JSON then holds null)", DefaultValueFactory = _ => 64 };
        var mc = new Option<int>("--mc") { Description = "Monte-Carlo masks per held-out story", DefaultValueFactory = _ => 16 };
        var seed = new Option<long>("--seed") { Description = "seed of every draw (samples, ELBO masks, bootstrap)", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "torch threads", DefaultValueFactory = _ => Math.Max(1, Environment.ProcessorCount) };
        var outDir = new Option<string>("--out") { Description = "folder for quality.json, quality.md and quality.png", DefaultValueFactory = _ => "bench/results" };
        var cmd = new Command("quality",
            "Judge gen-PPL (teacher stories260K, exact likelihood) and unigram entropy of continuations of story openings by LLaDA's sampler " +
            "at fewer and fewer steps (low-confidence and random remasking, temperature 1), with 95% intervals, beside the teacher's own " +
            "continuations (the floor); and each model's held-out ELBO. Writes JSON, a Markdown table and a PNG figure.")
        {
            models, judge, prompts, corpus, samples, genLength, steps, blockLength, remasking, temperature, batch, elbo, mc, seed, threads, outDir,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            var options = new QualityOptions(r.GetValue(samples), r.GetValue(genLength), r.GetValue(steps), r.GetValue(remasking), r.GetValue(temperature),
                r.GetValue(batch), r.GetValue(elbo), r.GetValue(mc), r.GetValue(seed), r.GetValue(blockLength));
            options.Validate();
            int nThreads = r.GetValue(threads);
            if (nThreads <= 0) throw new DlmException($"--threads must be positive (got {nThreads})");
            torch.set_num_threads(nThreads);
            var folders = r.GetValue(models) is { Length: > 0 } given ? given.Select(m => ModelLocator.Resolve(m)).ToArray() : DefaultModels();
            var (promptsFile, openings) = LoadOpenings(r.GetValue(prompts));
            var corpusPath = r.GetValue(corpus) ?? ModelLocator.FindBundled(BenchTeacherCommand.DefaultCorpus)
                ?? throw new DlmException($"no --corpus given and the bundled {BenchTeacherCommand.DefaultCorpus} was not found");
            var stories = TokenCorpus.ReadDocuments([corpusPath])[0];
            // The held-out stories are the file's last 5% (as train holds out); the ELBO takes them from the end.
            var heldOut = stories.Skip(stories.Length - Math.Max(1, (int)Math.Round(stories.Length * 0.05))).Reverse().ToList();

            var (judgeFolder, judgeModel, l2c) = LoadJudge(r.GetValue(judge));
            using var _ = judgeModel;
            var result = ProgressView.Run("bench quality (% of phase)", 100, report =>
            {
                var bench = new QualityBenchmark(judgeModel, l2c, options) { OnProgress = (phase, done, total) => report(100 * done / Math.Max(1, total), phase) };
                var floor = bench.TeacherFloor(openings);
                var teacherHeld = bench.TeacherHeldOut(heldOut);
                var measured = new List<QualityModel>();
                foreach (var folder in folders)
                {
                    using var loaded = ModelLoader.Load(folder);
                    measured.Add(bench.Measure(Path.GetFileName(Path.TrimEndingDirectorySeparator(folder)), folder, loaded.Model, loaded.Tokenizer, openings, heldOut));
                }
                return new QualityResult(options, BenchFiles.CpuName(), nThreads, promptsFile, openings.Count, judgeFolder, teacherHeld, floor, measured);
            });
            BenchFiles.Write(r.GetValue(outDir)!, "quality", result, QualityReport.Markdown(result), dir => QualityReport.Figure(result, Path.Combine(dir, "quality.png")), "quality.png");
            return 0;
        }));
        return cmd;
    }

    /// <summary>The story openings of --prompts, or the bundled set: the prompts every judged benchmark continues.</summary>
    internal static (string File, List<string> Openings) LoadOpenings(string? given)
    {
        var file = given ?? ModelLocator.FindBundled(DefaultOpenings) ?? throw new DlmException($"no --prompts given and the bundled {DefaultOpenings} was not found");
        return (file, PromptSet.Load(file).Select(p => p.Text).ToList());
    }

    /// <summary>The judge of --judge (default: the bundled stories260K), in eval mode; it must be causal with a llama2.c tokenizer.</summary>
    internal static (string Folder, LladaModel Model, Llama2cTokenizer Tokenizer) LoadJudge(string? given)
    {
        var folder = ModelLocator.Resolve(given, TeacherCorpusCommand.DefaultTeacher);
        var (model, tok) = Checkpoint.Load(folder);
        if (tok is not Llama2cTokenizer l2c || !model.Config.Causal)
        {
            model.Dispose();
            throw new DlmException($"{folder}: the judge must be a causal model with a llama2.c tokenizer (the bundled stories260K)");
        }
        model.eval();
        return (folder, model, l2c);
    }

    static string[] DefaultModels() =>
        new[] { ModelLocator.Resolve(null), ModelLocator.FindBundled(PreviousDefault, "config.json") }.OfType<string>().ToArray();
}
