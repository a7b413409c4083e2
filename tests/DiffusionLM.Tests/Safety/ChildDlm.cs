using System.Diagnostics;
using System.Runtime.InteropServices;

namespace DiffusionLM.Tests.Safety;

/// <summary>Runs `dlm` as a child process (the dlm.dll built next to the tests), for what only a real process shows: signals, kill -9.</summary>
public static class ChildDlm
{
    static string DllPath => Path.Combine(AppContext.BaseDirectory, "dlm.dll");

    static string DotnetHost =>
        Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host && File.Exists(host) ? host
        : Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : "dotnet";

    /// <summary>Starts the child; what it prints on stderr is appended to <paramref name="stderr"/> (if given) line by line.</summary>
    public static Process Start(string[] args, System.Collections.Concurrent.ConcurrentQueue<string>? stderr = null)
    {
        var info = new ProcessStartInfo(DotnetHost) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(DllPath);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        info.Environment["CI"] = "1"; // plain progress lines, no terminal bar
        var process = Process.Start(info)!;
        // Drain both pipes so that a chatty child never blocks on a full pipe.
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) stderr?.Enqueue(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    /// <summary>Runs to the end; the exit code.</summary>
    public static int Run(params string[] args)
    {
        var err = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var p = Start(args, err);
        // Generous: the shared CI machine may be loaded many times over; a hang is still caught.
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(entireProcessTree: true); throw new TimeoutException(string.Join(" ", args)); }
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"dlm {string.Join(" ", args)} exited {p.ExitCode}: {string.Join(" | ", err)}");
        return p.ExitCode;
    }

    public static void Signal(Process p, int signal)
    {
        if (kill(p.Id, signal) != 0) throw new InvalidOperationException($"kill({p.Id}, {signal}) failed");
    }

    public const int SigTerm = 15, SigKill = 9;

    [DllImport("libc", SetLastError = true)]
    static extern int kill(int pid, int sig);
}
