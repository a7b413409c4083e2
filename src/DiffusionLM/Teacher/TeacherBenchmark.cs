using System.Diagnostics;
using DiffusionLM.Analysis;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using DiffusionLM.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Teacher;

/// <param name="TrainSteps">optimizer steps for each denoiser (the same budget for both).</param>
/// <param name="SeqLen">training window; 1 + GenLength, so training and generation see the same length.</param>
/// <param name="Samples">generated texts per setting (each GenLength tokens from &lt;s&gt;).</param>
/// <param name="ElboWindows">held-out windows for the ELBO; the first token of a window is given, the rest scored.</param>
/// <param name="Temperature">sampling temperature of the teacher's floor and of the LLaDA sampler (1: the
/// protocol of MDLM/SEDD, comparable with the teacher's own temperature-1 samples).</param>
public sealed record TeacherBenchOptions(
    int TrainSteps = 300, int BatchSize = 16, int GenLength = 128, double ScratchLr = 2e-3, double FinetuneLr = 5e-4,
    int[]? StepCounts = null, int Samples = 32, int ElboWindows = 32, int McSamples = 16, double Temperature = 1.0,
    long Seed = 0, double HeldOutFraction = 0.05)
{
    public int SeqLen => GenLength + 1;
    public int[] Steps => StepCounts ?? [128, 64, 32, 16, 8];

    /// <summary>Refuses, naming the option, what would otherwise fail deep in a run (or, for a learning rate of 0, silently train nothing).</summary>
    public void Validate()
    {
        Positive("--train-steps", TrainSteps);
        Positive("--batch-size", BatchSize);
        Positive("--gen-length", GenLength);
        Positive("--num-samples", Samples);
        Positive("--elbo-windows", ElboWindows);
        Positive("--mc", McSamples);
        if (!(double.IsFinite(ScratchLr) && ScratchLr > 0)) throw new DlmException($"--lr-scratch {ScratchLr}: must be a finite number above 0");
        if (!(double.IsFinite(FinetuneLr) && FinetuneLr > 0)) throw new DlmException($"--lr-finetune {FinetuneLr}: must be a finite number above 0");
        SamplingOps.CheckTemperature("--temperature", Temperature);
        foreach (var s in Steps)
            if (s <= 0 || s > GenLength) throw new DlmException($"--steps {s}: must be in 1..{GenLength} (--gen-length)");
    }

    static void Positive(string option, int value)
    {
        if (value <= 0) throw new DlmException($"{option} {value}: must be positive");
    }
}

public sealed record GenPoint(int steps, double gen_ppl, double nll_per_token, double entropy, long tokens, double seconds);
public sealed record DenoiserResult(string name, string init, double learning_rate, double final_train_loss, double elbo_nll, double elbo_ppl, double train_seconds, List<GenPoint> gen);
public sealed record TeacherResult(double exact_nll, double exact_ppl, GenPoint floor);
public sealed record TeacherBenchResult(TeacherBenchOptions options, int corpus_stories, int train_tokens, int heldout_tokens, TeacherResult teacher, List<DenoiserResult> models);

/// <summary>
/// `dlm bench teacher`: the price of parallel decoding measured against a teacher of known likelihood.
/// Two masked denoisers of the teacher's size learn the teacher's corpus with its tokenizer — one from
/// scratch, one initialised from the teacher Dream-style — for the same number of steps; each is then
/// scored by (a) its ELBO perplexity on held-out teacher text and (b) the judge's (teacher's) perplexity of
/// what LLaDA's low-confidence sampler generates at GenLength tokens for fewer and fewer steps.
/// The teacher's exact perplexity on the same windows and its own samples' judge perplexity (the floor) frame both.
/// </summary>
public sealed class TeacherBenchmark(LladaModel teacher, Llama2cTokenizer tokenizer, TeacherBenchOptions options)
{
    public Action<string, double, double>? OnProgress { get; init; } // (phase, done, total)

    /// <summary>How the "dream-init" denoiser is made from the teacher (Dream's recipe); a seam so tests can run the
    /// benchmark with a deliberately broken initialisation and see its checks reject it.</summary>
    public Func<LladaModel, LladaModel> DreamInitialiser { get; init; } = t => DreamInit.FromCausal(t);

