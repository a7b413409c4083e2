using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// A denoiser maps a (partially corrupted) sequence of ids to logits over the vocabulary at every
/// position. It knows nothing of schedules: time conditioning, when the network has it, is passed in.
/// </summary>
public interface IDenoiser
{
    ModelConfig Config { get; }
    /// <param name="ids">[B, L] int64 token ids.</param>
    /// <param name="attentionMask">optional [B, L] bool, true where a position may be attended to (left padding).</param>
    /// <param name="time">optional [B] float32 diffusion time in [0, 1], used only by time-conditioned models.</param>
    /// <returns>[B, L, V] float32 logits. Position i predicts token i (no shift) unless the model says otherwise.</returns>
    Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null);
}
