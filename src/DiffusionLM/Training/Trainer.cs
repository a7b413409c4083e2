using System.Diagnostics;
using System.Security.Cryptography;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Training;

/// <summary>A resumed run's new budget: exactly one of a total step count or minutes.</summary>
public sealed record ResumeBudget(int? Steps, double? Minutes);

/// <param name="EmaValLoss">with --ema, at a validation step: the average's validation loss (ValLoss is the trained weights').</param>
public sealed record TrainingProgress(int Step, int TotalSteps, double Loss, double? ValLoss, double TokensPerSecond, TimeSpan Elapsed, TimeSpan Eta, double LearningRate, string? Message = null,
    double? EmaValLoss = null);

/// <summary>
/// Trains a diffusion LM of any family: text → tokenizer → batches → the family's corruption → denoiser → ELBO loss →
/// AdamW. Checkpoints (model, tokenizer, optimizer moments, loss curve) go to one folder, atomically.
/// </summary>
public sealed class Trainer
{
    public Action<TrainingProgress>? OnProgress { get; init; }

    /// <summary>
    /// With resume: the run's new budget, "continue to this total" (--steps N, or --minutes M resolved to a step count
    /// after 5 steps as a fresh run does); null keeps the saved one. The LR schedule follows the new total from here on.
    /// </summary>
    public ResumeBudget? NewBudget { get; init; }

    /// <summary>Starts a run, or with <paramref name="resume"/> continues the one saved in <paramref name="outDir"/>.</summary>
    public TrainingState Run(TrainingOptions requested, string outDir, bool resume, CancellationToken cancel = default)
    {
        TrainingState? saved = resume ? TrainingState.Load(outDir) : null;
        var opts = saved is null ? requested : NewBudget is { } budget ? saved.Options with { Steps = budget.Steps, Minutes = budget.Minutes } : saved.Options;
        if (saved is not null && opts.Steps < saved.Step) throw new DlmException($"--steps {opts.Steps}: the run in {outDir} is already at step {saved.Step}");
        var preset = Preset.FromName(opts.Preset);
        int seqLen = opts.SeqLen ?? preset.SeqLen, batchSize = opts.BatchSize ?? preset.BatchSize;
        if (seqLen < BatchSampler.MinPrompt * 4) throw new DlmException($"--seq-len {seqLen} is too short (at least {BatchSampler.MinPrompt * 4})");
        if (batchSize <= 0) throw new DlmException("--batch-size must be positive");
        if (opts.Steps is null == opts.Minutes is null) throw new DlmException("give exactly one of --steps N or --minutes M");
        if (opts.Steps is <= 0 || opts.Minutes is <= 0) throw new DlmException("--steps and --minutes must be positive");
        if (opts.Process is null) throw new DlmException($"no --process given (expected one of {Spellings.Known<DiffusionProcess>()})");
        if (opts.Corruption is null) throw new DlmException($"no --corruption given (expected one of {Spellings.Known<MaskedCorruption>()})");
        if (opts.Corruption != MaskedCorruption.Uniform && !opts.Process.Absorbing)
            throw new DlmException($"--corruption {opts.Corruption} needs --process {DiffusionProcess.Masked}");
        if (opts.SftCut is not ("any" or "sentence")) throw new DlmException($"--sft-cut \"{opts.SftCut}\" is unknown (expected any or sentence)");
        if (opts.SftCut == "sentence" && !opts.Sft) throw new DlmException("--sft-cut sentence needs --sft");
        if (opts.MinAnswer != 1 && !opts.Sft) throw new DlmException("--min-answer needs --sft");
        if (opts.MinAnswer < 1 || opts.MinAnswer >= seqLen - BatchSampler.MinPrompt)
            throw new DlmException($"--min-answer {opts.MinAnswer} must be between 1 and {seqLen - BatchSampler.MinPrompt - 1} for --seq-len {seqLen}");
        if (opts.SftFormat is not ("plain" or QaFormat.Name)) throw new DlmException($"--sft-format \"{opts.SftFormat}\" is unknown (expected plain or qa)");
        if (opts.SftFormat == QaFormat.Name && !opts.Sft) throw new DlmException("--sft-format qa needs --sft");

        var files = TokenCorpus.ReadDocuments(opts.Data);
        var texts = files.Select(TokenCorpus.Joined).ToList();
        var hashes = texts.Select(t => Convert.ToHexString(SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(t)))).ToArray();
        if (saved is not null && !hashes.SequenceEqual(saved.DataSha256))
            throw new DlmException($"{outDir}: the training files changed since this run started; --resume needs the same data");

