using System.Net;
using System.Text;
using System.Text.Json;

namespace DiffusionLM.Tests.Serving;

/// <summary>Client side of the tests: JSON posts and Server-Sent Events read as they arrive.</summary>
public static class Api
{
    public static async Task<(HttpStatusCode Status, JsonElement Body)> Post(HttpClient http, string path, string json, CancellationToken cancel = default)
    {
        using var response = await http.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"), cancel);
        var text = await response.Content.ReadAsStringAsync(cancel);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    public static string Json(object o) => JsonSerializer.Serialize(o);

    /// <summary>Posts and reads the event stream to its end: the JSON of every "data:" line but [DONE], and whether [DONE] came.</summary>
    public static async Task<(HttpStatusCode Status, List<JsonElement> Events, bool Done)> Stream(HttpClient http, string path, string json,
        CancellationToken cancel = default, Func<JsonElement, bool>? stopAfter = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancel);
        var events = new List<JsonElement>();
        if (response.StatusCode != HttpStatusCode.OK)
        {
            events.Add(JsonDocument.Parse(await response.Content.ReadAsStringAsync(cancel)).RootElement.Clone());
            return (response.StatusCode, events, false);
        }
        if (response.Content.Headers.ContentType?.MediaType != "text/event-stream") throw new InvalidOperationException("not an event stream");
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancel));
        while (await reader.ReadLineAsync(cancel) is { } line)
        {
            if (!line.StartsWith("data: ")) continue;
            if (line == "data: [DONE]") return (response.StatusCode, events, true);
            var e = JsonDocument.Parse(line[6..]).RootElement.Clone();
            events.Add(e);
            if (stopAfter?.Invoke(e) == true) return (response.StatusCode, events, false);
        }
        return (response.StatusCode, events, false);
    }
}
