using DiffusionLM.Training;
using Spectre.Console;

namespace DiffusionLM.Cli.Terminal;

/// <summary>Shows training progress: a Spectre.Console bar on a terminal, plain lines otherwise.</summary>
public static class TrainingView
{
    public static TrainingState Run(Func<Action<TrainingProgress>, TrainingState> train)
    {
        if (!Io.Interactive) return Plain(train);
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        TrainingState? result = null;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask("starting", maxValue: 1);
                double? lastVal = null, lastEma = null;
                result = train(p =>
                {
                    if (p.Message is not null) { task.Description = Markup.Escape(p.Message); return; }
                    if (p.TotalSteps > 0) task.MaxValue = p.TotalSteps;
                    task.Value = p.Step;
                    lastVal = p.ValLoss ?? lastVal;
                    lastEma = p.EmaValLoss ?? lastEma;
                    task.Description = Markup.Escape(Describe(p, lastVal, lastEma));
                });
            });
        return result!;
    }

    static string Describe(TrainingProgress p, double? val, double? ema) =>
        $"step {p.Step}/{p.TotalSteps}  loss {p.Loss:F3}" + (val is null ? "" : $"  val {val:F3}") + (ema is null ? "" : $"  ema val {ema:F3}") +
        $"  {p.TokensPerSecond:F0} tok/s  lr {p.LearningRate:E1}";

    static TrainingState Plain(Func<Action<TrainingProgress>, TrainingState> train)
    {
        using var plain = PlainProgress.Start();
        return train(p =>
        {
            if (p.Message is not null) { Io.Err.WriteLine(p.Message); return; }
            // Every validation and the last step at once; the steps in between at the cadence of PlainProgress.
            plain.Report(Describe(p, p.ValLoss, p.EmaValLoss) + $"  eta {p.Eta:hh\\:mm\\:ss}", force: p.ValLoss is not null || p.Step == p.TotalSteps);
        });
    }
}
