using TorchSharp;

namespace DiffusionLM.Runtime;

/// <summary>
/// Scalars that outlive every call they are passed to. TorchSharp 0.107's <c>Tensor.add(Scalar, Scalar)</c> and
/// <c>add(Tensor, Scalar)</c> hand the native call <c>scalar.Handle</c> without keeping the managed Scalar alive, and the
/// operators create those Scalars as temporaries (the alpha of <c>a + b</c>, the double of <c>a + 1e-5</c>): a garbage
/// collection during the call can finalize one and free its native value while libtorch reads it. The suite hit this
/// twice in a few dozen runs, as libtorch rejecting the value (<c>Scalar.h:140 toFloat</c>) in a residual add and in
/// RMSNorm's epsilon. The forward's hot adds pass these instead.
/// </summary>
public static class LiveScalars
{
    /// <summary>alpha = 1 of an addition.</summary>
    public static readonly Scalar One = 1.0.ToScalar();
}
