using System.Diagnostics;

namespace DiffusionLM.Cli.Terminal;

/// <summary>
/// Progress as plain lines, for when stderr is not a terminal (CI logs, <c>2&gt; file</c>, systemd): the one place that
/// decides how often a long verb says where it is. A line at the first report, then the latest state once every
/// <see cref="Interval"/> (a report in between only updates what the next line says), and at once when the caller
/// forces it (the end, a new phase, a validation loss). On the real clock a heartbeat repeats the latest state when no
/// report came for an interval, so that a slow unit of work (one long prompt, one eval window) still shows a line
/// every few seconds. Each line ends with the time since the start, so that a log shows the cadence.
/// </summary>
public sealed class PlainProgress : IDisposable
{
    /// <summary>How often a plain progress line is printed: often enough that a log shows a live job.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(2);

    /// <summary>
    /// A clock for tests (the time since an arbitrary start); null is the real one. The heartbeat runs on the real
    /// clock only: a fake clock advances when the test says, so its lines come from reports alone.
    /// </summary>
    public static Func<TimeSpan>? TestClock { get; set; }

    readonly object _gate = new();
    readonly TextWriter _err;
    readonly Func<TimeSpan> _clock;
    readonly TimeSpan _start;
    readonly Timer? _heartbeat;
    TimeSpan? _lastLine;
    string? _state;

    public PlainProgress(TextWriter err, Func<TimeSpan> clock, bool heartbeat)
    {
        (_err, _clock) = (err, clock);
        _start = clock();
        var half = Interval / 2;
        if (heartbeat) _heartbeat = new Timer(_ => Tick(), null, half, half);
    }

    /// <summary>On <see cref="Io.Err"/>, on the test clock if one is set, else on the real one with the heartbeat.</summary>
    public static PlainProgress Start()
    {
        if (TestClock is { } fake) return new PlainProgress(Io.Err, fake, heartbeat: false);
        var watch = Stopwatch.StartNew();
        return new PlainProgress(Io.Err, () => watch.Elapsed, heartbeat: true);
    }

    /// <summary>The job's state now; printed if it is the first, if <paramref name="force"/>, or if a line is due.</summary>
    public void Report(string state, bool force = false)
    {
        lock (_gate)
        {
            _state = state;
            var now = _clock();
            if (force || _lastLine is not TimeSpan last || now - last >= Interval) Print(now);
        }
    }

    /// <summary>The heartbeat: the latest state again if no line came for an interval.</summary>
    public void Tick()
    {
        lock (_gate)
        {
            var now = _clock();
            if (_state is not null && _lastLine is TimeSpan last && now - last >= Interval) Print(now);
        }
    }

    void Print(TimeSpan now)
    {
        _lastLine = now;
        _err.WriteLine($"{_state}  [{FormatElapsed(now - _start)}]");
        _err.Flush();
    }

    /// <summary>h:mm:ss.f, the tenth of a second so that a log shows the cadence.</summary>
    public static string FormatElapsed(TimeSpan t) => t.ToString(@"h\:mm\:ss\.f", System.Globalization.CultureInfo.InvariantCulture);

    public void Dispose()
    {
        if (_heartbeat is null) return;
        using var done = new ManualResetEvent(false);
        // Waits for a tick in flight, so that no line is printed after the job's own output.
        if (_heartbeat.Dispose(done)) done.WaitOne();
    }
}
