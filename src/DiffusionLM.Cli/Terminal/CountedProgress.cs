using Spectre.Console;

namespace DiffusionLM.Cli.Terminal;

/// <summary>A counted task (stories sampled, samples scored): a Spectre.Console bar on a terminal, plain lines otherwise.</summary>
public static class CountedProgress
{
    /// <param name="work">gets a callback to report (done, optional status text).</param>
    public static T Run<T>(string description, double total, Func<Action<double, string?>, T> work)
    {
        if (!Io.Interactive)
        {
            var last = DateTime.MinValue;
            string? lastStatus = null;
            return work((done, status) =>
            {
                // A line at most every 10 s, and at the end: readable in CI logs.
                if ((DateTime.UtcNow - last).TotalSeconds < 10 && done < total && status == lastStatus) return;
                lastStatus = status;
                last = DateTime.UtcNow;
                Io.Err.WriteLine($"{description}: {done:0}/{total:0}" + (status is null ? "" : $"  {status}"));
            });
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(description), maxValue: Math.Max(1, total));
                result = work((done, status) =>
                {
                    task.Value = done;
                    task.Description = Markup.Escape(status is null ? description : $"{description}  {status}");
                });
            });
        return result;
    }
}
