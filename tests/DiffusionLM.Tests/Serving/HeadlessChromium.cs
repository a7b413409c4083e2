using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;

namespace DiffusionLM.Tests.Serving;

/// <summary>
/// Debian's chromium, headless, driven over the DevTools protocol (a WebSocket; no driver to install): open a page,
/// evaluate JavaScript in it, take a screenshot. A fresh profile folder per run, no network but the page's server.
/// </summary>
public sealed class HeadlessChromium : IAsyncDisposable
{
    readonly Process _process;
    readonly TempFolder _profile;
    readonly ClientWebSocket _socket = new();
    int _id;

    public static string? Find() =>
        new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);

    HeadlessChromium(Process process, TempFolder profile) { _process = process; _profile = profile; }

    public static async Task<HeadlessChromium> Open(string executable, Uri page)
    {
        var profile = new TempFolder();
        var psi = new ProcessStartInfo(executable) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--user-data-dir=" + profile.Path, "--remote-debugging-port=0",
                     "--window-size=1300,900", page.ToString() })
            psi.ArgumentList.Add(a);
        var process = Process.Start(psi)!;
        var browser = new HeadlessChromium(process, profile);
        // Chromium prints "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..." on stderr.
        string? ws = null;
        var deadline = DateTime.UtcNow.AddSeconds(120);
        while (ws is null && DateTime.UtcNow < deadline)
        {
            var line = await process.StandardError.ReadLineAsync().WaitAsync(deadline - DateTime.UtcNow);
            if (line is null) throw new InvalidOperationException("chromium exited before it listened");
            if (line.Contains("DevTools listening on ")) ws = line[(line.IndexOf("ws://", StringComparison.Ordinal))..].Trim();
        }
        if (ws is null) throw new TimeoutException("chromium did not open its DevTools port");
        _ = process.StandardError.ReadToEndAsync();
        _ = process.StandardOutput.ReadToEndAsync();
        // The page's own target (not the browser's): listed on the HTTP side of the DevTools port.
        var port = new Uri(ws).Port;
        using var http = new HttpClient();
        string? pageWs = null;
        while (pageWs is null && DateTime.UtcNow < deadline)
        {
            var list = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{port}/json/list")).RootElement;
            pageWs = list.EnumerateArray().Where(t => t.GetProperty("type").GetString() == "page")
                .Select(t => t.GetProperty("webSocketDebuggerUrl").GetString()).FirstOrDefault();
            if (pageWs is null) await Task.Delay(100);
        }
        await browser._socket.ConnectAsync(new Uri(pageWs ?? throw new TimeoutException("no page target")), CancellationToken.None);
        return browser;
    }

    /// <summary>Evaluates an expression in the page and returns its value (JSON).</summary>
    public async Task<JsonElement> Evaluate(string expression) =>
        (await Call("Runtime.evaluate", new { expression, returnByValue = true, awaitPromise = true })).GetProperty("result").GetProperty("value");

    /// <summary>Polls <paramref name="condition"/> (a boolean JS expression) until true.</summary>
    public async Task WaitFor(string condition, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var v = await Call("Runtime.evaluate", new { expression = condition, returnByValue = true });
            if (v.GetProperty("result").TryGetProperty("value", out var b) && b.ValueKind == JsonValueKind.True) return;
            await Task.Delay(100);
        }
        throw new TimeoutException($"the page never satisfied: {condition}");
    }

    public async Task<byte[]> Screenshot() =>
        Convert.FromBase64String((await Call("Page.captureScreenshot", new { format = "png" })).GetProperty("data").GetString()!);

    async Task<JsonElement> Call(string method, object parameters)
    {
        int id = ++_id;
        var bytes = Encoding.UTF8.GetBytes(JsonSerializer.Serialize(new { id, method, @params = parameters }));
        await _socket.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[1 << 16];
        while (true)
        {
            using var ms = new MemoryStream();
            WebSocketReceiveResult r;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            do { r = await _socket.ReceiveAsync(buffer, cts.Token); ms.Write(buffer, 0, r.Count); } while (!r.EndOfMessage);
            var msg = JsonDocument.Parse(ms.ToArray()).RootElement;
            if (!msg.TryGetProperty("id", out var got) || got.GetInt32() != id) continue; // an event, or another call's answer
            if (msg.TryGetProperty("error", out var error)) throw new InvalidOperationException($"{method}: {error.GetRawText()}");
            return msg.GetProperty("result").Clone();
        }
    }

    public async ValueTask DisposeAsync()
    {
        try { if (_socket.State == WebSocketState.Open) await _socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None); }
        catch (WebSocketException) { }
        _socket.Dispose();
        try { if (!_process.HasExited) { _process.Kill(entireProcessTree: true); await _process.WaitForExitAsync(); } }
        catch (InvalidOperationException) { }
        _process.Dispose();
        _profile.Dispose();
    }
}
