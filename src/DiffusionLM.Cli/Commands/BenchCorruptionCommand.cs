using System.CommandLine;
using System.Text.Json;
using DiffusionLM.Cli.Reports;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.Corruption.Masking;
using DiffusionLM.CorruptionBench;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Teacher;
using DiffusionLM.Text;
using TorchSharp;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm bench corruption`: every masked corruption at equal compute on the HMM testbed and the teacher stories.</summary>
public static class BenchCorruptionCommand
{
    public static Command Create()
    {
        var teacherOpt = TeacherCorpusCommand.TeacherOption("--teacher");
        var corpus = new Option<string?>("--corpus") { Description = $"teacher corpus (JSON Lines); default: the bundled {BenchTeacherCommand.DefaultCorpus}" };
        var outDir = new Option<string>("--out") { Description = "folder for corruption.json, corruption.md and the corruption_*.png figures", DefaultValueFactory = _ => "bench/results" };
        var corruptions = new Option<string[]>("--corruptions") { Description = "corruptions to compare (uniform is required: the baseline)", DefaultValueFactory = _ => MaskedCorruption.All.Select(c => c.Spelling).ToArray(), AllowMultipleArgumentsPerToken = true };
        var quick = new Option<bool>("--quick") { Description = "a CI-sized run: tiny testbeds, a few steps and samples (the figures are not meaningful)" };
        var hmmSteps = new Option<int?>("--hmm-steps") { Description = "training steps per model on the HMM (default 1500)" };
        var storySteps = new Option<int?>("--story-steps") { Description = "training steps per model on the stories (default 600)" };
        var samples = new Option<int?>("--num-samples") { Description = "generated samples per (model, step count) (default 256)" };
        var noStories = new Option<bool>("--hmm-only") { Description = "skip the story half" };
        var seed = new Option<long>("--seed") { Description = "seed of every draw", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "torch threads (1 is fastest for these tiny models on a busy machine)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("corruption",
            $"Train one model per masked corruption ({Spellings.Known<MaskedCorruption>()}) at equal compute on a random HMM " +
            "(exact NLL, exact conditionals, Bayes-optimal bounds) and on the teacher stories (judge: stories260K); report held-out bounds with " +
            "standard errors, bounds along training, judged samples at several step counts and the probe's decay curves. Writes JSON, Markdown and PNGs.")
        { teacherOpt, corpus, outDir, corruptions, quick, hmmSteps, storySteps, samples, noStories, seed, threads };
        cmd.SetAction(r => Io.Guard(() =>
        {
            var names = r.GetValue(corruptions)!;
            var o = r.GetValue(quick) ? CorruptionBenchOptions.Quick(names) : new CorruptionBenchOptions(names);
            o = o with
            {
                HmmSteps = r.GetValue(hmmSteps) ?? o.HmmSteps, StorySteps = r.GetValue(storySteps) ?? o.StorySteps,
                Samples = r.GetValue(samples) ?? o.Samples, Seed = r.GetValue(seed), SkipStories = r.GetValue(noStories),
            };
            o.Validate();
            OptionRanges.Positive("--threads", r.GetValue(threads));
            var dir = r.GetValue(outDir)!;
            if (File.Exists(dir)) throw new DlmException($"--out {dir} is a file, not a folder");
            int previousThreads = torch.get_num_threads();
            torch.set_num_threads(r.GetValue(threads));
            try
            {
                LladaModel? teacher = null; Llama2cTokenizer? tok = null; IReadOnlyList<Story>? stories = null;
                if (!o.SkipStories)
                {
                    var (t, tk) = Checkpoint.Load(ModelLocator.Resolve(r.GetValue(teacherOpt), TeacherCorpusCommand.DefaultTeacher));
                    teacher = t; teacher.eval();
                    if (tk is not Llama2cTokenizer l2c || !teacher.Config.Causal)
                        throw new DlmException("bench corruption: the teacher must be a causal model with a llama2.c tokenizer (see `dlm import llama2c`)");
                    tok = l2c;
                    var corpusPath = r.GetValue(corpus) ?? ModelLocator.FindBundled(BenchTeacherCommand.DefaultCorpus)
                        ?? throw new DlmException($"no --corpus given and the bundled {BenchTeacherCommand.DefaultCorpus} was not found");
                    stories = TeacherCorpus.Read(corpusPath);
                }
                using var _ = teacher;
                var result = ProgressView.Run("bench corruption (% of phase)", 100, report =>
                    new CorruptionBenchmark(o) { OnProgress = (phase, done, total) => report(100 * done / Math.Max(1, total), phase) }.Run(teacher, tok, stories, $"{BenchFiles.CpuName()} ({Environment.ProcessorCount} logical cores)"));
                BenchFiles.Write(dir, "corruption", result, CorruptionBenchReport.Markdown(result), d => CorruptionBenchReport.Figures(result, d), "corruption_*.png");
                return 0;
            }
            finally { torch.set_num_threads(previousThreads); }
        }));
        return cmd;
    }

}
