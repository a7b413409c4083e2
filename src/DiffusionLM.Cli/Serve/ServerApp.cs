using System.Net;
using System.Text.Json;
using DiffusionLM.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace DiffusionLM.Cli.Serve;

/// <summary>How dlm serve runs.</summary>
public sealed record ServeOptions(string Host, int Port, string? ApiKey, int Queue, ServeLimits Limits);

/// <summary>
/// The web application of <c>dlm serve</c>: the page at /, OpenAI's /v1/models, /v1/completions and
/// /v1/chat/completions, and /v1/diffusion/generate and /v1/diffusion/probe for the page. Requests are read and
/// checked on the request thread; the model work goes through <see cref="GenerationQueue"/>.
/// </summary>
public static class ServerApp
{
    public static bool IsLoopback(string host) =>
        host == "localhost" || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));

    public static WebApplication Build(GenerationSession session, GenerationQueue queue, ServeOptions o)
    {
        if (!IsLoopback(o.Host) && string.IsNullOrEmpty(o.ApiKey))
            throw new DlmException($"--host {o.Host} is reachable from other machines: give --api-key KEY (or DLM_API_KEY) so that only clients holding it are served");
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { EnvironmentName = "Production", ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Limits.MaxRequestBodySize = 1 << 20;
            if (o.Host == "localhost") k.ListenLocalhost(o.Port);
            else k.Listen(IPAddress.Parse(o.Host), o.Port);
        });
        var app = builder.Build();
        app.Use(async (ctx, next) =>
        {
            try
            {
                if (o.ApiKey is { Length: > 0 } key && ctx.Request.Path.StartsWithSegments("/v1") && ctx.Request.Headers.Authorization != "Bearer " + key)
                    throw new ApiException(401, "missing or wrong API key: send the header Authorization: Bearer KEY", type: "authentication_error");
                await next(ctx);
            }
            catch (ApiException e) { await Error(ctx, e.Status, e.Message, e.Param, e.Type); }
            catch (DlmException e) { await Error(ctx, 400, e.Message, null, "invalid_request_error"); }
            catch (BadHttpRequestException e) { await Error(ctx, e.StatusCode, e.Message, null, "invalid_request_error"); }
            catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested) { }
            catch (Exception e)
            {
                // The message only: a stack trace tells a client nothing and shows it the server's insides.
                Io.Err.WriteLine($"dlm serve: internal error on {ctx.Request.Path}: {e.GetType().Name}: {e.Message}");
                await Error(ctx, 500, "internal error", null, "server_error");
            }
        });

        var api = new ApiHandlers(session, queue, o.Limits);
        app.MapGet("/", ctx => Page.Serve(ctx, "index.html", "text/html; charset=utf-8"));
        app.MapGet("/v1/models", api.Models);
        app.MapPost("/v1/completions", ctx => api.Generate(ctx, ApiRequests.Completion, chat: false));
        app.MapPost("/v1/chat/completions", ctx => api.Generate(ctx, ApiRequests.Chat, chat: true));
        app.MapPost("/v1/diffusion/generate", api.Diffusion);
        app.MapPost("/v1/diffusion/probe", api.Probe);
        app.MapGet("/v1/diffusion/info", api.Info);
        app.MapFallback(ctx => throw new ApiException(404, $"no such endpoint: {ctx.Request.Method} {ctx.Request.Path}", type: "not_found"));
        return app;
    }

    public static Task Error(HttpContext ctx, int status, string message, string? param, string type)
    {
        if (ctx.Response.HasStarted) return Task.CompletedTask;
        ctx.Response.Clear();
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(JsonSerializer.Serialize(new { error = new { message, type, param, code = (string?)null } }));
    }
}

/// <summary>The embedded page (Serve/Page/*), read once.</summary>
static class Page
{
    static readonly Dictionary<string, byte[]> Cache = [];

    public static async Task Serve(HttpContext ctx, string name, string contentType)
    {
        byte[] bytes;
        lock (Cache)
        {
            if (!Cache.TryGetValue(name, out bytes!))
            {
                using var s = typeof(Page).Assembly.GetManifestResourceStream("DiffusionLM.Cli.Serve.Page." + name)
                    ?? throw new InvalidOperationException($"the page resource {name} is missing from the build");
                using var ms = new MemoryStream();
                s.CopyTo(ms);
                Cache[name] = bytes = ms.ToArray();
            }
        }
        ctx.Response.ContentType = contentType;
        await ctx.Response.Body.WriteAsync(bytes);
    }
}
