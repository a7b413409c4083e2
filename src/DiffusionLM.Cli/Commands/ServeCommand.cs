using System.CommandLine;
using DiffusionLM.Cli.Serve;
using DiffusionLM.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm serve`: the model behind an OpenAI-compatible HTTP API and a page that shows the denoising.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var host = new Option<string>("--host") { Description = "address to listen on; anything but loopback (127.0.0.1, ::1, localhost) needs --api-key", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "TCP port (0: a free one, printed at start)", DefaultValueFactory = _ => 8080 };
        var apiKey = new Option<string?>("--api-key") { Description = "clients must send Authorization: Bearer KEY on /v1 (default: the DLM_API_KEY environment variable, if set)" };
        var queueSize = new Option<int>("--queue") { Description = "requests that may wait while one runs; more get 429", DefaultValueFactory = _ => 8 };
        var maxTokens = new Option<int>("--max-tokens") { Description = "most tokens a request may generate (max_tokens, gen_length, probe masks)", DefaultValueFactory = _ => 256 };
        var maxPrompt = new Option<int>("--max-prompt-tokens") { Description = "longest prompt a request may send, in tokens", DefaultValueFactory = _ => 2048 };
        var maxSteps = new Option<int>("--max-steps") { Description = "most denoising steps a request may ask for", DefaultValueFactory = _ => 1024 };
        var cmd = new Command("serve",
            "Serve a model over HTTP: OpenAI's /v1/chat/completions, /v1/completions and /v1/models (streaming with \"stream\": true), " +
            "/v1/diffusion/generate (every denoising step), and at / a page that draws the denoising live.")
        {
            model, host, port, apiKey, queueSize, maxTokens, maxPrompt, maxSteps,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            var key = r.GetValue(apiKey) ?? Environment.GetEnvironmentVariable("DLM_API_KEY");
            var hostName = r.GetValue(host)!;
            if (hostName != "localhost" && !System.Net.IPAddress.TryParse(hostName, out _))
                throw new DlmException($"--host must be an IP address or localhost (got \"{hostName}\")");
            int p = r.GetValue(port);
            if (p is < 0 or > 65535) throw new DlmException($"--port must lie in 0..65535 (got {p})");
            var limits = new ServeLimits(r.GetValue(maxPrompt), r.GetValue(maxTokens), r.GetValue(maxSteps));
            if (limits.MaxTokens <= 0 || limits.MaxPromptTokens <= 0 || limits.MaxSteps <= 0)
                throw new DlmException("--max-tokens, --max-prompt-tokens and --max-steps must be positive");
            var options = new ServeOptions(hostName, p, string.IsNullOrEmpty(key) ? null : key, r.GetValue(queueSize), limits);
            // Refuse an open bind before loading anything.
            if (!ServerApp.IsLoopback(hostName) && options.ApiKey is null)
                throw new DlmException($"--host {hostName} is reachable from other machines: give --api-key KEY (or DLM_API_KEY) so that only clients holding it are served");
            using var session = GenerationSession.Open(ModelLocator.Resolve(r.GetValue(model)));
            using var queue = new GenerationQueue(options.Queue);
            var app = ServerApp.Build(session, queue, options);
            try { app.StartAsync().GetAwaiter().GetResult(); }
            catch (IOException e) { throw new DlmException($"cannot listen on {hostName}:{p}: {e.Message}"); }
            var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? [];
            // Tests and scripts read this line for the port chosen with --port 0.
            Io.Out.WriteLine($"dlm serve: {session.ModelName} on {string.Join(", ", addresses)} (queue {options.Queue}, max tokens {limits.MaxTokens}{(options.ApiKey is null ? "" : ", API key required")})");
            Io.Out.Flush();
            app.WaitForShutdownAsync().GetAwaiter().GetResult();
            app.DisposeAsync().AsTask().GetAwaiter().GetResult();
            return 0;
        }));
        return cmd;
    }
}
