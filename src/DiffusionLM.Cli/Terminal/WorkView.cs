using Spectre.Console;

namespace DiffusionLM.Cli.Terminal;

/// <summary>Progress of a job of known size: a Spectre.Console bar on a terminal, plain lines (at most every 5 s) otherwise.</summary>
public static class WorkView
{
    /// <param name="work">receives report(done, description).</param>
    public static void Run(string title, int total, Action<Action<int, string>> work)
    {
        if (!Io.Interactive)
        {
            var last = DateTime.MinValue;
            work((done, what) =>
            {
                if ((DateTime.UtcNow - last).TotalSeconds < 5 && done != total) return;
                last = DateTime.UtcNow;
                Io.Err.WriteLine($"{title}: {done}/{total} {what}");
            });
            return;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        console.Progress().AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new SpinnerColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: Math.Max(1, total));
                work((done, what) => { task.Value = done; task.Description = Markup.Escape($"{title}: {what}"); });
            });
    }
}
