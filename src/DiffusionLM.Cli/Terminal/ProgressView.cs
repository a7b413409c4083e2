using Spectre.Console;

namespace DiffusionLM.Cli.Terminal;

/// <summary>
/// Progress of a job of known size (stories sampled, prompts probed, settings measured): a Spectre.Console
/// bar on a terminal, a plain line at most every 10 s (and at the end) otherwise, readable in CI logs.
/// </summary>
public static class ProgressView
{
    /// <param name="work">runs the job; reports (done, optional status text) through the callback it is given.</param>
    public static T Run<T>(string title, double total, Func<Action<double, string?>, T> work)
    {
        if (!Io.Interactive)
        {
            var last = DateTime.MinValue;
            string? lastStatus = null;
            return work((done, status) =>
            {
                if ((DateTime.UtcNow - last).TotalSeconds < 10 && done < total && status == lastStatus) return;
                lastStatus = status;
                last = DateTime.UtcNow;
                Io.Err.WriteLine($"{title}: {done:0}/{total:0}" + (status is null ? "" : $"  {status}"));
            });
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        T result = default!;
        console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: Math.Max(1, total));
                result = work((done, status) =>
                {
                    task.Value = Math.Min(task.MaxValue, done);
                    task.Description = Markup.Escape(status is null ? title : $"{title}  {status}");
                });
            });
        return result;
    }

    /// <summary>The same for a job that returns nothing.</summary>
    public static void Run(string title, double total, Action<Action<double, string?>> work)
        => Run<bool>(title, total, report => { work(report); return true; });
}
