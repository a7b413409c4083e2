using System.Diagnostics;
using DiffusionLM.Analysis.Probe;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using DiffusionLM.Text.Chat;
using TorchSharp;

namespace DiffusionLM.Serving;

/// <summary>
/// The one door to a loaded model for everything that serves it: <c>dlm generate --prompts</c> (batches),
/// <c>dlm serve</c> (its worker, the page's live view and probe) and <see cref="DiffusionChatClient"/>. It turns
/// text into prompt ids, runs a sampler from <see cref="SamplerRegistry"/> on one seeded generator, reports each
/// denoising step while it runs, cancels between steps, and cuts the answer at end-of-sequence.
/// </summary>
/// <remarks>
/// Forward calls are serialised here (one run at a time per session): TorchSharp's grad mode and thread pool are
/// process-wide, and one model's weights are not meant to be driven from two threads at once.
/// <para>The steps come from the sampling engine's observer (<see cref="IObservableSampler"/>): one
/// <see cref="GenerationStep"/> per step of the sampler's trace, with the engine's NFE (see <see cref="StepReporter"/>).
/// The model itself is handed to the sampler, so its block cache and a causal model's key/value cache are used.</para>
/// </remarks>
public sealed class GenerationSession : IDisposable
{
    readonly SemaphoreSlim _gate = new(1, 1);
    readonly bool _owns;
    readonly string?[] _tokenTexts;

    public LoadedModel Loaded { get; }
    public ModelConfig Config => Loaded.Model.Config;
    public ITokenizer Tokenizer => Loaded.Tokenizer;
    /// <summary>The model's name for /v1/models and chat responses: its folder's name.</summary>
    public string ModelName { get; }
    /// <summary>End-of-turn id of chat models (&lt;|eot_id|&gt; or &lt;|im_end|&gt;), where a chat answer also ends.</summary>
    public int? EotId { get; }

    public GenerationSession(LoadedModel loaded, bool ownsModel = false, string? name = null)
    {
        Loaded = loaded ?? throw new ArgumentNullException(nameof(loaded));
        _owns = ownsModel;
        ModelName = name ?? Path.GetFileName(Path.GetFullPath(loaded.Folder).TrimEnd(Path.DirectorySeparatorChar));
        var hf = loaded.Tokenizer as HfTokenizer;
        EotId = hf?.Find("<|eot_id|>") ?? hf?.Find("<|im_end|>");
        _tokenTexts = new string?[Config.VocabSize];
        _sampled = Corruption.Masking.MaskEvidenceRemoval.ForSampling(loaded.Model, loaded.Folder);
    }

    /// <summary>What the samplers read: the model, or its clean conditional when it was trained under a token-dependent corruption.</summary>
    readonly IDenoiser _sampled;

    public static GenerationSession Open(string folder) => new(ModelLoader.Load(folder), ownsModel: true);

