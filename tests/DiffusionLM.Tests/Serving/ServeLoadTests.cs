using System.Net;
using System.Text.Json;
using Xunit;
using Xunit.Abstractions;

namespace DiffusionLM.Tests.Serving;

/// <summary>
/// 32 clients at once (half streaming) against the server's queue of 8: every request gets the right answer or a
/// 429 with a JSON error, none hangs, and the server's memory after the burst is within 10% of before it.
/// </summary>
[Collection("Server")]
public class ServeLoadTests(ServerFixture server, ITestOutputHelper output)
{
    const int Clients = 32;
    static readonly object Request = new { prompt = "Once upon a time", max_tokens = 24, steps = 24, block_length = 8, seed = 5 };

    [Fact]
    public async Task BurstOfClientsGetsAnswersOr429AndMemoryStaysFlat()
    {
        var (status, reference) = await Api.Post(server.Http, "/v1/completions", Api.Json(Request));
        Assert.Equal(HttpStatusCode.OK, status);
        var expected = reference.GetProperty("choices")[0].GetProperty("text").GetString()!;

        // A first burst warms the server up (JIT, allocator pools, Kestrel buffers); memory is measured around the second.
        await Burst(expected);
        long before = server.WorkingSet();
        var (ok, busy) = await Burst(expected);
        long after = server.WorkingSet();
        output.WriteLine($"second burst: {ok} answered, {busy} refused with 429; working set {before / 1e6:F1} MB -> {after / 1e6:F1} MB");
        Assert.Equal(Clients, ok + busy);
        Assert.True(ok >= 1, "no request was answered");
        Assert.True(busy >= 1, $"no request was refused: all {Clients} fitted a queue of {ServerFixture.Queue}, so the bound was not exercised");
        Assert.True(after <= before * 1.10, $"the server's memory grew from {before / 1e6:F1} MB to {after / 1e6:F1} MB (> 10%)");
        // The server is still healthy and idle afterwards.
        var jobs = (await server.Info()).GetProperty("jobs");
        Assert.Equal(0, jobs.GetProperty("waiting").GetInt32());
        Assert.Equal(0, jobs.GetProperty("failed").GetInt32());
    }

    async Task<(int Ok, int Busy)> Burst(string expected)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(600));
        var tasks = Enumerable.Range(0, Clients).Select(i => i % 2 == 0 ? Plain(expected, timeout.Token) : Streamed(expected, timeout.Token)).ToArray();
        var results = await Task.WhenAll(tasks);
        return (results.Count(r => r), results.Count(r => !r));
    }

    /// <returns>true: answered correctly; false: refused with a 429. Anything else fails the test.</returns>
    async Task<bool> Plain(string expected, CancellationToken cancel)
    {
        var (status, body) = await Api.Post(server.Http, "/v1/completions", Api.Json(Request), cancel);
        if (status == HttpStatusCode.TooManyRequests) { AssertBusy(body); return false; }
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(expected, body.GetProperty("choices")[0].GetProperty("text").GetString());
        return true;
    }

    async Task<bool> Streamed(string expected, CancellationToken cancel)
    {
        var streaming = JsonSerializer.SerializeToElement(Request).EnumerateObject().ToDictionary(p => p.Name, p => (object)p.Value);
        streaming["stream"] = true;
        var (status, events, done) = await Api.Stream(server.Http, "/v1/completions", Api.Json(streaming), cancel);
        if (status == HttpStatusCode.TooManyRequests) { AssertBusy(events[0]); return false; }
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(done, "a stream ended without [DONE]");
        Assert.Equal(expected, string.Concat(events.Select(e => e.GetProperty("choices")[0].GetProperty("text").GetString())));
        return true;
    }

    static void AssertBusy(JsonElement body) =>
        Assert.Equal("queue_full", body.GetProperty("error").GetProperty("type").GetString());
}
