using System.Net;
using System.Text.Json;
using DiffusionLM.Cli.Serve;
using DiffusionLM.Serving;
using DiffusionLM.Tests.Cli;
using Xunit;

namespace DiffusionLM.Tests.Serving;

/// <summary>The HTTP API of `dlm serve` through a real client: OpenAI's shapes, streaming, the diffusion stream, errors.</summary>
[Collection("Server")]
public class ServeApiTests(ServerFixture server)
{
    static string DefaultModel => Path.Combine(RepoPaths.Root, "models", "shakespeare");
    HttpClient Http => server.Http;

    [Fact]
    public async Task ModelsListsTheLoadedModel()
    {
        var r = await Http.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.OK, r.StatusCode);
        var body = JsonDocument.Parse(await r.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("list", body.GetProperty("object").GetString());
        Assert.Equal("shakespeare", body.GetProperty("data")[0].GetProperty("id").GetString());
    }

    [Fact]
    public async Task CompletionIsWhatTheCommandLineGenerates()
    {
        var (status, body) = await Api.Post(Http, "/v1/completions",
            Api.Json(new { prompt = "Once upon a time", max_tokens = 8, steps = 8, temperature = 1.0, seed = 3 }));
        Assert.Equal(HttpStatusCode.OK, status);
        var cli = CliRunner.Run("generate", "--model", DefaultModel, "--prompt", "Once upon a time", "--gen-length", "8", "--steps", "8", "--temperature", "1", "--seed", "3");
        Assert.Equal(0, cli.Code);
        Assert.Equal(cli.Out[..^Environment.NewLine.Length], body.GetProperty("choices")[0].GetProperty("text").GetString());
        Assert.Equal(8, body.GetProperty("nfe").GetInt32());
    }

    [Theory]
    [InlineData("prefix")]
    [InlineData("dual")]
    public async Task ACachedCompletionIsWhatTheCommandLineGeneratesWithThatCache(string cache)
    {
        var (status, body) = await Api.Post(Http, "/v1/completions",
            Api.Json(new { prompt = "Once upon a time", max_tokens = 16, steps = 16, block_length = 8, temperature = 1.0, seed = 3, cache, sampler = "fast_dllm_threshold" }));
        Assert.Equal(HttpStatusCode.OK, status);
        var cli = CliRunner.Run("generate", "--model", DefaultModel, "--prompt", "Once upon a time", "--gen-length", "16", "--steps", "16", "--block-length", "8",
            "--temperature", "1", "--seed", "3", "--cache", cache, "--sampler", "fast_dllm_threshold");
        Assert.Equal(0, cli.Code);
        Assert.Equal(cli.Out[..^Environment.NewLine.Length], body.GetProperty("choices")[0].GetProperty("text").GetString());
        // The request's cache is the sampler's (the equality above would also hold if neither side used it).
        var settings = new DiffusionLM.Serving.GenerationSettings { Cache = cache, Sampler = "fast_dllm_threshold", GenLength = 16, BlockLength = 8 };
        Assert.Equal(DiffusionLM.Sampling.CacheModes.Parse(cache), settings.ToSamplerSettings(new DiffusionLM.Models.ModelConfig(), null).Cache);
    }

    [Fact]
    public async Task ChatCompletionAnswersAsTheAssistant()
    {
        var (status, body) = await Api.Post(Http, "/v1/chat/completions",
            Api.Json(new { model = "shakespeare", messages = new[] { new { role = "user", content = "Who was in the park?" } }, max_tokens = 16 }));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
        var message = body.GetProperty("choices")[0].GetProperty("message");
        Assert.Equal("assistant", message.GetProperty("role").GetString());
        Assert.Equal(JsonValueKind.String, message.GetProperty("content").ValueKind);
        Assert.True(body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32() > 0);
    }

