using System.CommandLine;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.Models;
using DiffusionLM.Teacher;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm teacher-corpus`: stories sampled from a causal teacher at temperature 1.</summary>
public static class TeacherCorpusCommand
{
    public const string DefaultTeacher = "models/stories260K";

    public static Option<string?> TeacherOption(string name = "--model") => new(name)
    {
        Description = $"causal teacher model folder; default: the bundled {DefaultTeacher} (imported from data/models/stories260K)",
    };

    public static Command Create()
    {
        var model = TeacherOption();
        var stories = new Option<int>("--num-samples") { Description = "number of stories to sample", Required = true };
        var seed = new Option<long>("--seed") { Description = "seed: story i draws from a generator seeded by (seed, i)", DefaultValueFactory = _ => 0 };
        var outFile = new Option<string>("--out") { Description = "JSON Lines file to write, one {\"text\", \"tokens\", \"ended\"} per story; gzip when it ends in .gz", Required = true };
        var batch = new Option<int>("--batch-size") { Description = "stories decoded together", DefaultValueFactory = _ => 256 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "cap on a story's tokens (default: the teacher's context minus <s>)" };
        var temperature = new Option<double>("--temperature") { Description = "sampling temperature", DefaultValueFactory = _ => 1.0 };
        var force = OutputOptions.Force("replace --out if the file exists");
        var cmd = new Command("teacher-corpus",
            "Sample stories from a causal teacher (default: stories260K) from <s> until it writes <s> again, batched with a key/value cache. " +
            "The result is a corpus whose true distribution is known exactly: the teacher's.")
        {
            model, stories, seed, outFile, batch, maxTokens, temperature, force,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            // A 260K-parameter model is bound by per-op overhead: one thread avoids OpenMP barriers that stall on a
            // busy machine, and fixes the thread count so that the sampled corpus is the same everywhere it runs.
            TorchSharp.torch.set_num_threads(1);
            OptionRanges.NonNegative("--temperature", r.GetValue(temperature));
            IO.OutputChecks.File(r.GetValue(outFile)!, r.GetValue(force));
            var (teacher, tokenizer) = Checkpoint.Load(ModelLocator.Resolve(r.GetValue(model), DefaultTeacher));
            using var _ = teacher;
            teacher.eval();
            if (!teacher.Config.Causal) throw new DlmException("the teacher must be a causal model (config.json \"causal\": true)");
            int n = r.GetValue(stories);
            var options = new TeacherCorpusOptions(n, r.GetValue(seed), r.GetValue(batch),
                r.GetValueOrDefaultMaxTokens(maxTokens, teacher.Config.MaxSequenceLength - 1), r.GetValue(temperature));
            var sampled = ProgressView.Run("sampling stories", n, report => TeacherCorpus.Sample(teacher, tokenizer, options, done => report(done, null)));
            var path = r.GetValue(outFile)!;
            TeacherCorpus.Write(path, sampled);
            int ended = sampled.Count(s => s.Ended);
            Io.Out.WriteLine($"wrote {path}: {sampled.Count} stories, {sampled.Sum(s => (long)s.Tokens)} tokens, mean {sampled.Average(s => s.Tokens):F1} tokens; {ended} ended with <s>, {sampled.Count - ended} reached the cap of {options.MaxTokens}");
            return 0;
        }));
        return cmd;
    }

    static int GetValueOrDefaultMaxTokens(this ParseResult r, Option<int> o, int fallback)
        => r.GetResult(o) is null ? fallback : r.GetValue(o);
}