        Report(0, 0, double.NaN, null, 0, Stopwatch.StartNew(), 0, "preparing the tokenizer");
        LladaModel model;
        ITokenizer tokenizer;
        if (saved is not null) (model, tokenizer) = Checkpoint.Load(outDir);
        else if (opts.InitFrom is not null) (model, tokenizer) = InitialModels.FromCausal(opts);
        else
        {
            tokenizer = opts.Tokenizer is not null
                ? DiffusionSpecials.Ensure(Checkpoint.LoadTokenizer(opts.Tokenizer), opts.Tokenizer)
                : ByteLevelBpeTokenizer.Train(texts, opts.VocabSize);
            var config = InitialModels.Shape(opts, preset).ToConfig(tokenizer.VocabSize, seqLen, tokenizer.Special, opts.Schedule, opts.TimeConditioning, opts.Process)
                with { Corruption = opts.Corruption == MaskedCorruption.Uniform ? null : opts.Corruption };
            model = new LladaModel(config, BatchSampler.StepGenerator(opts.Seed, -1, 1));
        }
        using var _model = model;
        if (seqLen > model.Config.MaxSequenceLength)
            throw new DlmException($"--seq-len {seqLen} exceeds the model's context ({model.Config.MaxSequenceLength})");
        Report(0, 0, double.NaN, null, 0, Stopwatch.StartNew(), 0, "tokenizing the corpus");
        var corpus = TokenCorpus.Build(tokenizer, opts.Data, files, seqLen + 1);
        var unigram = corpus.UnigramCounts(model.Config.VocabSize);
        var process = DiffusionProcesses.Objective(model.Config, model, unigram);
        SentenceBoundaries? Cuts(int[] tokens) => opts.SftCut == "sentence" ? SentenceBoundaries.Find(tokenizer, tokens) : null;
        var trainCuts = Cuts(corpus.Train);
        if (trainCuts is { Count: 0 }) throw new DlmException("--sft-cut sentence: the training text has no sentence end ('.', '?' or '!')");
        (int[], int[])? frame = opts.SftFormat == QaFormat.Name ? QaFormat.Tokens(tokenizer) : null;
        var sampler = new BatchSampler(corpus.Train, seqLen, batchSize, model.Config.EosTokenId, opts.Sft, trainCuts, opts.MinAnswer, frame);
        var valBatches = BatchSampler.ValidationBatches(corpus.Validation, seqLen, opts.EvalWindows, model.Config.EosTokenId, opts.Sft, opts.Seed, Cuts(corpus.Validation), opts.MinAnswer, frame);
        using var _valBatches = new DisposeAll(valBatches);
        // With --ema a saved folder's model.safetensors is the average: it seeds the average, and the trained weights come back from their own file.
        using var average = opts.Ema is { } decay ? new WeightAverage(model, decay, saved?.Step ?? 0) : null;
        if (saved is not null && average is not null) WeightAverage.LoadTrainingWeights(model, outDir);
        using var optimizer = TrainingLoop.Optimizer(model);
        if (saved is not null)
        {
            var state = SafeTensors.Load(Path.Combine(outDir, TrainingState.OptimizerFile));
            optimizer.LoadState(state, saved.Step, Path.Combine(outDir, TrainingState.OptimizerFile));
            foreach (var t in state.Values) t.Dispose();
        }

        var trainLoss = saved?.TrainLoss.ToList() ?? [];
        var valLoss = saved?.ValLoss.ToList() ?? [];
        var emaValLoss = saved?.EmaValLoss.ToList() ?? [];
        long tokensSeen = saved?.TokensSeen ?? 0;
        int step = saved?.Step ?? 0;
        int totalSteps = saved is null || NewBudget is not null ? opts.Steps ?? 0 : saved.TotalSteps;
        var clock = Stopwatch.StartNew();
        int stepsThisRun = 0;

        TrainingState Snapshot() => new()
        {
            Options = opts, Step = step, TotalSteps = totalSteps, DataSha256 = hashes,
            TrainLoss = trainLoss, ValLoss = valLoss, EmaValLoss = emaValLoss, TokensSeen = tokensSeen,
        };
        void Save()
        {
            var snapshot = Snapshot();
            void Write(IReadOnlyDictionary<string, Tensor>? trainedWeights) => Checkpoint.Save(outDir, model, tokenizer, unigram, dir =>
            {
                snapshot.Save(dir);
                if (opts.SftFormat == QaFormat.Name) QaFormat.WriteChatTemplate(dir);
                SafeTensors.Save(Path.Combine(dir, TrainingState.OptimizerFile), optimizer.StateTensors());
                if (trainedWeights is not null) SafeTensors.Save(Path.Combine(dir, WeightAverage.TrainingWeightsFile), trainedWeights.ToDictionary());
            });
            if (average is null) Write(null);
            else average.WithAverage(trained => { Write(trained); return 0; });
        }

