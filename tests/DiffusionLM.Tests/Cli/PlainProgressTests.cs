using System.Globalization;
using System.Text.RegularExpressions;
using DiffusionLM.Cli;
using DiffusionLM.Cli.Terminal;
using Xunit;

namespace DiffusionLM.Tests.Cli;

/// <summary>
/// Issue 12: a long verb whose stderr is not a terminal says where it is every few seconds (2–3 s). Time is a fake clock
/// throughout: no test here waits on the wall clock.
/// </summary>
[Collection("TorchGlobalState")]
public partial class PlainProgressTests
{
    /// <summary>A clock that advances by <paramref name="step"/> each time it is read.</summary>
    static Func<TimeSpan> Ticking(double step)
    {
        double now = 0;
        return () => { var t = TimeSpan.FromSeconds(now); now += step; return t; };
    }

    [GeneratedRegex(@"\[(\d+:\d\d:\d\d\.\d)\]$")]
    private static partial Regex Stamp();

    /// <summary>The elapsed times that the progress lines of a log end with.</summary>
    static List<TimeSpan> Stamps(string log) =>
        [.. log.Split('\n').Select(l => Stamp().Match(l.TrimEnd())).Where(m => m.Success).Select(m => TimeSpan.ParseExact(m.Groups[1].Value, @"h\:mm\:ss\.f", CultureInfo.InvariantCulture))];

    /// <summary>
    /// Null when the lines come at the cadence the issue asks for: at least <paramref name="minLines"/> of them, and every gap
    /// but the last (the end is printed at once) between 2 and 3 s.
    /// </summary>
    static string? CadenceProblem(IReadOnlyList<TimeSpan> stamps, int minLines)
    {
        if (stamps.Count < minLines) return $"{stamps.Count} progress lines, expected at least {minLines}";
        for (int i = 1; i < stamps.Count - 1; i++)
        {
            double gap = (stamps[i] - stamps[i - 1]).TotalSeconds;
            if (gap < 2 || gap > 3) return $"a gap of {gap:F1} s between lines {i - 1} and {i}";
        }
        return null;
    }

    [Fact]
    public void TheIntervalIsAFewSeconds() => Assert.InRange(PlainProgress.Interval.TotalSeconds, 2, 3);

    [Fact]
    public void TheCadenceCheckRejectsTheOldTenSecondsAndAChattyLog()
    {
        Assert.NotNull(CadenceProblem([.. Enumerable.Range(0, 6).Select(i => TimeSpan.FromSeconds(10 * i))], 3));
        Assert.NotNull(CadenceProblem([.. Enumerable.Range(0, 60).Select(i => TimeSpan.FromSeconds(0.5 * i))], 3));
        Assert.NotNull(CadenceProblem([TimeSpan.Zero], 3));
        Assert.Null(CadenceProblem([.. Enumerable.Range(0, 6).Select(i => TimeSpan.FromSeconds(2 * i))], 3));
    }

    [Fact]
    public void FrequentReportsArePrintedOnceAnIntervalAndTheEndAtOnce()
    {
        var log = new StringWriter();
        using (var p = new PlainProgress(log, Ticking(0.25), heartbeat: false))
        {
            // 80 reports a quarter of a second apart: 20 s of work.
            for (int i = 1; i <= 80; i++) p.Report($"work: {i}/80", force: i == 80);
        }
        var stamps = Stamps(log.ToString());
        Assert.Null(CadenceProblem(stamps, 10));
        Assert.EndsWith("work: 80/80", log.ToString().TrimEnd().Split('\n')[^1].Split("  [")[0]);
    }

    [Fact]
    public void TheHeartbeatRepeatsTheStateWhenAUnitOfWorkIsSlow()
    {
        var log = new StringWriter();
        var now = TimeSpan.Zero;
        using var p = new PlainProgress(log, () => now, heartbeat: false);
        p.Report("probe: 1/3");
        // One slow prompt: no report for 7 s, the timer ticking every second.
        for (int s = 1; s <= 7; s++) { now = TimeSpan.FromSeconds(s); p.Tick(); }
        var lines = log.ToString().TrimEnd().Split('\n');
        Assert.All(lines, l => Assert.StartsWith("probe: 1/3", l));
        Assert.Null(CadenceProblem(Stamps(log.ToString()), 4));
    }

    [Fact]
    public void ATickBeforeAnyReportPrintsNothing()
    {
        var log = new StringWriter();
        var now = TimeSpan.Zero;
        using var p = new PlainProgress(log, () => now, heartbeat: false);
        now = TimeSpan.FromSeconds(5);
        p.Tick();
        Assert.Equal("", log.ToString());
    }

    /// <summary>The real verbs, stderr redirected to a file, on a clock that advances a second per reading.</summary>
    static string RunRedirected(string[] args, double secondsPerReading)
    {
        using var tmp = new TempFolder();
        var file = tmp["stderr.log"];
        var (oldOut, oldErr, oldClock) = (Io.Out, Io.Err, PlainProgress.TestClock);
        int code;
        using (var err = new StreamWriter(file))
        {
            Io.Out = TextWriter.Null;
            Io.Err = err;
            PlainProgress.TestClock = Ticking(secondsPerReading);
            try { code = Program.Run(args); }
            finally { (Io.Out, Io.Err, PlainProgress.TestClock) = (oldOut, oldErr, oldClock); }
        }
        var log = File.ReadAllText(file);
        Assert.True(code == 0, log);
        return log;
    }

    [Fact]
    public void FuzzRedirectedToAFilePrintsALineEveryTwoToThreeSeconds()
    {
        var log = RunRedirected(["fuzz", "--target", "config", "--inputs", "200", "--corpus", Path.Combine(Stories260K.RepoRoot, "data", "fuzz")], 0.25);
        // 200 inputs at a quarter of a second: 50 s of fake time, a line every 2 s.
        Assert.Null(CadenceProblem(Stamps(log), 20));
        Assert.Contains("fuzz config: 200/200", log);
    }

    [Fact]
    public void TrainRedirectedToAFilePrintsALineEveryTwoToThreeSeconds()
    {
        using var tmp = new TempFolder();
        File.WriteAllText(tmp["corpus.txt"], string.Concat(Enumerable.Repeat("the cat sat on the mat. a dog ran in the park. ", 200)));
        var log = RunRedirected(["train", "--data", tmp["corpus.txt"], "--out", tmp["run"], "--steps", "12", "--seq-len", "32", "--batch-size", "2",
            "--vocab-size", "280", "--eval-interval", "1000"], 1.0);
        Assert.Null(CadenceProblem(Stamps(log), 5));
        Assert.Contains("step 12/12", log);
    }
}
