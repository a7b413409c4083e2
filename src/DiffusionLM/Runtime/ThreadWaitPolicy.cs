#pragma warning disable CA2255 // a module initializer in a library is the point: it must run before libtorch loads
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DiffusionLM.Runtime;

/// <summary>
/// How libtorch's OpenMP threads (libgomp) wait between parallel regions, chosen once, before libtorch loads
/// (libgomp reads its variables then). Spinning threads answer the next region at once but burn the cores other jobs
/// need: with one other job on two cores a 128-step generation took 27.1 s spinning and 3.1 s passive. Passive threads
/// sleep in the kernel, and on this project's 2-core VM waking them costs so much that two passive threads ran a
/// 25M-parameter forward of 160 tokens in 148 ms against 80 ms spinning (and 141 ms on one thread). So the choice
/// depends on the machine at the moment dlm starts: with nothing else running, a bounded spin
/// (<see cref="IdleSpinCount"/> iterations, then sleep); with another job running, passive. A value the user set
/// for either variable is left as it is.
/// </summary>
/// <remarks>
/// "Nothing else running" is read from the kernel's count of running tasks (<c>procs_running</c> in /proc/stat): the
/// smallest of eight samples 2 ms apart, minus the reader itself. A competing job runs through all of them, a passing
/// system task does not (with five samples 1 ms apart, one child in eighteen saw a passing task and chose passive).
/// Where the count cannot be read the choice is passive, the one that cannot slow other jobs. A job that starts after dlm meets a bounded spin, not an
/// endless one. The library applies this from its module initializer (before its first torch call); the CLI calls
/// <see cref="Apply"/> first thing in Main. <c>dlm bench wait-policy</c> measures each policy side by side, idle and
/// with <c>--busy 1</c>.
/// </remarks>
public static class ThreadWaitPolicy
{
    public const string Variable = "OMP_WAIT_POLICY";
    /// <summary>libgomp's spin count before a waiting thread sleeps; it overrides what the policy implies.</summary>
    public const string SpinVariable = "GOMP_SPINCOUNT";
    public const string Default = "PASSIVE";
    /// <summary>Spin iterations before sleeping when dlm starts on an idle machine (libgomp's own default is 300,000).</summary>
    public const long IdleSpinCount = 100_000;

    /// <summary>The variables for a machine that is busy (passive) or idle (a bounded spin).</summary>
    public static IReadOnlyDictionary<string, string> SettingsFor(bool busy) => busy
        ? new Dictionary<string, string> { [Variable] = Default }
        : new Dictionary<string, string> { [Variable] = Default, [SpinVariable] = IdleSpinCount.ToString(System.Globalization.CultureInfo.InvariantCulture) };

    /// <summary>"A=x B=y", in a fixed order, for reports.</summary>
    public static string Describe(IReadOnlyDictionary<string, string> variables) =>
        string.Join(" ", variables.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));

    /// <summary>What <see cref="Apply"/> chose, in words (for reports): the user's variables, or ours and why.</summary>
    public static string Choice { get; private set; } = "not applied";

    /// <summary>True when the user (or a parent process) chose the policy.</summary>
    public static bool SetByUser { get; private set; }

    static bool _applied;

    /// <summary>Sets the variables for the machine's state now, unless the user set either of them. Idempotent.</summary>
    public static void Apply()
    {
        if (_applied) return;
        _applied = true;
        string? policy = Environment.GetEnvironmentVariable(Variable), spin = Environment.GetEnvironmentVariable(SpinVariable);
        if (!string.IsNullOrEmpty(policy) || !string.IsNullOrEmpty(spin))
        {
            SetByUser = true;
            Choice = $"set by the user: {Variable}={policy ?? "(unset)"} {SpinVariable}={spin ?? "(unset)"}";
            return;
        }
        int? others = OtherRunningTasks();
        bool busy = others is not 0;
        var settings = SettingsFor(busy);
        Choice = (others is null ? "passive (the running tasks could not be read)" : busy ? $"passive ({others} other task(s) running at start)" : "bounded spin (nothing else running at start)")
            + ": " + Describe(settings);
        foreach (var (name, value) in settings)
        {
            Environment.SetEnvironmentVariable(name, value);
            if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
            {
                try { _ = setenv(name, value, 0); }
                catch (DllNotFoundException) { } // no libc to call: the managed value still reaches child processes
                catch (EntryPointNotFoundException) { }
            }
        }
        // Windows: the CRT reads the process environment block, which SetEnvironmentVariable updates.
    }

    /// <summary>Running tasks other than the reader: the smallest of eight readings of /proc/stat, minus one; null where unreadable.</summary>
    internal static int? OtherRunningTasks()
    {
        if (!OperatingSystem.IsLinux()) return null;
        int best = int.MaxValue;
        for (int i = 0; i < 8; i++)
        {
            if (i > 0) Thread.Sleep(2);
            int? n = ProcsRunning();
            if (n is null) return null;
            best = Math.Min(best, n.Value);
        }
        return Math.Max(0, best - 1);
    }

    static int? ProcsRunning()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/stat"))
                if (line.StartsWith("procs_running ", StringComparison.Ordinal) && int.TryParse(line.AsSpan(14).Trim(), out int n))
                    return n;
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
    }

    [ModuleInitializer]
    internal static void OnLibraryLoad() => Apply();

    [DllImport("libc", CharSet = CharSet.Ansi, SetLastError = true)]
    static extern int setenv(string name, string value, int overwrite);
}