    [Theory]
    [InlineData("/v1/chat/completions")]
    [InlineData("/v1/completions")]
    public async Task StreamedChunksConcatenateToTheUnstreamedText(string path)
    {
        // Blocks of 4 commit the completion left to right, so the prefix (and the stream) grows block by block.
        object Request(bool stream) => path.Contains("chat")
            ? new { messages = new[] { new { role = "user", content = "Tell me about a cat." } }, max_tokens = 16, steps = 16, block_length = 4, temperature = 1.0, seed = 11, stream }
            : new { prompt = "The little dog", max_tokens = 16, steps = 16, block_length = 4, temperature = 1.0, seed = 11, stream };
        var (status, whole) = await Api.Post(Http, path, Api.Json(Request(false)));
        Assert.Equal(HttpStatusCode.OK, status);
        var expected = path.Contains("chat")
            ? whole.GetProperty("choices")[0].GetProperty("message").GetProperty("content").GetString()!
            : whole.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.NotEqual("", expected);

        var (sStatus, events, done) = await Api.Stream(Http, path, Api.Json(Request(true)));
        Assert.Equal(HttpStatusCode.OK, sStatus);
        Assert.True(done, "the stream did not end with [DONE]");
        var pieces = events.Select(e => e.GetProperty("choices")[0]).Select(c => path.Contains("chat")
            ? c.GetProperty("delta").TryGetProperty("content", out var t) ? t.GetString()! : ""
            : c.GetProperty("text").GetString()!).ToList();
        Assert.Equal(expected, string.Concat(pieces));
        Assert.True(pieces.Count(p => p.Length > 0) >= 2, $"the text came in {pieces.Count(p => p.Length > 0)} piece(s); expected it to grow with the blocks");
        var last = events[^1].GetProperty("choices")[0].GetProperty("finish_reason").GetString();
        Assert.Equal(whole.GetProperty("choices")[0].GetProperty("finish_reason").GetString(), last);
        if (path.Contains("chat")) Assert.Equal("chat.completion.chunk", events[0].GetProperty("object").GetString());
    }

    [Fact]
    public async Task DiffusionStreamReportsEveryStep()
    {
        var (status, events, done) = await Api.Stream(Http, "/v1/diffusion/generate", Api.Json(new { prompt = "Once upon a time", gen_length = 8, steps = 8 }));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.True(done);
        Assert.Equal("start", events[0].GetProperty("type").GetString());
        var steps = events.Where(e => e.GetProperty("type").GetString() == "step").ToList();
        // One token per step at 8 steps for 8 tokens: every step commits exactly one position, and NFE counts up.
        Assert.Equal(8, steps.Count);
        Assert.All(steps, s => Assert.Equal(1, s.GetProperty("commits").GetArrayLength()));
        Assert.Equal(Enumerable.Range(1, 8), steps.Select(s => s.GetProperty("nfe").GetInt32()));
        var positions = steps.SelectMany(s => s.GetProperty("commits").EnumerateArray().Select(c => c.GetProperty("position").GetInt32())).OrderBy(p => p);
        Assert.Equal(Enumerable.Range(0, 8), positions);
        var final = events[^1];
        Assert.Equal("done", final.GetProperty("type").GetString());
        Assert.Equal(8, final.GetProperty("tokens").GetArrayLength());
        // The live view and the sampler's own trace agree on the order of commits.
        var liveOrder = steps.Select(s => s.GetProperty("commits")[0].GetProperty("position").GetInt32()).ToArray();
        var traced = final.GetProperty("committed_at").EnumerateArray().Select(x => x.GetInt32()).ToArray();
        Assert.Equal(Enumerable.Range(0, 8), liveOrder.Select(p => traced[p]));
    }

    [Fact]
    public async Task ProbeListsTopThreePerMaskedPosition()
    {
        var (status, body) = await Api.Post(Http, "/v1/diffusion/probe", Api.Json(new { prompt = "Once upon a time", masks = 5 }));
        Assert.Equal(HttpStatusCode.OK, status);
        var positions = body.GetProperty("positions");
        Assert.Equal(5, positions.GetArrayLength());
        foreach (var row in positions.EnumerateArray())
        {
            var ps = row.EnumerateArray().Select(t => t.GetProperty("p").GetDouble()).ToArray();
            Assert.Equal(3, ps.Length);
            Assert.True(ps[0] >= ps[1] && ps[1] >= ps[2] && ps[0] <= 1, string.Join(", ", ps));
        }
    }

