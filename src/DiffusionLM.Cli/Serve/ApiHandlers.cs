using System.Text.Json;
using System.Threading.Channels;
using DiffusionLM.Sampling;
using DiffusionLM.Serving;
using Microsoft.AspNetCore.Http;

namespace DiffusionLM.Cli.Serve;

/// <summary>The endpoints. Each reads and checks its request, queues the model work, and answers in OpenAI's shapes
/// (or the diffusion stream's own: start, one event per step, done).</summary>
sealed class ApiHandlers(GenerationSession session, GenerationQueue queue, ServeLimits limits)
{
    static long Now => DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    static ApiException Full(GenerationQueue q) =>
        new(429, $"the server is busy: {q.Capacity} requests are already waiting (dlm serve --queue); retry later", type: "queue_full");

    static async Task<JsonDocument> Body(HttpContext ctx)
    {
        using var reader = new StreamReader(ctx.Request.Body);
        return ApiRequests.Parse(await reader.ReadToEndAsync(ctx.RequestAborted));
    }

    public Task Models(HttpContext ctx) => ctx.Response.WriteAsJsonAsync(new
    {
        @object = "list",
        data = new[] { new { id = session.ModelName, @object = "model", created = 0, owned_by = "diffusionlm" } },
    });

    public Task Info(HttpContext ctx) => ctx.Response.WriteAsJsonAsync(new
    {
        model = session.ModelName,
        process = session.Config.Process.Spelling,
        context = session.Config.MaxSequenceLength,
        chat_template = session.Loaded.ChatTemplate is not null,
        default_sampler = new GenerationSettings().SamplerFor(session.Config),
        samplers = SamplerRegistry.All.Where(e => e.Family == SamplerRegistry.FamilyOf(session.Config)).Select(e => e.Name),
        limits = new { max_tokens = limits.MaxTokens, max_prompt_tokens = limits.MaxPromptTokens, max_steps = limits.MaxSteps, queue = queue.Capacity },
        jobs = new { waiting = queue.Waiting, completed = queue.Counts.Completed, cancelled = queue.Counts.Cancelled, failed = queue.Counts.Failed },
    });

