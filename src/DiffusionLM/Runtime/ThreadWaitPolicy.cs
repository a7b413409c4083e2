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
    public const string Default = "PASSIVE";

    /// <summary>What the process runs under after <see cref="Apply"/>: the user's value or ours.</summary>
    public static string Effective => Environment.GetEnvironmentVariable(Variable) ?? Default;

    /// <summary>True when the user (or a parent process) chose the policy.</summary>
    public static bool SetByUser { get; private set; }

    static bool _applied;

    /// <summary>Sets OMP_WAIT_POLICY=PASSIVE in the native and managed environment unless already set. Idempotent.</summary>
    public static void Apply()
    {
        if (_applied) return;
        _applied = true;
        if (!string.IsNullOrEmpty(Environment.GetEnvironmentVariable(Variable))) { SetByUser = true; return; }
        Environment.SetEnvironmentVariable(Variable, Default);
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            try { _ = setenv(Variable, Default, 0); }
            catch (DllNotFoundException) { } // no libc to call: the managed value still reaches child processes
            catch (EntryPointNotFoundException) { }
        }
        // Windows: the CRT reads the process environment block, which SetEnvironmentVariable updates.
    }

    [ModuleInitializer]
    internal static void OnLibraryLoad() => Apply();

    [DllImport("libc", CharSet = CharSet.Ansi, SetLastError = true)]
    static extern int setenv(string name, string value, int overwrite);
}
