using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Sampling;

/// <summary>
/// What a sampler saw at one denoising step, before it committed anything: the state and the
/// denoiser's logits on it. The tensors belong to the sampler's dispose scope and are valid only
/// during the callback; an observer copies out what it needs and never modifies them.
/// </summary>
/// <param name="Index">step number over the whole run, from 0 (0 = the first forward on the all-mask completion).</param>
/// <param name="Block">semi-autoregressive block of the step.</param>
/// <param name="PromptLength">P: the completion occupies columns P.. of <paramref name="State"/>.</param>
/// <param name="State">[B, P + G] int64 ids as the step sees them (mask id where not yet committed).</param>
/// <param name="Logits">[B, P + G, V] float32 logits the step ranks and samples from (after guidance, if any).</param>
/// <param name="Continuous">for samplers of continuous (gaussian) models: the [B, P + G, D] state x_t itself, with
/// <paramref name="State"/> its rounding to the nearest token embedding; null for discrete samplers.</param>
public sealed record SamplerObservation(int Index, int Block, int PromptLength, Tensor State, Tensor Logits, Tensor? Continuous = null);

/// <summary>
/// A sampler whose intermediate states can be watched, for instruments that re-probe the model while
/// tokens are committed (dlm probe --steps). Observing must not change what the sampler generates.
/// </summary>
public interface IObservableSampler : ISampler
{
    /// <summary>Called once per step with the state and logits, before the step commits; null: no observer.</summary>
    Action<SamplerObservation>? Observer { get; set; }
}