    public async Task Generate(HttpContext ctx, Func<JsonElement, GenerationSession, ServeLimits, ApiRequest> parse, bool chat)
    {
        using var doc = await Body(ctx);
        var req = parse(doc.RootElement, session, limits);
        var cancel = ctx.RequestAborted;
        string id = (chat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N")[..24];
        long created = Now;
        if (!req.Stream)
        {
            GenerationOutput output = null!;
            await (queue.TryEnqueue(ct => output = session.Generate([req.PromptIds], req.Settings, req.Seed, ct)[0], cancel) ?? throw Full(queue));
            int used = session.EndsAt(output.Ids, req.Settings.Chat) is int end and >= 0 ? end : output.Ids.Length;
            var usage = new { prompt_tokens = req.PromptIds.Length, completion_tokens = used, total_tokens = req.PromptIds.Length + used };
            object choice = chat
                ? new { index = 0, message = new { role = "assistant", content = output.Text }, finish_reason = output.FinishReason }
                : new { index = 0, text = output.Text, finish_reason = output.FinishReason, logprobs = (object?)null };
            await ctx.Response.WriteAsJsonAsync(new
            {
                id, @object = chat ? "chat.completion" : "text_completion", created, model = session.ModelName,
                choices = new[] { choice }, usage, nfe = output.Nfe, sampler = output.Sampler,
            }, cancel);
            return;
        }

        object Chunk(string? delta, string? finish) => chat
            ? new { id, @object = "chat.completion.chunk", created, model = session.ModelName,
                    choices = new[] { new { index = 0, delta = delta is null ? (object)new { } : new { content = delta }, finish_reason = finish } } }
            : new { id, @object = "text_completion", created, model = session.ModelName,
                    choices = new[] { new { index = 0, text = delta ?? "", finish_reason = finish, logprobs = (object?)null } } };
        var events = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var stream = new PrefixStream();
        bool live = session.CommitsAreFinal(req.Settings);
        var job = queue.TryEnqueue(ct =>
        {
            try
            {
                var output = session.Generate([req.PromptIds], req.Settings, req.Seed, ct, live ? step =>
                {
                    var delta = stream.Offer(session.CommittedPrefix(step.Completions[0], req.Settings.Chat));
                    if (delta.Length > 0) events.Writer.TryWrite(Chunk(delta, null));
                } : null)[0];
                var rest = stream.Finish(output.Text);
                if (rest.Length > 0) events.Writer.TryWrite(Chunk(rest, null));
                events.Writer.TryWrite(Chunk(null, output.FinishReason));
                events.Writer.TryComplete();
            }
            catch (Exception e) { events.Writer.TryComplete(e); throw; }
        }, cancel) ?? throw Full(queue);
        Sse.Start(ctx.Response);
        if (chat) await Sse.Write(ctx.Response, new { id, @object = "chat.completion.chunk", created, model = session.ModelName,
            choices = new[] { new { index = 0, delta = new { role = "assistant", content = "" }, finish_reason = (string?)null } } }, cancel);
        await Stream(ctx, events.Reader, job, cancel);
    }

    public async Task Diffusion(HttpContext ctx)
    {
        using var doc = await Body(ctx);
        var req = ApiRequests.Diffusion(doc.RootElement, session, limits);
        var cancel = ctx.RequestAborted;
        var events = Channel.CreateUnbounded<object>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var s = req.Settings;
        var job = queue.TryEnqueue(ct =>
        {
            try
            {
                events.Writer.TryWrite(new { type = "start", prompt_tokens = req.PromptIds.Length, gen_length = s.GenLength, steps = s.StepsOrDefault,
                    block_length = s.BlockLength ?? s.GenLength, sampler = s.SamplerFor(session.Config), seed = req.Seed });
                var output = session.Generate([req.PromptIds], s, req.Seed, ct, step => events.Writer.TryWrite(new
                {
                    type = "step", step = step.Index, nfe = step.Nfe,
                    commits = step.Commits[0].Select(c => new { position = c.Position, token = c.Token, text = c.Text, confidence = Finite(c.Confidence), remasked = c.Remasked }),
                }))[0];
                events.Writer.TryWrite(new
                {
                    type = "done", text = output.Text, nfe = output.Nfe, finish_reason = output.FinishReason, seconds = output.Seconds,
                    ids = output.Ids, tokens = output.Ids.Select(session.TokenText), committed_at = output.CommittedAt, confidence = output.Confidence.Select(Finite),
                });
                events.Writer.TryComplete();
            }
            catch (Exception e) { events.Writer.TryComplete(e); throw; }
        }, cancel) ?? throw Full(queue);
        Sse.Start(ctx.Response);
        await Stream(ctx, events.Reader, job, cancel);
    }

    public async Task Probe(HttpContext ctx)
    {
        using var doc = await Body(ctx);
        var root = doc.RootElement;
        string prompt;
        int masks, topK;
        bool chat;
        try
        {
            prompt = root.TryGetProperty("prompt", out var p) && p.ValueKind != JsonValueKind.Null ? SettingsFields.String("prompt", p) : throw new ApiException(400, "prompt is required", "prompt");
            masks = root.TryGetProperty("masks", out var m) && m.ValueKind != JsonValueKind.Null ? SettingsFields.Int("masks", m) : 16;
            topK = root.TryGetProperty("top_k", out var k) && k.ValueKind != JsonValueKind.Null ? SettingsFields.Int("top_k", k) : 3;
            chat = root.TryGetProperty("chat", out var c) && c.ValueKind != JsonValueKind.Null && SettingsFields.Bool("chat", c);
        }
        catch (DlmException e) { throw new ApiException(400, e.Message, e.Message.Split(' ')[0]); }
        if (masks <= 0 || masks > limits.MaxTokens) throw new ApiException(400, $"masks must lie in 1..{limits.MaxTokens} (dlm serve --max-tokens; got {masks})", "masks");
        if (topK is <= 0 or > 10) throw new ApiException(400, $"top_k must lie in 1..10 (got {topK})", "top_k");
        if (!session.Config.Process.Absorbing || session.Config.Causal) throw new ApiException(400, "the probe needs a masked diffusion model", "model");
        Analysis.Probe.TokenProbability[][] top = null!;
        await (queue.TryEnqueue(ct => top = session.Probe(prompt, masks, topK, chat, ct), ctx.RequestAborted) ?? throw Full(queue));
        await ctx.Response.WriteAsJsonAsync(new
        {
            masks, top_k = topK,
            positions = top.Select(row => row.Select(t => new { id = t.Id, text = t.Text, p = t.Probability })),
        }, ctx.RequestAborted);
    }

    /// <summary>Writes the worker's events; an error after the stream began becomes an error event, then [DONE].</summary>
    static async Task Stream(HttpContext ctx, ChannelReader<object> events, Task job, CancellationToken cancel)
    {
        try { await Sse.Drain(ctx.Response, events, cancel); }
        catch (Exception e) when (e is DlmException or ApiException)
        {
            await Sse.Write(ctx.Response, new { error = new { message = e.Message, type = "invalid_request_error", param = (string?)null, code = (string?)null } }, cancel);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            Io.Err.WriteLine($"dlm serve: internal error while streaming: {e.GetType().Name}: {e.Message}");
            await Sse.Write(ctx.Response, new { error = new { message = "internal error", type = "server_error", param = (string?)null, code = (string?)null } }, cancel);
        }
        try { await job; } catch (Exception) when (!cancel.IsCancellationRequested) { }
        await Sse.Done(ctx.Response, cancel);
    }

    static double? Finite(double v) => double.IsFinite(v) ? v : null;
}
