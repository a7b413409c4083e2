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

    /// <summary>Whether <see cref="LogitsRecording"/> and <see cref="LogitsWindow"/> work (Fast-dLLM's block caches).</summary>
    bool SupportsBlockCache => false;

    /// <summary>
    /// The same logits as <see cref="Logits"/> (bit for bit), recording every layer's keys and values of the whole
    /// sequence into <paramref name="cache"/>, replacing what it held.
    /// </summary>
    Tensor LogitsRecording(Tensor ids, Tensor? attentionMask, BlockKvCache cache) =>
        throw new DlmException($"this {GetType().Name} has no block cache (use --cache none)");

    /// <summary>
    /// Logits [B, W, V] of the positions [start, start + W) of <paramref name="ids"/> (the whole current sequence, of the
    /// recorded length), recomputing only the window and reading the other positions' keys and values from
    /// <paramref name="cache"/> as recorded (an approximation; see <see cref="BlockKvCache"/>).
    /// </summary>
    /// <param name="ids">[B, T] the current sequence (a model with shifted logits reads the id left of the window too, and
    /// recomputes every position of the window itself, so the window's keys and values are all fresh).</param>
    /// <param name="attentionMask">optional [B, T] mask over the whole sequence.</param>
    Tensor LogitsWindow(Tensor ids, long start, long length, Tensor? attentionMask, BlockKvCache cache) =>
        throw new DlmException($"this {GetType().Name} has no block cache (use --cache none)");

    /// <summary>Whether <see cref="LogitsIncremental"/> works (a causal model's key/value cache).</summary>
    bool SupportsIncrementalDecoding => false;

    /// <summary>Logits of <paramref name="ids"/> [B, L] appended after the positions <paramref name="cache"/> holds, which it then holds too (causal models).</summary>
    Tensor LogitsIncremental(Tensor ids, KvCache cache) =>
        throw new DlmException($"this {GetType().Name} has no key/value cache for incremental decoding");

    /// <summary>A cache sized for this model's layers.</summary>
    BlockKvCache CreateBlockCache() => new(Math.Max(1, Config.NLayers));
}