    public TeacherBenchResult Run(IReadOnlyList<Story> corpus)
    {
        var o = options;
        o.Validate();
        if (o.SeqLen > teacher.Config.MaxSequenceLength)
            throw new DlmException($"--gen-length {o.GenLength}: + <s> exceeds the teacher's context ({teacher.Config.MaxSequenceLength})");
        var (train, held) = Streams(corpus);
        var judge = new TeacherJudge(teacher, tokenizer);
        using var windows = BatchSampler.FixedWindows(held, o.SeqLen, o.ElboWindows);

        Report("teacher: exact perplexity and floor", 0, 1);
        double teacherNll = TeacherWindowNll(windows);
        var floor = TeacherFloor(judge);
        Report("teacher: exact perplexity and floor", 1, 1);

        var results = new List<DenoiserResult>();
        using (var scratch = DreamInit.Scratch(teacher.Config, BatchSampler.StepGenerator(o.Seed, -1, 1)))
            results.Add(TrainAndScore("scratch", "random (N(0, 0.02))", scratch, train, windows, judge, o.ScratchLr));
        using (var dream = DreamInitialiser(teacher))
            results.Add(TrainAndScore("dream-init", "teacher weights, bidirectional, logits shifted", dream, train, windows, judge, o.FinetuneLr));
        return new TeacherBenchResult(o, corpus.Count, train.Length, held.Length,
            new TeacherResult(teacherNll, Math.Exp(teacherNll), floor), results);
    }

    /// <summary>Token streams: every story as &lt;s&gt; + its tokens (llama2.c's layout); the last stories are held out.</summary>
    (int[] Train, int[] Held) Streams(IReadOnlyList<Story> corpus)
    {
        int heldCount = Math.Max(1, (int)Math.Round(corpus.Count * options.HeldOutFraction));
        if (corpus.Count - heldCount < 1) throw new DlmException($"bench teacher: the corpus has {corpus.Count} stories, too few to hold some out");
        var train = new List<int>();
        var held = new List<int>();
        for (int i = 0; i < corpus.Count; i++)
        {
            var target = i < corpus.Count - heldCount ? train : held;
            target.Add(Llama2cTokenizer.BosId);
            target.AddRange(tokenizer.Encode(corpus[i].Text));
        }
        if (held.Count < options.SeqLen * 2 || train.Count < options.SeqLen * 2)
            throw new DlmException($"bench teacher: the corpus is too small ({train.Count} training, {held.Count} held-out tokens)");
        return (train.ToArray(), held.ToArray());
    }

