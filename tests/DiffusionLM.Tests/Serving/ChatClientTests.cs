using DiffusionLM.Serving;
using Microsoft.Extensions.AI;
using Xunit;

namespace DiffusionLM.Tests.Serving;

/// <summary><see cref="DiffusionChatClient"/> (Microsoft.Extensions.AI's IChatClient) on the bundled default model, and
/// the session's cancellation between steps.</summary>
public class ChatClientTests : IClassFixture<ChatClientTests.Model>
{
    public sealed class Model : IDisposable
    {
        public GenerationSession Session { get; } = GenerationSession.Open(Path.Combine(RepoPaths.Root, "models", "shakespeare"));
        public void Dispose() => Session.Dispose();
    }

    readonly GenerationSession _session;
    public ChatClientTests(Model model) => _session = model.Session;

    static readonly ChatMessage[] Question = [new(ChatRole.User, "Where did the dog go?")];

    static ChatOptions Options(int tokens = 16, long seed = 4) => new()
    {
        MaxOutputTokens = tokens, Seed = seed, Temperature = 1,
        AdditionalProperties = new() { ["steps"] = tokens, ["block_length"] = 4 },
    };

    [Fact]
    public async Task ResponseIsTheSessionsGenerationOfTheConversation()
    {
        IChatClient client = new DiffusionChatClient(_session);
        var response = await client.GetResponseAsync(Question, Options());
        var expected = _session.Generate([_session.EncodeConversation([new("user", "Where did the dog go?")])],
            new GenerationSettings { GenLength = 16, Steps = 16, BlockLength = 4, Temperature = 1, Chat = true }, 4)[0];
        Assert.Equal(expected.Text, response.Text);
        Assert.Equal(ChatRole.Assistant, response.Messages[0].Role);
        Assert.Equal("shakespeare", response.ModelId);
        Assert.Equal(16, response.AdditionalProperties!["nfe"]);
    }

    [Fact]
    public async Task DiffusionSettingsTravelInAdditionalProperties()
    {
        IChatClient client = new DiffusionChatClient(_session);
        var options = Options();
        options.AdditionalProperties!["sampler"] = "fast_dllm_threshold";
        options.AdditionalProperties["threshold"] = 0.01;
        var response = await client.GetResponseAsync(Question, options);
        Assert.Equal("fast_dllm_threshold", response.AdditionalProperties!["sampler"]);
        // A low threshold commits several tokens per step (this small model is rarely more than 10% sure): fewer forward calls than tokens.
        Assert.True((int)response.AdditionalProperties["nfe"]! < 16, $"nfe {response.AdditionalProperties["nfe"]}");
        options.AdditionalProperties["steps"] = "many";
        var e = await Assert.ThrowsAsync<DlmException>(() => client.GetResponseAsync(Question, options));
        Assert.Contains("steps must be an integer", e.Message);
    }

    [Fact]
    public async Task StreamingUpdatesConcatenateToTheResponse()
    {
        IChatClient client = new DiffusionChatClient(_session);
        var whole = await client.GetResponseAsync(Question, Options());
        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in client.GetStreamingResponseAsync(Question, Options())) updates.Add(u);
        Assert.Equal(whole.Text, string.Concat(updates.Select(u => u.Text)));
        Assert.True(updates.Count(u => u.Text.Length > 0) >= 2, "the text came in one piece; expected it to grow with the blocks");
        Assert.Equal(whole.FinishReason, updates[^1].FinishReason);
    }

    /// <summary>The README's snippet, as a user pastes it (with its own client over the default model).</summary>
    [Fact]
    public async Task ReadmeSnippetRuns()
    {
        using IChatClient client = DiffusionChatClient.Open(Path.Combine(RepoPaths.Root, "models", "shakespeare"));
        var options = new ChatOptions
        {
            MaxOutputTokens = 32, Seed = 1, Temperature = 0.8f,
            AdditionalProperties = new() { ["sampler"] = "fast_dllm_threshold", ["threshold"] = 0.7, ["block_length"] = 8 },
        };
        ChatResponse answer = await client.GetResponseAsync("Where did the dog go?", options);
        var streamed = new System.Text.StringBuilder();
        await foreach (var update in client.GetStreamingResponseAsync("Where did the dog go?", options)) streamed.Append(update.Text);
        Assert.Equal(answer.Text, streamed.ToString());
        Assert.Equal("fast_dllm_threshold", answer.AdditionalProperties!["sampler"]);
    }

    [Fact]
    public async Task CancellingTheStreamStopsTheRun()
    {
        IChatClient client = new DiffusionChatClient(_session);
        using var cts = new CancellationTokenSource();
        var options = Options(tokens: 128);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var u in client.GetStreamingResponseAsync(Question, options, cts.Token))
                cts.Cancel();
        });
        // The session is free again at once: the cancelled run released it.
        var next = await client.GetResponseAsync(Question, Options(tokens: 4)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.NotNull(next.Text);
    }

    [Fact]
    public void SessionStopsAtTheStepAfterCancellation()
    {
        using var cts = new CancellationTokenSource();
        int steps = 0;
        var settings = new GenerationSettings { GenLength = 64, Steps = 64 };
        Assert.ThrowsAny<OperationCanceledException>(() => _session.Generate([_session.Encode("Once", false)], settings, 0, cts.Token, _ =>
        {
            if (++steps == 3) cts.Cancel();
        }));
        // Three steps seen, then the observer threw at the end of the third: 61 steps were never computed.
        Assert.Equal(3, steps);
    }
}
