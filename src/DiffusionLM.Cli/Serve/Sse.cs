using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;

namespace DiffusionLM.Cli.Serve;

/// <summary>Server-Sent Events: "data: JSON" blocks, flushed one by one, closed by OpenAI's "data: [DONE]".</summary>
public static class Sse
{
    public static readonly JsonSerializerOptions Json = new() { DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.Never };

    public static void Start(HttpResponse response)
    {
        response.StatusCode = 200;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        // Proxies (nginx) buffer streamed bodies unless told not to.
        response.Headers["X-Accel-Buffering"] = "no";
    }

    public static async Task Write(HttpResponse response, object payload, CancellationToken cancel)
    {
        await response.WriteAsync("data: " + JsonSerializer.Serialize(payload, Json) + "\n\n", cancel);
        await response.Body.FlushAsync(cancel);
    }

    public static async Task Done(HttpResponse response, CancellationToken cancel)
    {
        await response.WriteAsync("data: [DONE]\n\n", cancel);
        await response.Body.FlushAsync(cancel);
    }

    /// <summary>Writes every event the worker produces until it completes the channel (or the client leaves).</summary>
    public static async Task Drain(HttpResponse response, ChannelReader<object> events, CancellationToken cancel)
    {
        await foreach (var e in events.ReadAllAsync(cancel)) await Write(response, e, cancel);
    }
}
