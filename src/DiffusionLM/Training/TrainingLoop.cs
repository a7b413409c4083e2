using DiffusionLM.Corruption;
using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Training;

/// <summary>How one training run steps: the learning-rate schedule's peak and warm-up, clipping, weight decay.</summary>
/// <param name="Warmup">requested warm-up steps; <see cref="TrainingLoop.Warmup"/> caps it at a tenth of the run.</param>
public sealed record LoopSettings(int TotalSteps, double PeakLr, int Warmup = int.MaxValue, double GradClip = TrainingLoop.DefaultGradClip,
    double WeightDecay = TrainingLoop.DefaultWeightDecay, long Seed = 0);

/// <summary>
/// The one training step of the project, used by `dlm train` (<see cref="Trainer"/>), the trap's models, the teacher
/// benchmark and the audit: draw the step's batch from a generator seeded by (seed, step), corrupt it with the
/// family's objective, AdamW with clipping, warm-up then cosine. The draws depend on (seed, step) alone, so a
/// resumed run replays an uninterrupted one exactly.
/// </summary>
public static class TrainingLoop
{
    public const double DefaultGradClip = 1.0, DefaultWeightDecay = 0.1;

    /// <summary>Warm-up is at most a tenth of the run (at least one step).</summary>
    public static int Warmup(int requested, int totalSteps) => Math.Max(1, Math.Min(requested, Math.Max(1, totalSteps / 10)));

    public static LearningRateSchedule Schedule(LoopSettings s) =>
        new(s.PeakLr, Warmup(s.Warmup, s.TotalSteps), Math.Max(s.TotalSteps, Warmup(s.Warmup, s.TotalSteps) + 1));

    public static AdamW Optimizer(nn.Module model, double weightDecay = DefaultWeightDecay) =>
        new(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter))) { WeightDecay = weightDecay };

    /// <summary>One optimizer step at learning rate <paramref name="lr"/>; returns the loss. <paramref name="who"/> names the run in errors.</summary>
    public static double Step(LladaModel model, IDiffusionObjective process, Func<Generator, TrainingBatch> draw, AdamW optimizer,
        long seed, int step, double lr, double gradClip, string who = "training")
    {
        using var scope = NewDisposeScope();
        using var g = BatchSampler.StepGenerator(seed, step);
        using var batch = draw(g);
        optimizer.ZeroGrad();
        var loss = process.Loss(model, batch, g);
        double value = loss.item<float>();
        if (!double.IsFinite(value)) throw new DlmException($"{who} diverged at step {step} (loss {value}); lower the learning rate");
        loss.backward();
        optimizer.ClipGradients(gradClip);
        optimizer.Step(lr);
        return value;
    }

    /// <summary>A whole run without checkpoints (for models trained inside an instrument); returns the last loss.</summary>
    public static double Run(LladaModel model, IDiffusionObjective process, Func<Generator, TrainingBatch> draw, LoopSettings s,
        Action<int, double>? progress = null, string who = "training")
    {
        using var optimizer = Optimizer(model, s.WeightDecay);
        var schedule = Schedule(s);
        model.train();
        double last = double.NaN;
        for (int step = 0; step < s.TotalSteps; step++)
        {
            last = Step(model, process, draw, optimizer, s.Seed, step, schedule.At(step), s.GradClip, who);
            progress?.Invoke(step + 1, last);
        }
        EnsureFinite(model, s.TotalSteps, who);
        model.eval();
        return last;
    }

    /// <summary>
    /// A step's loss is taken before its update, so the update of the last step can leave NaN weights that no loss
    /// shows: without this check a huge learning rate surfaced later as "the model's logits hold NaN".
    /// </summary>
    public static void EnsureFinite(LladaModel model, int step, string who = "training")
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
            if (!isfinite(p).all().item<bool>())
                throw new DlmException($"{who} diverged by step {step} (weight {name} is no longer finite); lower the learning rate");
    }
}