    /// <summary>Exact NLL per token of windows[:, 1:] given the window's earlier tokens: what the ELBO bounds.</summary>
    double TeacherWindowNll(Tensor windows)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long len = windows.shape[1];
        var logp = nn.functional.log_softmax(teacher.Logits(windows.narrow(1, 0, len - 1)).to_type(ScalarType.Float64), -1);
        var picked = logp.gather(-1, windows.narrow(1, 1, len - 1).unsqueeze(-1));
        return -picked.mean().item<double>();
    }

    GenPoint TeacherFloor(TeacherJudge judge)
    {
        var clock = Stopwatch.StartNew();
        var sampler = new AutoregressiveSampler(new AutoregressiveOptions(options.GenLength, options.Temperature, StopToken: Llama2cTokenizer.BosId, RecordTrace: false));
        using var g = BatchSampler.StepGenerator(options.Seed, -1, 3);
        using var scope = NewDisposeScope();
        var prompt = full(new long[] { options.Samples, 1 }, (long)Llama2cTokenizer.BosId);
        var result = sampler.Generate(teacher, prompt, g);
        return Judge(judge, result.Completions, 0, clock);
    }

    /// <summary>Texts of completions, each cut at its first &lt;s&gt; (the end of a story, as the teacher's corpus cuts).</summary>
    GenPoint Judge(TeacherJudge judge, long[][] completions, int steps, Stopwatch clock)
    {
        var texts = completions.Select(row =>
        {
            int end = Array.IndexOf(row, (long)Llama2cTokenizer.BosId);
            return tokenizer.Decode((end < 0 ? row : row[..end]).Select(t => (int)t));
        }).ToList();
        var s = judge.Score(texts);
        return new GenPoint(steps, s.GenPpl, s.NllPerToken, s.Entropy, s.Tokens, clock.Elapsed.TotalSeconds);
    }

    DenoiserResult TrainAndScore(string name, string init, LladaModel model, int[] train, Tensor windows, TeacherJudge judge, double lr)
    {
        var clock = Stopwatch.StartNew();
        double lastLoss = Train(name, model, train, lr);
        double trainSeconds = clock.Elapsed.TotalSeconds;
        model.eval();

        Report($"{name}: ELBO", 0, 1);
        // Weights can stay finite while a huge learning rate leaves logits that overflow: the evaluation then stops at the
        // logits check, whose message cannot know which option trained the model.
        try { return Score(name, init, model, windows, judge, lr, lastLoss, trainSeconds); }
        catch (NonFiniteLogitsException) { throw Diverged(lr, name); }
    }

    DenoiserResult Score(string name, string init, LladaModel model, Tensor windows, TeacherJudge judge, double lr, double lastLoss, double trainSeconds)
    {
        var o = options;
        double elbo = ElboNll(model, windows);
        if (!double.IsFinite(elbo)) throw Diverged(lr, name);
        var points = new List<GenPoint>();
        foreach (var steps in o.Steps)
        {
            Report($"{name}: generating ({steps} steps)", points.Count, o.Steps.Length);
            var c = Stopwatch.StartNew();
            var sampler = new LladaSampler(new LladaSamplerOptions(GenLength: o.GenLength, Steps: steps, BlockLength: o.GenLength,
                Temperature: o.Temperature, Remasking: LladaSamplerOptions.LowConfidence));
            using var g = BatchSampler.StepGenerator(o.Seed, steps, 4);
            var prompts = Enumerable.Range(0, o.Samples).Select(_ => new long[] { Llama2cTokenizer.BosId }).ToArray();
            var result = sampler.Generate(model, prompts, g);
            points.Add(Judge(judge, result.Completions, steps, c));
        }
        return new DenoiserResult(name, init, lr, lastLoss, elbo, Math.Exp(elbo), trainSeconds, points);
    }

    /// <summary>The error of a model trained into overflow, naming the option that set its learning rate.</summary>
    static DlmException Diverged(double lr, string name) =>
        new($"{(name == "scratch" ? "--lr-scratch" : "--lr-finetune")} {lr.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}: the {name} model's training diverged (its logits are no longer finite); lower the learning rate");

    /// <summary>Both denoisers' settings in the project's one training loop (its defaults: warm-up a tenth, clip 1, decay 0.1).</summary>
    public LoopSettings Settings(double lr) => new(options.TrainSteps, lr, Seed: options.Seed);

    /// <summary>Masked-diffusion pre-training on random windows of the stream (the project's ELBO loss, AdamW, warm-up + cosine).</summary>
    public double Train(string name, LladaModel model, int[] train, double lr)
    {
        var o = options;
        var process = new MaskedProcess(MaskSchedule.FromName(model.Config.Schedule), model.Config.MaskTokenId);
        var sampler = new BatchSampler(train, o.SeqLen, o.BatchSize, Llama2cTokenizer.EosId, sft: false);
        double ema = double.NaN;
        TrainingLoop.Run(model, process, sampler.Draw, Settings(lr), (step, value) =>
        {
            ema = double.IsNaN(ema) ? value : 0.95 * ema + 0.05 * value;
            Report($"{name}: training", step, o.TrainSteps);
        }, $"bench teacher: {name} at {(name == "scratch" ? "--lr-scratch" : "--lr-finetune")} {lr}");
        return ema;
    }

    /// <summary>LLaDA's Monte-Carlo ELBO (NLL bound) per token of windows[:, 1:] given windows[:, 0].</summary>
    double ElboNll(LladaModel model, Tensor windows)
    {
        using var g = BatchSampler.StepGenerator(options.Seed, -1, 5);
        double total = 0; long tokens = 0;
        var rows = windows.data<long>().ToArray();
        int len = (int)windows.shape[1];
        for (int r = 0; r < windows.shape[0]; r++)
        {
            var w = rows.AsSpan(r * len, len).ToArray();
            var est = MaskedElbo.Estimate(model, w[..1], w[1..], options.McSamples, options.McSamples, g);
            total += est.Nll; tokens += est.Tokens;
        }
        return total / tokens;
    }

    void Report(string phase, double done, double total) => OnProgress?.Invoke(phase, done, total);
}
