#pragma warning disable CA2255 // a module initializer in a library is the point: it must run before libtorch loads
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DiffusionLM.Runtime;

/// <summary>
/// libtorch's OpenMP threads (libgomp) spin after every parallel region by default (OMP_WAIT_POLICY
/// ACTIVE behaviour for a while), which on a shared machine burns the cores other jobs need: with one
/// other job on two cores a 128-step generation took 27.1 s spinning and 3.1 s passive. libgomp reads the
/// variable once, when libtorch is loaded, so it must be in the process environment before the first
/// torch call. .NET's Environment.SetEnvironmentVariable changes only the managed copy on Unix, so the
/// native environment is set through libc's setenv. A value the user set is left as it is.
/// </summary>
/// <remarks>
/// The library applies this from its module initializer (which runs before any of its code, so before its
/// first torch touch); the CLI calls <see cref="Apply"/> first thing in Main. Measured by
/// <c>dlm bench wait-policy</c> (child processes under each policy, side by side in one run).
/// </remarks>
public static class ThreadWaitPolicy
{
    public const string Variable = "OMP_WAIT_POLICY";
    /// <summary>libgomp's spin count before a waiting thread sleeps; it overrides what the policy implies.</summary>
    public const string SpinVariable = "GOMP_SPINCOUNT";
    public const string Default = "PASSIVE";

    /// <summary>The variables dlm sets when the user set neither <see cref="Variable"/> nor <see cref="SpinVariable"/>.</summary>
    public static readonly IReadOnlyDictionary<string, string> DefaultSettings = new Dictionary<string, string>
    {
        [Variable] = Default,
    };

    /// <summary>"A=x B=y", in a fixed order, for reports.</summary>
    public static string Describe(IReadOnlyDictionary<string, string> variables) =>
        string.Join(" ", variables.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}"));

    /// <summary>What the process runs under after <see cref="Apply"/>: the user's value or ours.</summary>
    public static string Effective => Environment.GetEnvironmentVariable(Variable) ?? Default;

    /// <summary>True when the user (or a parent process) chose the policy.</summary>
    public static bool SetByUser { get; private set; }

    static bool _applied;

    /// <summary>Sets <see cref="DefaultSettings"/> in the native and managed environment unless the user set either variable. Idempotent.</summary>
    public static void Apply()
    {
        if (_applied) return;
        _applied = true;
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable)) || !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(SpinVariable)))
        {
            SetByUser = true;
            return;
        }
        foreach (var (name, value) in DefaultSettings)
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

    [ModuleInitializer]
    internal static void OnLibraryLoad() => Apply();

    [DllImport("libc", CharSet = CharSet.Ansi, SetLastError = true)]
    static extern int setenv(string name, string value, int overwrite);
}