        // The divergence errors name --lr: the option a user lowers.
        string who = $"training at --lr {opts.LearningRate ?? preset.LearningRate}";
        model.train();
        while (totalSteps == 0 || step < totalSteps)
        {
            if (cancel.IsCancellationRequested)
            {
                Report(step, totalSteps, trainLoss.LastOrDefault(double.NaN), null, 0, clock, stepsThisRun, "interrupted: saving a checkpoint");
                Save();
                return Snapshot();
            }
            // Before --minutes has resolved the step budget the run is always in its first (warm-up) steps.
            int warmup = opts.WarmupSteps ?? preset.WarmupSteps;
            double lr = totalSteps > 0
                ? TrainingLoop.Schedule(new LoopSettings(totalSteps, opts.LearningRate ?? preset.LearningRate, warmup)).At(step)
                : new LearningRateSchedule(opts.LearningRate ?? preset.LearningRate, warmup, warmup + 1).At(step);
            double loss = TrainingLoop.Step(model, process, sampler.Draw, optimizer, opts.Seed, step, lr, opts.GradClip, who);
            average?.Update();
            trainLoss.Add(loss);
            tokensSeen += (long)batchSize * seqLen;
            step++; stepsThisRun++;
            if (totalSteps == 0 && stepsThisRun == 5)
            {
                // --minutes: the budget becomes a step count once the speed is known, and is saved, so that
                // the LR schedule and a resumed run are deterministic.
                double perStep = clock.Elapsed.TotalSeconds / stepsThisRun;
                totalSteps = Math.Max(step + 1, (int)(opts.Minutes!.Value * 60 / (perStep * 1.05)));
            }
            double? val = null, emaVal = null;
            if (step % opts.EvalInterval == 0 || step == totalSteps)
            {
                TrainingLoop.EnsureFinite(model, step, who);
                // Finite but huge weights (--lr 2e9) overflow the logits instead: the forward's own check names no option.
                try { val = ValidationLoss(model, process, valBatches, opts.Seed); }
                catch (NonFiniteLogitsException) { throw new DlmException($"{who} diverged by step {step} (the validation logits are no longer finite); lower the learning rate"); }
                if (!double.IsFinite(val.Value)) throw new DlmException($"{who} diverged by step {step} (validation loss {val}); lower the learning rate");
                valLoss.Add(new TrainingState.ValPoint(step, val.Value));
                if (average is not null)
                {
                    emaVal = average.WithAverage(_ => ValidationLoss(model, process, valBatches, opts.Seed));
                    emaValLoss.Add(new TrainingState.ValPoint(step, emaVal.Value));
                }
                model.train();
            }
            Report(step, totalSteps, loss, val, (double)stepsThisRun * batchSize * seqLen / clock.Elapsed.TotalSeconds, clock, stepsThisRun, null, lr, emaVal);
            if (step % opts.SaveInterval == 0 && step != totalSteps) Save();
        }
        Save();
        return Snapshot();

        void Report(int s, int total, double l, double? v, double tps, Stopwatch c, int done, string? message, double lr = 0, double? emaV = null)
        {
            var eta = done > 0 && total > 0 ? TimeSpan.FromSeconds(c.Elapsed.TotalSeconds / done * (total - s)) : TimeSpan.Zero;
            OnProgress?.Invoke(new TrainingProgress(s, total, l, v, tps, c.Elapsed, eta, lr, message, emaV));
        }
    }

    /// <summary>
    /// The negative ELBO on fixed held-out batches with fixed draws: comparable across steps and runs. For the
    /// families that train on their ELBO it is the training loss; for the gaussian one (trained on a cross-entropy
    /// surrogate) it is its likelihood bound, so validation curves of all families are in the same nats per token.
    /// </summary>
    public static double ValidationLoss(LladaModel model, IDiffusionObjective process, IReadOnlyList<TrainingBatch> batches, long seed)
    {
        model.eval();
        using var _ = no_grad();
        using var g = BatchSampler.StepGenerator(seed, -1, 2);
        double total = 0; long n = 0;
        foreach (var batch in batches)
        {
            using var scope = NewDisposeScope();
            long rows = batch.Ids.shape[0];
            total += process.NegativeElbo(model, batch, g).item<float>() * rows;
            n += rows;
        }
        return total / n;
    }

    /// <summary>Frees batches kept for a whole run when the run ends, however it ends.</summary>
    sealed class DisposeAll(IEnumerable<IDisposable> items) : IDisposable
    {
        public void Dispose() { foreach (var item in items) item.Dispose(); }
    }
}
