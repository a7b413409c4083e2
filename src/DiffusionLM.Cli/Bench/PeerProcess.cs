using System.Diagnostics;
using System.Text.Json.Nodes;

namespace DiffusionLM.Cli.Bench;

/// <summary>
/// Runs one peer of `dlm bench peers` in its own process (llama.cpp's runner dlm-peers.dll, or the
/// Python reference llada_generate.py), so its threads never share the cores with TorchSharp's
/// while it is timed, and returns the JSON object it printed.
/// </summary>
public sealed record PeerProcess(string Name, string Program, string[] Prefix)
{
    public static PeerProcess LlamaCpp(string runnerDll) => new("llama.cpp", "dotnet", [runnerDll]);
    public static PeerProcess Python(string python, string script) => new("python", python, [script]);

    public JsonObject Run(params string[] args)
    {
        var psi = new ProcessStartInfo(Program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in Prefix.Concat(args)) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new DlmException($"{Name}: could not start {Program}");
        var stderr = p.StandardError.ReadToEndAsync();
        string stdout = p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0)
            throw new DlmException($"{Name} ({Program} {string.Join(' ', Prefix.Concat(args))}) failed: {LastLine(stderr.Result)}");
        var last = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()
            ?? throw new DlmException($"{Name}: printed nothing");
        return JsonNode.Parse(last)!.AsObject();
    }

    static string LastLine(string s) => s.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "(no message)";
}
