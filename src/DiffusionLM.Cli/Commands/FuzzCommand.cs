using System.CommandLine;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.Fuzzing;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm fuzz`: mutated inputs for the parsers of untrusted model files; 0 crashes and 0 hangs is the bar.</summary>
public static class FuzzCommand
{
    public const string CorpusRelative = "data/fuzz";

    public static Command Create()
    {
        var target = new Option<string[]>("--target") { Description = "parsers to fuzz: " + string.Join(", ", FuzzTargets.All.Select(t => t.Name)) + " (default: all)", AllowMultipleArgumentsPerToken = true };
        var inputs = new Option<int>("--inputs") { Description = "mutated inputs per parser (the seeds themselves come first)", DefaultValueFactory = _ => 10_000 };
        var seed = new Option<long>("--seed") { Description = "seed of the mutator: a run is reproduced by it", DefaultValueFactory = _ => 0 };
        var corpus = new Option<string?>("--corpus") { Description = $"seed corpus folder with one sub-folder per target (default: the bundled {CorpusRelative})" };
        var failures = new Option<string?>("--failures") { Description = "folder for inputs that crash or hang (default: $TMPDIR/dlm-fuzz-failures)" };
        var cmd = new Command("fuzz", "Fuzz the readers of untrusted model files (safetensors header, tokenizer.json of both kinds, llama2.c .bin and tokenizer, config.json, chat templates) " +
            $"with seeded mutations of a seed corpus: an input must be accepted or refused with a clear error within {FuzzRunner.HangSeconds} s. Exit 1 on any crash or hang.")
        {
            target, inputs, seed, corpus, failures,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            int n = r.GetValue(inputs);
            OptionRanges.Positive("--inputs", n);
            var targets = r.GetValue(target) is { Length: > 0 } names ? names.Select(FuzzTargets.Find).ToList() : FuzzTargets.All.ToList();
            string root = r.GetValue(corpus) ?? ModelLocator.FindBundled(CorpusRelative, "README.md")
                ?? throw new DlmException($"no --corpus given and the bundled {CorpusRelative} was not found; run from the repository");
            int bad = 0;
            foreach (var t in targets)
            {
                var seeds = FuzzRunner.LoadSeeds(root, t.Name);
                var report = ProgressView.Run($"fuzz {t.Name}", n, progress =>
                    new FuzzRunner(t, seeds, r.GetValue(seed)) { FailuresDir = r.GetValue(failures), OnProgress = (done, _) => progress(done, null) }.Run(n));
                Io.Out.WriteLine($"{report.Target,-18} {report.Inputs,7} inputs: {report.Accepted} accepted, {report.Rejected} refused with a clear error, " +
                    $"{report.Failures.Count(f => f.Kind == "crash")} crashes, {report.Failures.Count(f => f.Kind == "hang")} hangs; slowest {report.SlowestSeconds * 1000:F0} ms, {report.Seconds:F1} s");
                foreach (var f in report.Failures) Io.Out.WriteLine($"  {f.Kind} at input {f.Input}: {f.Message.Split('\n')[0]} (saved as {f.SavedAs})");
                bad += report.Failures.Count;
            }
            return bad == 0 ? 0 : 1;
        }));
        return cmd;
    }
}
