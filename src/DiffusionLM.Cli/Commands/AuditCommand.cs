using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using DiffusionLM.Analysis.Audit;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.Corruption;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Reporting;

namespace DiffusionLM.Cli.Commands;

public static class AuditCommand
{
    public static Command Create()
    {
        var models = new Option<string[]>("--model") { Description = "model folders to audit, one or more (each one's family is config.json's \"process\")", AllowMultipleArgumentsPerToken = true };
        var outDir = new Option<string>("--out") { Description = "folder for audit.json, audit.md and d1_curves.png (and, with --quick, the data and models)", Required = true };
        var quick = new Option<bool>("--quick") { Description = "train tiny models of every family on a slice of Tiny Shakespeare (one tokenizer), plus their trap models, and audit them (a few minutes)" };
        var data = new Option<string[]>("--data") { Description = "text whose last 5% is the held-out text (default: the files each model was trained on, from its training_state.json)", AllowMultipleArgumentsPerToken = true };
        var families = new Option<string[]>("--families") { Description = "with --quick: the families to train (default: masked uniform gaussian)", AllowMultipleArgumentsPerToken = true };
        var trainSteps = new Option<int?>("--train-steps") { Description = "with --quick: optimizer steps of each family's model (default 150)" };
        var trapSamples = new Option<int?>("--trap-num-samples") { Description = "L2: samples per sampler setting (default 1000; 500 with --quick)" };
        var trapSteps = new Option<int?>("--trap-train-steps") { Description = "L2: optimizer steps of each trap model (default 400; 150 with --quick)" };
        var language = new Option<string>("--language") { Description = "L2: the trap language (paper, coupled, coupled:K,n,pairs,d,m,f)", DefaultValueFactory = _ => "paper" };
        var seed = new Option<long>("--seed") { Description = "seed of every draw (training, corruption, sampling)", DefaultValueFactory = _ => 0 };
        var force = OutputOptions.Force("write into --out when it holds an earlier audit (its files are overwritten)");

        var cmd = new Command("audit", "Measure the paper's Table 1 for each model: D1 smooth corruption (information against t, its spread across positions), " +
            "D2 closed form against the chain, D3 revisions and steps against length, L1 valid intermediate states, L2 the trap rate. Writes audit.json, audit.md, d1_curves.png.")
        {
            models, outDir, quick, data, families, trainSteps, trapSamples, trapSteps, language, seed, force,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            var clock = Stopwatch.StartNew();
            string dir = r.GetValue(outDir)!;
            bool q = r.GetValue(quick);
            var given = r.GetValue(models) ?? [];
            if (q && given.Length > 0) throw new DlmException("give either --model DIR... or --quick, not both");
            if (File.Exists(dir)) throw new DlmException($"{dir}: --out is a file; give a folder");
            if (!q && r.GetValue(families) is { Length: > 0 }) throw new DlmException("--families is for --quick (the audited families come from the models' config.json)");
            if (!q) AuditRunner.CheckModels(given);
            long s = r.GetValue(seed);
            var o = (q ? AuditOptions.Quick : new AuditOptions()) with { Seed = s, TrapLanguage = r.GetValue(language)! };
            if (r.GetValue(trapSamples) is { } ts) o = o with { TrapSamples = ts };
            if (r.GetValue(trapSteps) is { } tt) o = o with { TrapTrainSteps = tt };
            if (o.TrapSamples < 1 || o.TrapTrainSteps < 1) throw new DlmException("--trap-num-samples and --trap-train-steps must be positive");
            Analysis.Trap.TrapLanguages.FromName(o.TrapLanguage);
            var dataFiles = r.GetValue(data) is { Length: > 0 } d ? d.Select(Path.GetFullPath).ToArray() : null;
            if (dataFiles?.FirstOrDefault(f => !File.Exists(f)) is { } missing) throw new DlmException($"{missing}: --data file not found");
            using var output = OutputFolder.Claim(dir, "audit", OutputOptions.Existing(r.GetValue(force)), [.. given, .. dataFiles ?? []], replaces: false);

            // --quick's tiny models are bound by per-op overhead: one thread avoids OpenMP barriers that stall on a busy
            // machine (a 2-thread run took three times as long as a 1-thread one here) and fixes the thread count, so the
            // quick audit's numbers are the same wherever it runs.
            if (q) TorchSharp.torch.set_num_threads(1);
            var dirs = q ? TrainQuick(dir, r.GetValue(families), r.GetValue(trainSteps), s) : given;
            var audits = new List<FamilyAudit>();
            foreach (var modelDir in dirs)
            {
                var process = AuditRunner.ProcessOf(modelDir);
                audits.Add(ProgressView.Run($"auditing {process} ({modelDir})", FamilyAuditor.Stages, report =>
                    AuditRunner.AuditModel(modelDir, dataFiles, o, (stage, status) => report(stage, status))));
            }
            var auditReport = new AuditReport(audits, o, q, Math.Round(clock.Elapsed.TotalSeconds, 1));
            AuditTable.WriteAll(dir, auditReport);
            foreach (var f in audits) Io.Out.WriteLine(Summary(f));
            Io.Out.WriteLine($"wrote {Path.Combine(dir, AuditTable.MarkdownFile)}, {AuditTable.JsonFile} and {AuditFigures.D1File} in {clock.Elapsed.TotalSeconds:F0} s");
            return 0;
        }));
        return cmd;
    }

    static IReadOnlyList<string> TrainQuick(string dir, string[]? families, int? steps, long seed)
    {
        IReadOnlyList<DiffusionProcess> processes = families is { Length: > 0 } ? families.Select(DiffusionProcess.Parse).ToArray() : DiffusionProcess.All;
        var o = new QuickModelOptions { Seed = seed, Processes = processes };
        if (steps is { } st)
        {
            if (st < 1) throw new DlmException("--train-steps must be positive");
            o = o with { Steps = st };
        }
        string corpus = ModelLocator.FindBundled("data/corpus/tinyshakespeare/input.txt")
            ?? throw new DlmException("--quick needs the bundled data/corpus/tinyshakespeare/input.txt; run from the repository (or set DLM_HOME)");
        var index = processes.Select((p, i) => (p, i)).ToDictionary(x => x.p.Spelling, x => x.i);
        string status = "";
        return ProgressView.Run($"training {string.Join(", ", processes)} ({o.Steps} steps each)", processes.Count * o.Steps, report =>
            QuickModels.Train(dir, corpus, o, (process, p) =>
            {
                // A new status (hence a plain line off a terminal) at a message and every 25 steps, not at every step.
                if (p.Message is { } m) status = $"{process}: {m}";
                else if (p.Step % 25 == 0) status = FormattableString.Invariant($"{process}: step {p.Step}/{p.TotalSteps} loss {p.Loss:F3}");
                report(index[process] * o.Steps + p.Step, status);
            }));
    }

    static string Summary(FamilyAudit f)
    {
        string trap = f.L2 is null ? "-" : string.Join(" ", f.L2.Points.Select(p => FormattableString.Invariant($"{p.TrapRate:P1}@{p.Steps}")));
        return FormattableString.Invariant(
            $"{f.Process,-9} D1 step {f.D1.LargestJumpNormalised:F3} within-window log p std {f.D1.Spread.WithinWindowLogProbStd:F2} | D2 p {f.D2.PValue:G3} | D3 revisions {f.D3.RevisionsPerPosition:F2} nfe {f.D3.Nfe}/{f.D3.NfeLong} | L1 valid {f.L1.ValidSequenceShare:P0} | L2 {trap} ({f.Seconds:F0} s)");
    }
}
