using System.CommandLine;
using System.Text.Json;
using DiffusionLM.Cli.Reports;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Teacher;
using DiffusionLM.Text;
using TorchSharp;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm bench teacher`: scratch vs Dream-initialised denoisers, judged by the teacher.</summary>
public static class BenchTeacherCommand
{
    public const string DefaultCorpus = "data/teacher/stories260K_20k_seed0.jsonl.gz";

    public static Command Create()
    {
        var teacherOpt = TeacherCorpusCommand.TeacherOption("--teacher");
        var corpus = new Option<string?>("--corpus") { Description = $"teacher corpus (JSON Lines from `dlm teacher-corpus`); default: the bundled {DefaultCorpus}" };
        var outDir = new Option<string>("--out") { Description = "folder for teacher.json, teacher.md and teacher.png", DefaultValueFactory = _ => "bench/results" };
        var trainSteps = new Option<int>("--train-steps") { Description = "optimizer steps per denoiser (the budget; raise it for a longer run)", DefaultValueFactory = _ => 300 };
        var batch = new Option<int>("--batch-size") { Description = "training windows per step", DefaultValueFactory = _ => 16 };
        var genLength = new Option<int>("--gen-length") { Description = "tokens generated per sample (training windows are 1 + this)", DefaultValueFactory = _ => 128 };
        var samples = new Option<int>("--num-samples") { Description = "samples per (model, steps) cell", DefaultValueFactory = _ => 32 };
        var windows = new Option<int>("--elbo-windows") { Description = "held-out windows for the ELBO", DefaultValueFactory = _ => 32 };
        var mc = new Option<int>("--mc") { Description = "Monte-Carlo samples per window for the ELBO", DefaultValueFactory = _ => 16 };
        var steps = new Option<int[]>("--steps") { Description = "sampling step counts", DefaultValueFactory = _ => [128, 64, 32, 16, 8], AllowMultipleArgumentsPerToken = true };
        var scratchLr = new Option<double>("--lr-scratch") { Description = "peak learning rate from scratch", DefaultValueFactory = _ => 2e-3 };
        var finetuneLr = new Option<double>("--lr-finetune") { Description = "peak learning rate of the Dream-initialised fine-tune", DefaultValueFactory = _ => 5e-4 };
        var temperature = new Option<double>("--temperature") { Description = "sampling temperature (teacher floor and LLaDA sampler)", DefaultValueFactory = _ => 1.0 };
        var seed = new Option<long>("--seed") { Description = "seed of every draw", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "torch threads (1 is fastest for these tiny models on a busy machine)", DefaultValueFactory = _ => 1 };
        var cmd = new Command("teacher",
            "Train a masked denoiser on the teacher corpus from scratch and another initialised from the teacher Dream-style " +
            "(bidirectional, logits shifted by one), same budget; report held-out ELBO perplexity and the judge's perplexity of " +
            "LLaDA samples for fewer and fewer steps, next to the teacher's exact perplexity and its own samples (the floor). " +
            "Writes JSON, a Markdown table and a PNG figure.")
        {
            teacherOpt, corpus, outDir, trainSteps, batch, genLength, samples, windows, mc, steps, scratchLr, finetuneLr, temperature, seed, threads,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            // Every option is checked before the teacher and the corpus load (seconds) and before any training.
            var options = new TeacherBenchOptions(r.GetValue(trainSteps), r.GetValue(batch), r.GetValue(genLength), r.GetValue(scratchLr), r.GetValue(finetuneLr),
                r.GetValue(steps), r.GetValue(samples), r.GetValue(windows), r.GetValue(mc), r.GetValue(temperature), r.GetValue(seed));
            options.Validate();
            OptionRanges.Positive("--threads", r.GetValue(threads));
            torch.set_num_threads(r.GetValue(threads));
            OutputChecks.Folder(r.GetValue(outDir)!);
            var (teacher, tok) = Checkpoint.Load(ModelLocator.Resolve(r.GetValue(teacherOpt), TeacherCorpusCommand.DefaultTeacher));
            using var _ = teacher;
            teacher.eval();
            if (tok is not Llama2cTokenizer l2c || !teacher.Config.Causal)
                throw new DlmException("bench teacher: the teacher must be a causal model with a llama2.c tokenizer (see `dlm import llama2c`)");
            var corpusPath = r.GetValue(corpus) ?? ModelLocator.FindBundled(DefaultCorpus)
                ?? throw new DlmException($"no --corpus given and the bundled {DefaultCorpus} was not found");
            var stories = TeacherCorpus.Read(corpusPath);
            // The bar shows the current phase's progress in percent, with the phase as its text.
            var result = ProgressView.Run("bench teacher (% of phase)", 100, report =>
                new TeacherBenchmark(teacher, l2c, options) { OnProgress = (phase, done, total) => report(100 * done / Math.Max(1, total), phase) }.Run(stories));
            BenchFiles.Write(r.GetValue(outDir)!, "teacher", result, TeacherBenchReport.Markdown(result), dir => TeacherBenchReport.Figure(result, Path.Combine(dir, "teacher.png")), "teacher.png");
            return 0;
        }));
        return cmd;
    }
}
