using System.CommandLine;
using DiffusionLM.IO;
using DiffusionLM.Training;

namespace DiffusionLM.Cli.Commands;

/// <summary>
/// What `train` may do with the folder --out names. Without --resume, a folder holding a run is refused (it would be
/// restarted, losing it) unless --force; with --resume, --steps/--minutes set the run's new total and every other
/// option given must equal the saved one: a resumed run replays the saved options, so a different value would be
/// ignored, and it is named instead.
/// </summary>
public static class TrainResume
{
    /// <summary>Refuses a fresh run over a saved one (without --force); with --resume, the new budget (null: keep the saved one).</summary>
    public static ResumeBudget? Check(ParseResult r, string outPath, bool resume, bool force, TrainingOptions requested, IReadOnlyList<(Option Option, Func<TrainingOptions, object?> Value)> runOptions)
    {
        string statePath = Path.Combine(outPath, TrainingState.File);
        if (!resume)
        {
            if (File.Exists(statePath) && !force)
            {
                var s = TrainingState.Load(outPath);
                string where = s.TotalSteps > 0 && s.Step >= s.TotalSteps ? $"a finished run ({s.Step}/{s.TotalSteps} steps)" : $"a run at step {s.Step}/{s.TotalSteps}";
                throw new DlmException($"--out {outPath}: holds {where}; pass --resume to continue it (--steps N sets a new total) or --force to start a new run over it");
            }
            return null;
        }
        var saved = TrainingState.Load(outPath);
        var changed = runOptions
            .Where(o => r.GetResult(o.Option) is { Implicit: false } && !Same(o.Value(requested), o.Value(saved.Options)))
            .Select(o => $"{o.Option.Name} (saved: {Show(o.Value(saved.Options))})").ToList();
        if (changed.Count > 0)
            throw new DlmException($"--resume continues the saved run with its own options; these differ from it: {string.Join(", ", changed)}. " +
                "Drop them, or start a new run in another --out (only --steps/--minutes may change on --resume)");
        bool stepsGiven = requested.Steps is not null;
        bool minutesGiven = requested.Minutes is not null;
        if (!stepsGiven && !minutesGiven) return null;
        if (stepsGiven && minutesGiven) throw new DlmException("give at most one of --steps N or --minutes M with --resume");
        if (requested.Steps is int n && n < saved.Step) throw new DlmException($"--steps {n}: the run in {outPath} is already at step {saved.Step}; give a total of at least {saved.Step}");
        return new ResumeBudget(requested.Steps, requested.Minutes);
    }

    static bool Same(object? a, object? b) => (a, b) switch
    {
        (string[] x, string[] y) => x.SequenceEqual(y),
        _ => Equals(a, b),
    };

    static string Show(object? v) => v switch
    {
        null => "none",
        string[] a => string.Join(" ", a),
        bool b => b ? "on" : "off",
        _ => Convert.ToString(v, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };
}
