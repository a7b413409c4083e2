using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Xunit;

namespace DiffusionLM.Tests.Serving;

/// <summary>
/// A real `dlm serve` process on a free loopback port (--port 0; the port is read from its first line), serving
/// the bundled default model with a queue of 8. One per test collection: the API, load and page tests share it.
/// </summary>
public sealed class ServerFixture : IDisposable
{
    public const int Queue = 8;
    readonly Process _process;
    readonly List<string> _stderr = [];
    public Uri Address { get; }
    public HttpClient Http { get; }
    public int Pid => _process.Id;

    public ServerFixture()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { DlmDll(), "serve", "--model", Path.Combine(RepoPaths.Root, "models", "shakespeare"), "--port", "0", "--queue", Queue.ToString() })
            psi.ArgumentList.Add(a);
        psi.Environment["DLM_HOME"] = RepoPaths.Root;
        psi.Environment["OMP_WAIT_POLICY"] = "PASSIVE";
        _process = Process.Start(psi)!;
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.Add(e.Data); };
        _process.BeginErrorReadLine();
        var line = _process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(180)).GetAwaiter().GetResult()
            ?? throw new InvalidOperationException("dlm serve ended before it listened: " + StdErr);
        var url = line.Split(' ').FirstOrDefault(w => w.StartsWith("http://"))?.TrimEnd(',')
            ?? throw new InvalidOperationException("no address in dlm serve's first line: " + line);
        Address = new Uri(url);
        Http = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(300) };
    }

    public string StdErr { get { lock (_stderr) return string.Join("\n", _stderr); } }

    /// <summary>The server process's resident memory.</summary>
    public long WorkingSet()
    {
        _process.Refresh();
        return _process.WorkingSet64;
    }

    public async Task<JsonElement> Info() => await Http.GetFromJsonAsync<JsonElement>("/v1/diffusion/info");

    /// <summary>dlm.dll beside the tests (the test project references the command line), else the CLI's own build.</summary>
    public static string DlmDll()
    {
        var here = Path.Combine(AppContext.BaseDirectory, "dlm.dll");
        if (File.Exists(here) && File.Exists(Path.Combine(AppContext.BaseDirectory, "dlm.runtimeconfig.json"))) return here;
        var config = AppContext.BaseDirectory.Contains("/Debug/") ? "Debug" : "Release";
        return Path.Combine(RepoPaths.Root, "src", "DiffusionLM.Cli", "bin", config, "net10.0", "linux-x64", "dlm.dll");
    }

    public void Dispose()
    {
        Http.Dispose();
        try { if (!_process.HasExited) { _process.Kill(entireProcessTree: true); _process.WaitForExit(10_000); } }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}

[CollectionDefinition("Server")]
public class ServerCollection : ICollectionFixture<ServerFixture> { }
