using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// A denoiser of the gaussian (continuous) process: it reads noisy token embeddings x_t rather than ids and
/// returns logits over the vocabulary for x_0 at every position, CDCD-style: its estimate of the clean embedding
/// is E[e_{x0} | x_t] = softmax(logits)·E (score interpolation), with E = <see cref="DiffusionEmbeddings"/>.
/// </summary>
public interface IContinuousDenoiser : IDenoiser
{
    /// <summary>
    /// [V, D] float32: the token embeddings x_0 lives in, normalised to L2 norm √D (with gradient when the
    /// model is training, so the cross-entropy shapes them as CDCD's do).
    /// </summary>
    Tensor DiffusionEmbeddings();

    /// <param name="xt">[B, L, D] the noisy embeddings at time t (at clean positions: the clean embedding itself).</param>
    /// <param name="t">[B] float32 time in [0, 1] of each row, the time-conditioning input.</param>
    /// <param name="inputScale">[B] c_in of each row, by which x_t is multiplied outside clean positions (1 there) so the
    /// network reads it at unit scale: a value of the noise level, so the process that made x_t supplies it
    /// (Corruption/GaussianSchedule.InputScaleAt); the denoiser knows no schedule.</param>
    /// <param name="selfCond">optional [B, L, D] previous estimate of x_0 (self-conditioning); null = zeros.</param>
    /// <param name="clean">optional [B, L] bool: positions that are given, not noised (a prompt); null = none.</param>
    /// <param name="attentionMask">optional [B, L] bool, false on padding.</param>
    /// <returns>[B, L, V] float32 logits of x_0.</returns>
    Tensor LogitsFromNoisy(Tensor xt, Tensor t, Tensor inputScale, Tensor? selfCond = null, Tensor? clean = null, Tensor? attentionMask = null);

    /// <summary>
    /// Bins of the time-warp state the model keeps for its process ([2, TimeWarpBins], saved with the weights): the shape is
    /// the checkpoint's, so it is stated here and the warp (Corruption/GaussianTimeWarp) takes it from here.
    /// </summary>
    const int TimeWarpBins = 32;

    /// <summary>
    /// The adaptive time-warping state (Corruption/GaussianTimeWarp), a tensor the model saves
    /// with its weights so a resumed run draws the same times; null when the model has none (t then uniform).
    /// </summary>
    Tensor? TimeWarpState { get; }
}
