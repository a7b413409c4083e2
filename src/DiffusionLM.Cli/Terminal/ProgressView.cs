using Spectre.Console;

namespace DiffusionLM.Cli.Terminal;

/// <summary>
/// Progress of a job of known size (stories sampled, prompts probed, settings measured): a Spectre.Console
/// bar on a terminal, otherwise plain lines at the cadence of <see cref="PlainProgress"/> (and at the end), readable in CI logs.
/// </summary>
public static class ProgressView
{
    /// <param name="work">runs the job; reports (done, optional status text) through the callback it is given.</param>
    public static T Run<T>(string title, double total, Func<Action<double, string?>, T> work)
    {
        if (!Io.Interactive)
        {
            using var plain = PlainProgress.Start();
            string? lastStatus = null;
            return work((done, status) =>
            {
                // A new status is a new phase: shown at once, as is the end.
                bool force = done >= total || status != lastStatus;
                lastStatus = status;
                plain.Report($"{title}: {done:0}/{total:0}" + (status is null ? "" : $"  {status}"), force);
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