    [Theory]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", ", null, "not valid JSON")]
    [InlineData("/v1/completions", "[1, 2]", null, "JSON object")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"sampler\": \"nope\"}", "sampler", "unknown sampler \"nope\"")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 100000}", "max_tokens", "limit of 256")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"steps\": \"eight\"}", "steps", "steps must be an integer")]
    [InlineData("/v1/completions", "{\"prompt\": 5}", "prompt", "prompt must be a string")]
    [InlineData("/v1/completions", "{\"max_tokens\": 4}", "prompt", "prompt is required")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"stream\": \"yes\"}", "stream", "stream must be true or false")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"cache\": \"bogus\"}", "cache", "unknown cache \"bogus\"")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"cache\": \"dual\", \"sampler\": \"mdlm\"}", "cache", "does not decode block by block")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"cache_refresh\": 4}", "cache_refresh", "above 0 only with cache prefix or dual")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"cache\": \"dual\", \"cache_refresh\": \"often\"}", "cache_refresh", "cache_refresh must be an integer")]
    [InlineData("/v1/completions", "{\"prompt\": \"hi\", \"max_tokens\": 200}", "max_tokens", "context of 192")]
    [InlineData("/v1/chat/completions", "{\"messages\": \"hello\"}", "messages", "messages must be an array")]
    [InlineData("/v1/chat/completions", "{\"messages\": [{\"role\": 1, \"content\": \"x\"}]}", "messages[0].role", "role must be a string")]
    [InlineData("/v1/diffusion/generate", "{\"prompt\": \"hi\", \"temperature\": -1}", "temperature", "temperature -1: must be between 0 and 16")]
    [InlineData("/v1/diffusion/probe", "{\"prompt\": \"hi\", \"masks\": 0}", "masks", "masks must lie")]
    public async Task BadRequestsGet400NamingTheField(string path, string body, string? param, string message)
    {
        var (status, json) = await Api.Post(Http, path, body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        var error = json.GetProperty("error");
        Assert.Contains(message, error.GetProperty("message").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.DoesNotContain("   at ", json.GetRawText());
    }

    [Fact]
    public async Task UnknownPathIs404InJson()
    {
        var r = await Http.GetAsync("/v1/nothing");
        Assert.Equal(HttpStatusCode.NotFound, r.StatusCode);
        Assert.Contains("no such endpoint", await r.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task ClientThatLeavesCancelsItsGeneration()
    {
        var before = (await server.Info()).GetProperty("jobs").GetProperty("cancelled").GetInt32();
        using var cts = new CancellationTokenSource();
        // ReMDM's loop at 1,024 steps (several seconds): long enough that leaving after the first step leaves most of
        // the run undone even on an idle machine (128 LLaDA steps end in about a second, before the server sees the client leave).
        var (_, events, done) = await Api.Stream(Http, "/v1/diffusion/generate", Api.Json(new { prompt = "Once", gen_length = 128, steps = 1024, sampler = "remdm_loop" }), cts.Token,
            stopAfter: e => e.GetProperty("type").GetString() == "step");
        Assert.False(done);
        Assert.Equal("step", events[^1].GetProperty("type").GetString());
        // Leaving the stream disposes the response: the connection closes and the server sees the client gone.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        int after = before;
        while (DateTime.UtcNow < deadline && (after = (await server.Info()).GetProperty("jobs").GetProperty("cancelled").GetInt32()) == before)
            await Task.Delay(50);
        Assert.True(after > before, "the server ran the abandoned generation to its end (no job counted as cancelled)");
    }

    [Fact]
    public void NonLoopbackHostWithoutApiKeyIsRefused()
    {
        var r = CliRunner.Run("serve", "--model", DefaultModel, "--host", "0.0.0.0", "--port", "0");
        Assert.Equal(2, r.Code);
        Assert.Contains("--api-key", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Fact]
    public async Task ApiKeyIsRequiredWhenGiven()
    {
        using var session = GenerationSession.Open(DefaultModel);
        using var queue = new GenerationQueue(2);
        await using var app = ServerApp.Build(session, queue, new ServeOptions("127.0.0.1", 0, "sesame", 2, new ServeLimits()));
        app.Urls.Clear();
        await app.StartAsync();
        var address = app.Urls.First();
        using var http = new HttpClient { BaseAddress = new Uri(address) };
        var without = await http.GetAsync("/v1/models");
        Assert.Equal(HttpStatusCode.Unauthorized, without.StatusCode);
        Assert.Contains("API key", await without.Content.ReadAsStringAsync());
        http.DefaultRequestHeaders.Authorization = new("Bearer", "sesame");
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/v1/models")).StatusCode);
        // The page itself is public (it asks for the key); only /v1 is guarded.
        http.DefaultRequestHeaders.Authorization = null;
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/")).StatusCode);
        await app.StopAsync();
    }
}
