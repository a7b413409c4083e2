using TorchSharp;

namespace DiffusionLM.Runtime;

/// <summary>
/// Scalars that outlive every call they are passed to. TorchSharp's <c>Tensor.add(Scalar, Scalar)</c> and
/// <c>add(Tensor, Scalar)</c>, as its source reads, hand the native call <c>scalar.Handle</c> without keeping the managed
/// Scalar alive, and the operators create those Scalars as temporaries (the alpha of <c>a + b</c>, the double of
/// <c>a + 1e-5</c>): a garbage collection during the call can finalize one and free its native value while libtorch
/// reads it. That is the likely cause of a flake the suite hit twice in a few dozen runs, libtorch rejecting the value
/// (<c>Scalar.h:140 toFloat</c>) in a residual add and in RMSNorm's epsilon; the forward's hot adds pass these instead
/// (the same operation, so every value is unchanged). Not proven: the flake is too rare to show its absence in a few runs.
/// </summary>
public static class LiveScalars
{
    /// <summary>alpha = 1 of an addition.</summary>
    public static readonly Scalar One = 1.0.ToScalar();
}