    /// <summary>Prompt ids of a plain prompt, wrapped in the chat template when <paramref name="chat"/> and the model has
    /// one: the ids <c>dlm generate --prompt</c> gives the same text (<see cref="PromptEncoder.ForGeneration"/>: special-token
    /// strings stay text, and a llama2.c model's prompt opens with &lt;s&gt;).</summary>
    public int[] Encode(string prompt, bool chat)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return PromptEncoder.ForGeneration(Tokenizer, prompt, chat ? Loaded.ChatTemplate : null, allowSpecial: false, source: "prompt");
    }

    /// <summary>Prompt ids of a conversation: rendered by the model's chat template (every turn, the assistant's turn
    /// opened); a model with no template sees the turns' contents one per line. Special-token strings typed in a message
    /// stay text, as in a prompt (<see cref="PromptEncoder.ForConversation"/>).</summary>
    public int[] EncodeConversation(IReadOnlyList<ChatMessage> messages)
    {
        if (messages.Count == 0) throw new DlmException("messages: at least one message is needed");
        var template = Loaded.ChatTemplate;
        string Render(IReadOnlyList<ChatMessage> turns) => template switch
        {
            ChatTemplate full => full.Render(turns),
            { } single => single.Apply(string.Join("\n", turns.Select(m => m.Content))),
            null => string.Join("\n", turns.Select(m => m.Content)),
        };
        return PromptEncoder.ForConversation(Tokenizer, messages, Render, allowSpecial: false);
    }

    /// <summary>Generates one completion per prompt in one batch (rows left-padded), on one generator seeded with <paramref name="seed"/>.</summary>
    /// <param name="onStep">called after every denoising step seen (see <see cref="GenerationStep"/>), on the generating thread.</param>
    public IReadOnlyList<GenerationOutput> Generate(IReadOnlyList<int[]> prompts, GenerationSettings settings, long seed,
        CancellationToken cancel = default, Action<GenerationStep>? onStep = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        ArgumentNullException.ThrowIfNull(settings);
        if (prompts.Count == 0) throw new DlmException("no prompts given");
        settings.Validate(Config);
        int context = Config.MaxSequenceLength, longest = prompts.Max(p => p.Length);
        if (longest + settings.GenLength > context)
            throw new DlmException($"the prompt is {longest} tokens and gen_length {settings.GenLength}: {longest + settings.GenLength} in all, longer than the model's context of {context} tokens");
        _gate.Wait(cancel);
        try { return Run(prompts, settings, seed, cancel, onStep); }
        finally { _gate.Release(); }
    }

    /// <summary>One prompt (text), one completion.</summary>
    public GenerationOutput Generate(string prompt, GenerationSettings settings, long seed, CancellationToken cancel = default, Action<GenerationStep>? onStep = null) =>
        Generate([Encode(prompt, settings.Chat)], settings, seed, cancel, onStep)[0];

    IReadOnlyList<GenerationOutput> Run(IReadOnlyList<int[]> prompts, GenerationSettings settings, long seed, CancellationToken cancel, Action<GenerationStep>? onStep)
    {
        var clock = Stopwatch.StartNew();
        var name = settings.SamplerFor(Config);
        var sampler = SamplerRegistry.Create(name, settings.ToSamplerSettings(Config, EotId));
        var steps = new StepReporter(this, prompts.Count, settings.GenLength, onStep);
        // Every registered sampler is observable (the engine calls the observer after each step). The observer is
        // also where a cancelled request stops: at the end of the step under way, never in the middle of one.
        // Without a reader or a token that can fire, none is set: observing costs a copy of every step's logits.
        var observable = sampler as IObservableSampler;
        if (observable is not null && (onStep is not null || cancel.CanBeCanceled))
            observable.Observer = obs =>
            {
                cancel.ThrowIfCancellationRequested();
                steps.Observed(obs);
                // The reader may have cancelled (a client left while it was told of the step).
                cancel.ThrowIfCancellationRequested();
            };
        cancel.ThrowIfCancellationRequested();
        var ids = prompts.Select(p => p.Select(i => (long)i).ToArray()).ToArray();
        using var g = new torch.Generator((ulong)seed);
        var result = sampler.Generate(_sampled, ids, g);
        cancel.ThrowIfCancellationRequested();
        int nfe = result.Nfe;
        var completions = result.Completions;
        steps.Finished(completions, nfe);
        double seconds = clock.Elapsed.TotalSeconds;
        var committedAt = CommittedAt(result, prompts.Count, settings.GenLength);
        return Enumerable.Range(0, prompts.Count).Select(r => new GenerationOutput(
            prompts[r], completions[r], Answer(completions[r], settings.Chat), nfe, seconds, name,
            committedAt[r].Step, committedAt[r].Confidence, EndsAt(completions[r], settings.Chat) >= 0 ? "stop" : "length")).ToArray();
    }

    /// <summary>Per row and completion position: the trace step that committed it (−1 if none did) and its confidence.</summary>
    static (int[] Step, double[] Confidence)[] CommittedAt(SamplerResult result, int rows, int genLength)
    {
        var at = Enumerable.Range(0, rows).Select(_ => (Step: Enumerable.Repeat(-1, genLength).ToArray(), Confidence: new double[genLength])).ToArray();
        foreach (var step in result.Trace)
            foreach (var c in step.Commits)
            {
                int i = c.Position - result.PromptLength;
                if (c.Row < rows && i >= 0 && i < genLength) { at[c.Row].Step[i] = step.Index; at[c.Row].Confidence[i] = c.Confidence; }
            }
        return at;
    }

    /// <summary>Index of the first end token (eos, and for chat the end of turn) in a completion; −1 when none.</summary>
    public int EndsAt(long[] completion, bool chat)
    {
        int end = Array.IndexOf(completion, (long)Config.EosTokenId);
        if (chat && EotId is int e && Array.IndexOf(completion, (long)e) is int te && te >= 0 && (end < 0 || te < end)) end = te;
        return end;
    }

    /// <summary>The answer text: the completion up to its first end token, decoded.</summary>
    public string Answer(long[] completion, bool chat)
    {
        int end = EndsAt(completion, chat);
        return Tokenizer.Decode((end < 0 ? completion : completion[..end]).Select(i => (int)i));
    }

    /// <summary>The text of the contiguous committed prefix of a completion still being denoised: the tokens before
    /// its first mask (and before any end token), decoded. Null when nothing is committed at the start yet.</summary>
    public string CommittedPrefix(long[] completion, bool chat)
    {
        int stop = Array.IndexOf(completion, (long)Config.MaskTokenId);
        var prefix = stop < 0 ? completion : completion[..stop];
        return Answer(prefix, chat);
    }

    /// <summary>Whether a sampler's commits are final (masked samplers that do not remask), so text may stream as its prefix grows.
    /// Samplers that revise tokens (ReMDM, uniform, gaussian) stream their text once, at the end.</summary>
    public bool CommitsAreFinal(GenerationSettings settings)
    {
        var name = settings.SamplerFor(Config);
        var entry = SamplerRegistry.All.FirstOrDefault(e => e.Name == name);
        return entry is { Masked: true, Remasks: false } && !Config.Causal;
    }

    /// <summary>The information-decay probe of one prompt: the <paramref name="topK"/> most probable tokens at each of
    /// <paramref name="masks"/> masked positions after the prompt, in one forward pass (the paper's Figure 2).</summary>
    public TokenProbability[][] Probe(string prompt, int masks, int topK, bool chat, CancellationToken cancel = default)
    {
        _gate.Wait(cancel);
        try
        {
            var probe = new InformationProbe(Loaded.Model, Tokenizer, unigram: null, chat ? Loaded.ChatTemplate : null);
            var result = probe.Run([new ProbePrompt("prompt", prompt, "request")], new ProbeOptions(Masks: masks, TopK: topK, BatchSize: 1));
            return result.Prompts[0].Top;
        }
        finally { _gate.Release(); }
    }

    public string TokenText(long id) => id >= 0 && id < _tokenTexts.Length
        ? _tokenTexts[id] ??= id < Tokenizer.VocabSize ? Tokenizer.TokenText((int)id) : id == Config.MaskTokenId ? "<mask>" : $"<id {id}>"
        : $"<id {id}>";

    public void Dispose()
    {
        if (_owns) Loaded.Dispose();
        _gate.Dispose();
    }
}

/// <summary>A position of the completion whose token changed at a step.</summary>
/// <param name="Position">index into the completion, from 0.</param>
/// <param name="Confidence">the probability the step's logits gave the token (NaN where unknown or remasked).</param>
/// <param name="Remasked">the position went back to the mask (ReMDM).</param>
public sealed record PositionCommit(int Position, long Token, string Text, double Confidence, bool Remasked = false);

/// <summary>One denoising step as it happened: the completion ids of every row after it (mask id where not yet
/// committed), what changed in each row, and the forward calls (NFE) made so far.</summary>
public sealed record GenerationStep(int Index, int Nfe, long[][] Completions, IReadOnlyList<PositionCommit>[] Commits);

/// <summary>One finished completion.</summary>
/// <param name="CommittedAt">per completion position, the sampler's trace step that committed it (−1: none recorded).</param>
/// <param name="Confidence">per position, the confidence the sampler ranked by when it committed it.</param>
/// <param name="FinishReason">"stop" when the completion holds an end token, else "length".</param>
public sealed record GenerationOutput(int[] PromptIds, long[] Ids, string Text, int Nfe, double Seconds, string Sampler,
    int[] CommittedAt, double[] Confidence, string FinishReason);
