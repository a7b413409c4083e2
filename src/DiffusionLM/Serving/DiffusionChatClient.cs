using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.AI;
using DlmChatMessage = DiffusionLM.Text.Chat.ChatMessage;

namespace DiffusionLM.Serving;

/// <summary>
/// Microsoft.Extensions.AI's <see cref="IChatClient"/> over a loaded diffusion model. The conversation is rendered
/// by the model's chat template; <see cref="ChatOptions.MaxOutputTokens"/> is the gen length,
/// <see cref="ChatOptions.Temperature"/> and <see cref="ChatOptions.Seed"/> what they say, and the diffusion
/// settings (sampler, steps, block_length, threshold, remasking, cfg, cache) go in
/// <see cref="ChatOptions.AdditionalProperties"/> under the server's field names. Streaming yields the committed
/// text as it becomes a contiguous prefix (<see cref="PrefixStream"/>). Cancellation stops a run at the end of the step under way.
/// </summary>
public sealed class DiffusionChatClient : IChatClient
{
    readonly GenerationSession _session;
    readonly bool _owns;

    /// <summary>The settings used where a request says nothing (the command line's, with gen_length 128).</summary>
    public GenerationSettings Defaults { get; init; } = new();

    public DiffusionChatClient(GenerationSession session, bool ownsSession = false)
    {
        _session = session ?? throw new ArgumentNullException(nameof(session));
        _owns = ownsSession;
    }

    /// <summary>Loads the model folder (config.json, model.safetensors, tokenizer.json) and serves it.</summary>
    public static DiffusionChatClient Open(string modelFolder) => new(GenerationSession.Open(modelFolder), ownsSession: true);

    public ChatClientMetadata Metadata => new("DiffusionLM", defaultModelId: _session.ModelName);

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var (prompt, settings, seed) = Prepare(messages, options);
        var output = await Task.Run(() => _session.Generate([prompt], settings, seed, cancellationToken)[0], cancellationToken).ConfigureAwait(false);
        return new ChatResponse(new ChatMessage(ChatRole.Assistant, output.Text))
        {
            ModelId = _session.ModelName,
            FinishReason = output.FinishReason == "stop" ? ChatFinishReason.Stop : ChatFinishReason.Length,
            Usage = new UsageDetails { InputTokenCount = prompt.Length, OutputTokenCount = output.Ids.Length, TotalTokenCount = prompt.Length + output.Ids.Length },
            AdditionalProperties = new() { ["nfe"] = output.Nfe, ["sampler"] = output.Sampler },
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var (prompt, settings, seed) = Prepare(messages, options);
        var deltas = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var stream = new PrefixStream();
        bool live = _session.CommitsAreFinal(settings);
        var run = Task.Run(() =>
        {
            try
            {
                var output = _session.Generate([prompt], settings, seed, cancellationToken, live ? step =>
                {
                    var delta = stream.Offer(_session.CommittedPrefix(step.Completions[0], settings.Chat));
                    if (delta.Length > 0) deltas.Writer.TryWrite(delta);
                } : null)[0];
                var rest = stream.Finish(output.Text);
                if (rest.Length > 0) deltas.Writer.TryWrite(rest);
                deltas.Writer.Complete();
                return output;
            }
            catch (Exception e) { deltas.Writer.Complete(e); throw; }
        }, cancellationToken);
        var id = Guid.NewGuid().ToString("N");
        await foreach (var delta in deltas.Reader.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            yield return new ChatResponseUpdate(ChatRole.Assistant, delta) { ResponseId = id, MessageId = id, ModelId = _session.ModelName };
        var final = await run.ConfigureAwait(false);
        yield return new ChatResponseUpdate(ChatRole.Assistant, [])
        {
            ResponseId = id, MessageId = id, ModelId = _session.ModelName,
            FinishReason = final.FinishReason == "stop" ? ChatFinishReason.Stop : ChatFinishReason.Length,
        };
    }

    (int[] Prompt, GenerationSettings Settings, long Seed) Prepare(IEnumerable<ChatMessage> messages, ChatOptions? options)
    {
        ArgumentNullException.ThrowIfNull(messages);
        var turns = messages.Select(m => new DlmChatMessage(m.Role.Value, m.Text)).ToList();
        if (options?.Instructions is { Length: > 0 } instructions) turns.Insert(0, new DlmChatMessage("system", instructions));
        var settings = SettingsFields.Read(options?.AdditionalProperties, Defaults with { Chat = true });
        if (options?.MaxOutputTokens is int max) settings = settings with { GenLength = max };
        if (options?.Temperature is float t) settings = settings with { Temperature = t };
        settings.Validate(_session.Config);
        return (_session.EncodeConversation(turns), settings, options?.Seed ?? 0);
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? Metadata
        : serviceType.IsInstanceOfType(this) ? this
        : serviceType == typeof(GenerationSession) ? _session
        : null;

    public void Dispose()
    {
        if (_owns) _session.Dispose();
    }
}
