using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Sampling;

/// <summary>
/// What a sampler saw at one denoising step and what it did: the state and the denoiser's logits on it (from the
/// step's last forward, before the step committed anything), and the step's commits. The tensors are valid only
/// during the callback; an observer copies out what it needs and never modifies them. Delivered by the engine
/// (<see cref="SamplerRun.AddStep"/>) for every sampler, once per trace entry, after the step.
/// </summary>
/// <param name="Index">step number over the whole run, from 0 (0 = the first forward on the all-mask completion); the trace entry's index.</param>
/// <param name="Block">semi-autoregressive block of the step.</param>
/// <param name="PromptLength">P: the completion occupies columns P.. of <paramref name="State"/>.</param>
/// <param name="State">[B, P + G] int64 ids as the step saw them (mask id where not yet committed).</param>
/// <param name="Logits">[B, P + G, V] float32 logits the step ranked and sampled from (after guidance, if any). With a
/// block cache, positions outside the recomputed window hold the logits of the block's first step.</param>
/// <param name="Continuous">for samplers of continuous (gaussian) models: the [B, P + G, D] state x_t itself, with
/// <paramref name="State"/> its rounding to the nearest token embedding; null for discrete samplers.</param>
public sealed record SamplerObservation(int Index, int Block, int PromptLength, Tensor State, Tensor Logits, Tensor? Continuous = null)
{
    /// <summary>Step number within the block, from 0.</summary>
    public int StepInBlock { get; init; }
    /// <summary>What the step committed (the trace entry's commits; remaskings carry the mask id).</summary>
    public IReadOnlyList<Commit> Commits { get; init; } = [];
    /// <summary>The block cache the logits came through.</summary>
    public CacheMode Cache { get; init; }
    /// <summary>Forward calls of the denoiser so far, this step's included (what a stream reports as NFE).</summary>
    public int Nfe { get; init; }
}

/// <summary>
/// A sampler whose steps can be watched (dlm probe --steps, the audit's D3, streaming). Every registered sampler
/// is one: the observer is handed to the engine, which calls it after every step. Observing never changes what
/// the sampler generates.
/// </summary>
public interface IObservableSampler : ISampler
{
    /// <summary>Called once per step with the state, logits and commits; null: no observer.</summary>
    Action<SamplerObservation>? Observer { get; set; }
}

/// <summary>A sampler built from a typed options record, which it shows: what the registry bound from the user's settings.</summary>
public interface IConfiguredSampler : ISampler
{
    ISamplerOptions Options { get; }
}

/// <summary>Options every sampler's typed options record has.</summary>
public interface ISamplerOptions
{
    int GenLength { get; }
    /// <summary>Checks the settings on their own; a message names each offending value.</summary>
    void Validate();
}

/// <summary>
/// The base of every sampler on the engine: it validates the options once, starts a <see cref="SamplerRun"/> (with
/// the observer and the cache), runs the policy and returns the run's result. A sampler overrides only
/// <see cref="Run"/> (and names itself).
/// </summary>
public abstract class EngineSampler<TOptions> : IObservableSampler, IConfiguredSampler where TOptions : ISamplerOptions
{
    public TOptions Options { get; }

    ISamplerOptions IConfiguredSampler.Options => Options;

    /// <inheritdoc/>
    public Action<SamplerObservation>? Observer { get; set; }

    protected EngineSampler(TOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
    }

    /// <summary>The name errors start with ("LLaDA sampler: ...").</summary>
    protected abstract string DisplayName { get; }

    /// <summary>The block cache the run uses; samplers without blocks have none.</summary>
    protected virtual CacheMode Cache => CacheMode.None;

    /// <summary>With a cache: steps of a block between its recordings (0: once per block).</summary>
    protected virtual int CacheRefresh => 0;

    public SamplerResult Generate(Models.IDenoiser model, Tensor prompt, Generator generator, Tensor? attentionMask = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(generator);
        Prepare(model);
        using var scope = torch.NewDisposeScope();
        using var noGrad = torch.no_grad();
        using var run = SamplerRun.Start(DisplayName, model, prompt, attentionMask, Options.GenLength, Cache, Observer, CacheRefresh);
        Run(run, generator);
        return run.Result();
    }

    /// <summary>Checks of the model before the run starts (a family check, say).</summary>
    protected virtual void Prepare(Models.IDenoiser model) { }

    internal abstract void Run(SamplerRun run, Generator generator);
}
