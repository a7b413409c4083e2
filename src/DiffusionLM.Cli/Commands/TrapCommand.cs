using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using DiffusionLM.Analysis;
using DiffusionLM.Analysis.Trap;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;

namespace DiffusionLM.Cli.Commands;

public static class TrapCommand
{
    /// <summary>The curves the trap can measure, the names --samplers takes.</summary>
    /// <summary>The trap's curves: the registry's masked samplers it sweeps (checked before any training).</summary>
    static string[] CurveNames => TrapExperiment.Samplers().Select(e => e.Name).ToArray();

    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "folder for trap.json, the figures, the corpora and the trained trap models", Required = true };
        var quick = new Option<bool>("--quick") { Description = "small end-to-end run: the paper's language, a tiny model, every sampler at one and at many tokens per step (< 3 min)" };
        var languages = new Option<string[]>("--language") { Description = "languages: paper ({He likes apple, I play tennis}), coupled, coupled:K,n,pairs,d,m,f (default: paper and coupled)", AllowMultipleArgumentsPerToken = true };
        var samples = new Option<int>("--num-samples") { Description = "samples per sampler setting", DefaultValueFactory = _ => 1000 };
        var trainSteps = new Option<int?>("--train-steps") { Description = "optimizer steps of each trap model (default 150 with --quick, 800 otherwise)" };
        var seed = new Option<long>("--seed") { Description = "seed of training and sampling", DefaultValueFactory = _ => 0 };
        var only = new Option<string[]>("--samplers") { Description = "measure only these sampler curves (default: all)", AllowMultipleArgumentsPerToken = true };
        var natural = new Option<string?>("--natural-model") { Description = "also measure natural text with this model folder: duplicates, PMI by distance, and judge perplexity when a judge is wired" };
        var naturalPrompts = new Option<string?>("--natural-prompts") { Description = $"prompts: JSON Lines (\"prompt\", as data/prompts/*.jsonl) or a text file whose lines are prompts (default: the story openings, {BenchQualityCommand.DefaultOpenings})" };
        var naturalCount = new Option<int>("--natural-num-samples") { Description = "natural-text prompts per setting", DefaultValueFactory = _ => 16 };
        var reuse = new Option<bool>("--reuse-models") { Description = "load each language's model saved by an earlier run in --out (DIR/LANGUAGE/model) instead of training it" };
        var force = OutputOptions.Force("write into --out when it holds an earlier trap run (files of that run are overwritten; --reuse-models continues one without it)");
        var naturalLength = new Option<int>("--natural-gen-length") { Description = "tokens generated per natural-text prompt", DefaultValueFactory = _ => 64 };

        var cmd = new Command("trap", "The marginal trap: train small models on languages with an exact support, sample them with every sampler " +
            "at temperature 1 from one to many tokens per step, and report the invalid rate beside the exact product-of-marginals rate (trap.json, figures).")
        {
            outDir, quick, languages, samples, trainSteps, seed, only, reuse, natural, naturalPrompts, naturalCount, naturalLength, force,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            var clock = Stopwatch.StartNew();
            string dir = r.GetValue(outDir)!;
            bool q = r.GetValue(quick);
            int n = r.GetValue(samples);
            if (n < 1) throw new DlmException($"--num-samples must be positive (got {n})");
            var names = r.GetValue(languages) is { Length: > 0 } given ? given : q ? ["paper"] : ["paper", "coupled"];
            var langs = names.Select(TrapLanguages.FromName).ToList();
            long s = r.GetValue(seed);
            OptionRanges.Positive("--train-steps", r.GetValue(trainSteps));
            // With or without --natural-model: a count of 0 prompts or tokens is never a measurement.
            OptionRanges.Positive("--natural-num-samples", r.GetValue(naturalCount));
            OptionRanges.Positive("--natural-gen-length", r.GetValue(naturalLength));
            var trainOpts = new TrapTrainingOptions(Steps: r.GetValue(trainSteps) ?? (q ? 150 : 800), Seed: s);
            var curves = r.GetValue(only) is { Length: > 0 } o ? o.ToHashSet() : null;
            // Before any model is trained: a misspelt curve would otherwise cost the whole training run.
            if (curves?.FirstOrDefault(c => !CurveNames.Contains(c)) is string unknown)
                throw new DlmException($"--samplers: \"{unknown}\" is not a curve of the trap (names: {string.Join(", ", CurveNames)})");
            using var output = OutputFolder.Claim(dir, "trap", r.GetValue(reuse) ? OutputFolder.Existing.Continue : OutputOptions.Existing(r.GetValue(force)),
                [r.GetValue(natural), r.GetValue(naturalPrompts)], replaces: false);
            var reports = new List<object>();
            foreach (var lang in langs)
                reports.Add(RunLanguage(lang, dir, q, n, trainOpts, (ulong)s, curves, r.GetValue(reuse)));
            object? naturalReport = null;
            if (r.GetValue(natural) is { } modelDir)
                naturalReport = RunNatural(modelDir, r.GetValue(naturalPrompts), r.GetValue(naturalCount), r.GetValue(naturalLength), q, dir, (ulong)s);
            var first = (LanguageReport)reports[0];
            var payload = new
            {
                language = first.Name,
                product_of_marginals = first.ProductOfMarginals,
                samplers = first.Samplers,
                languages = reports,
                natural = naturalReport,
                seconds = Math.Round(clock.Elapsed.TotalSeconds, 1),
            };
            AtomicFile.WriteAllText(Path.Combine(dir, "trap.json"), JsonSerializer.Serialize(payload, new JsonSerializerOptions { WriteIndented = true }));
            Io.Out.WriteLine($"wrote {Path.Combine(dir, "trap.json")} in {clock.Elapsed.TotalSeconds:F0} s");
            return 0;
        }));
        return cmd;
    }

    sealed record LanguageReport(string Name, int Length, long SupportSize, object ProductOfMarginals, object Samplers, string Figure);

    static LanguageReport RunLanguage(TrapLanguage lang, string dir, bool quick, int samples, TrapTrainingOptions opts, ulong seed,
        HashSet<string>? curves, bool reuse)
    {
        string ldir = Path.Combine(dir, Sanitize(lang.Name));
        Directory.CreateDirectory(ldir);
        Models.LladaModel? model = null;
        ITokenizer tokenizer;
        if (reuse)
        {
            string saved = Path.Combine(ldir, "model");
            if (!Directory.Exists(saved)) throw new DlmException($"--reuse-models: {saved} does not exist (run once without --reuse-models)");
            (model, tokenizer) = Checkpoint.Load(saved);
            model.eval();
        }
        else
        {
            string corpus = TrapModel.CorpusText(lang, opts.Sentences, opts.Seed);
            AtomicFile.WriteAllText(Path.Combine(ldir, "corpus.txt"), corpus);
            var bpe = TrapModel.Tokenizer(lang, corpus);
            tokenizer = bpe;
            ProgressView.Run($"training the {lang.Name} model", opts.Steps, report =>
                model = TrapModel.Train(lang, bpe, corpus, opts, (step, loss) => report(step, $"step {step}/{opts.Steps} loss {loss:F3}")));
        }
        using var m = model!;
        if (!reuse) Checkpoint.Save(Path.Combine(ldir, "model"), m, tokenizer);
        var words = TrapModel.WordTokens(tokenizer, lang);
        var prompt = TrapModel.Prompt(tokenizer);
        var prediction = TrapExperiment.Predict(m, prompt, words, lang);
        var sweep = TrapExperiment.Sweep(lang.Length, quick).Where(x => curves is null || curves.Contains(x.Curve)).ToList();
        if (sweep.Count == 0) throw new DlmException($"--samplers selected no sampler (names: {string.Join(", ", CurveNames)})");
        var points = new List<TrapPoint>();
        ProgressView.Run($"sampling {lang.Name}", sweep.Count, report =>
        {
            for (int i = 0; i < sweep.Count; i++)
            {
                points.Add(TrapExperiment.Measure(m, sweep[i], prompt, words, lang, samples, seed + (ulong)i));
                report(i + 1, $"{sweep[i].Curve} {points[^1].TokensPerStep:F2} tok/step: {points[^1].TrapRate:P1} invalid");
            }
        });
        string figure = Path.Combine(ldir, "trap.png");
        TrapFigures.TrapRate(figure, lang.Name, points, prediction.InvalidRate);
        TrapFigures.TrapRateByCommittingSteps(Path.Combine(ldir, "trap-nfe.png"), lang.Name, points, prediction.InvalidRate);
        Io.Out.WriteLine($"{lang.Name}: product of marginals predicts {prediction.InvalidRate:P1} invalid (off-word mass {prediction.OffWordMass:E1})");
        foreach (var p in points)
            Io.Out.WriteLine($"  {p.Curve,-20} {Describe(p),-26} tok/step {p.TokensPerStep,5:F2}  steps {p.CommittingSteps,5:F2}  rows {p.RowsPerSample,6:F1}  invalid {p.TrapRate,7:P2}" + (p.Example.Length > 0 ? $"  e.g. \"{p.Example}\"" : ""));
        var samplers = points.GroupBy(p => p.Curve).Select(g => new
        {
            name = g.Key,
            tokens_per_step = g.Select(p => Math.Round(p.TokensPerStep, 4)).ToArray(),
            trap_rate = g.Select(p => p.TrapRate).ToArray(),
            committing_steps = g.Select(p => Math.Round(p.CommittingSteps, 4)).ToArray(),
            batch_nfe = g.Select(p => p.BatchNfe).ToArray(),
            rows_per_sample = g.Select(p => Math.Round(p.RowsPerSample, 2)).ToArray(),
            settings = g.Select(Describe).ToArray(),
            samples = g.Select(p => p.Samples).ToArray(),
            example_invalid = g.Select(p => p.Example).ToArray(),
        }).ToArray();
        var pom = new
        {
            invalid_rate = prediction.InvalidRate,
            off_word_mass = prediction.OffWordMass,
            marginals = prediction.Marginals.Select((row, i) => row.Select((v, w) => new { v, w }).Where(x => x.v > 1e-3)
                .ToDictionary(x => lang.Words[x.w], x => Math.Round(x.v, 4))).ToArray(),
        };
        return new LanguageReport(lang.Name, lang.Length, lang.SupportSize, pom, samplers, figure);

        string Describe(TrapPoint p) => TrapExperiment.Describe(sweep[points.FindIndex(x => ReferenceEquals(x, p))]);
    }

    static object RunNatural(string modelDir, string? promptFile, int count, int genLength, bool quick, string dir, ulong seed)
    {
        using var loaded = ModelLoader.Load(modelDir);
        promptFile ??= FindBundled(BenchQualityCommand.DefaultOpenings);
        if (!File.Exists(promptFile)) throw new DlmException($"{promptFile}: prompt file not found");
        // Prompts: spread over the file, so they are not all from one scene.
        var lines = (promptFile.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase)
            ? Analysis.Probe.PromptSet.Load(promptFile).Select(p => p.Text)
            : File.ReadAllLines(promptFile)).Where(l => l.Trim().Length > 20).ToArray();
        if (lines.Length == 0) throw new DlmException($"{promptFile}: no prompt longer than 20 characters");
        var picked = Enumerable.Range(0, count).Select(i => lines[(int)((long)i * lines.Length / count)]);
        // A model trained in a chat frame (train --sft-format qa) gets its prompts in that frame, as the probe does:
        // the line's last 16 tokens, wrapped by the template.
        var tok = loaded.Tokenizer;
        var framed = loaded.ChatTemplate is { } chat
            ? picked.Select(t => chat.Apply(tok.Decode(tok.Encode(t).TakeLast(16))))
            : picked;
        var prompts = NaturalTextStudy.Prompts(tok, framed, count, loaded.ChatTemplate is null ? 16 : 64);
        if (prompts.Max(p => p.Length) + genLength > loaded.Model.Config.MaxSequenceLength)
            throw new DlmException($"--natural-gen-length {genLength} does not fit the model's context {loaded.Model.Config.MaxSequenceLength} after a 16-token prompt");
        // The judge of natural-text quality: the bundled stories260K teacher (exact likelihood).
        var (judgeModel, judgeTokenizer) = Checkpoint.Load(ModelLocator.Resolve(null, TeacherCorpusCommand.DefaultTeacher));
        using var judgeScope = judgeModel;
        var judge = new TeacherJudge(judgeModel, judgeTokenizer);
        var settings = NaturalSweep(genLength, quick);
        var points = new List<NaturalPoint>();
        ProgressView.Run("natural text", settings.Count, report =>
        {
            for (int i = 0; i < settings.Count; i++)
            {
                points.Add(NaturalTextStudy.Measure(judge, loaded, settings[i], prompts, genLength, seed + (ulong)i));
                report(i + 1, $"{settings[i].Curve} {points[^1].CommittingSteps:F1} steps");
            }
        });
        var pmi = NaturalTextStudy.PmiByDistance(loaded.Model, prompts.Take(quick ? 4 : 8).ToList(), genLength, anchors: 4, draws: 4, seed);
        TrapFigures.Natural(Path.Combine(dir, "natural.png"), points);
        TrapFigures.Pmi(Path.Combine(dir, "pmi.png"), pmi);
        Io.Out.WriteLine("natural text" + (judge is null ? " (no judge wired: gen-ppl not measured)" : ""));
        foreach (var p in points)
            Io.Out.WriteLine($"  {p.Curve,-20} steps {p.CommittingSteps,6:F1}  nfe {p.Nfe,6:F1}  tok/step {p.TokensPerStep,5:F2}  gen-ppl {(p.GenPpl is { } g ? g.ToString("F2") : "-"),8}  duplicates {p.DuplicateRate:P2}");
        foreach (var p in pmi.Where(p => p.Distance <= 8 || p.Distance % 8 == 0))
            Io.Out.WriteLine($"  PMI at distance {p.Distance,2}: {p.MeanPmi:F4} nats ({p.Pairs} pairs)");
        return new { model = modelDir, judged = judge is not null, points, pmi };
    }

    /// <summary>
    /// The natural-text settings: the block decoders of the registry (the samplers that take --block-length: LLaDA's and its
    /// parallel successors, the comparison the study is about), each variant once, over a few settings of its pace.
    /// </summary>
    static List<TrapSetting> NaturalSweep(int genLength, bool quick)
    {
        var s0 = new SamplerSettings(GenLength: genLength, Steps: genLength, Temperature: 1.0);
        int[] divisors = quick ? [1, 4] : [1, 2, 4, 8];
        double[] thresholds = quick ? [0.9, 0.5] : [0.9, 0.7, 0.5, 0.3];
        double[] factors = quick ? [0.5, 2] : [0.25, 1, 4];
        double[] gammas = quick ? [0.1, 1.0] : [0.01, 0.1, 0.5, 1.0, 2.0];
        var settings = new List<TrapSetting>();
        foreach (var e in TrapExperiment.Samplers().Where(e => e.Blocks))
        {
            IEnumerable<SamplerSettings> points = e.Pace!.Setting switch
            {
                nameof(SamplerSettings.Threshold) => thresholds.Select(t => s0 with { Threshold = t }),
                nameof(SamplerSettings.Factor) => factors.Select(f => s0 with { Factor = f }),
                nameof(SamplerSettings.Gamma) => gammas.Select(g => s0 with { Gamma = g }),
                _ => divisors.Select(d => s0 with { Steps = genLength / d }),
            };
            settings.AddRange(points.Select(p => new TrapSetting(e.Name, e.Name, p)));
        }
        return settings;
    }

    static string FindBundled(string relative)
    {
        var home = Environment.GetEnvironmentVariable("DLM_HOME") ?? Directory.GetCurrentDirectory();
        return Path.Combine(home, relative);
    }

    static string Sanitize(string name) => new(name.Select(c => char.IsLetterOrDigit(c) || c == '-' ? c : '_').ToArray());
}
