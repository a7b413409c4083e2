using Spectre.Console;

namespace DiffusionLM.Cli.Terminal;

/// <summary>A progress bar for a count of work items: Spectre.Console on a terminal, a plain line every 10 s otherwise.</summary>
public static class ProgressView
{
    /// <param name="work">runs the work; calls the given callback with (done, total) as it goes.</param>
    public static T Run<T>(string title, int total, Func<Action<int, int>, T> work)
    {
        if (!Io.Interactive)
        {
            var last = DateTime.UtcNow;
            Io.Err.WriteLine(title);
            return work((done, all) =>
            {
                if ((DateTime.UtcNow - last).TotalSeconds < 10 && done != all) return;
                last = DateTime.UtcNow;
                Io.Err.WriteLine($"{title}: {done}/{all}");
            });
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: Math.Max(1, total));
                int offset = 0, lastDone = 0;
                result = work((done, all) =>
                {
                    // A second phase (the stepwise run) counts from zero again: keep the bar moving forward.
                    if (done < lastDone) offset += lastDone;
                    lastDone = done;
                    task.Value = Math.Min(task.MaxValue, offset + done);
                });
                task.Value = task.MaxValue;
            });
        return result;
    }
}
