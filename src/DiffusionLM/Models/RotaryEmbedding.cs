using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// Rotary position embedding in the rotate-half convention of Hugging Face Llama/LLaDA/Dream: dimension
/// i is paired with i + head_dim/2. (llama2.c pairs adjacent dimensions; its importer permutes wq/wk rows
/// so that one convention serves both.) A plain class, not a module: the tables are derived, not weights.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    readonly Tensor _cos, _sin; // [maxLen, headDim]

    public RotaryEmbedding(int headDim, int maxLen, double theta)
    {
        using var scope = NewDisposeScope();
        // Frequencies in float64 then cast, so the tables do not depend on fp32 rounding of theta^(2i/d).
        var invFreq = 1.0 / pow(theta, arange(0, headDim, 2, dtype: ScalarType.Float64) / headDim);
        var pos = arange(maxLen, dtype: ScalarType.Float64);
        var freqs = outer(pos, invFreq);
        var emb = cat([freqs, freqs], -1);
        _cos = emb.cos().to_type(ScalarType.Float32).MoveToOuterDisposeScope();
        _sin = emb.sin().to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    public int MaxLength => (int)_cos.shape[0];

    /// <summary>Rotates q or k of shape [B, H, L, D] whose first position is <paramref name="offset"/>.</summary>
    public Tensor Apply(Tensor x, long offset = 0)
    {
        using var scope = NewDisposeScope();
        long len = x.shape[2], half = x.shape[3] / 2;
        var cos = _cos.narrow(0, offset, len);
        var sin = _sin.narrow(0, offset, len);
        var x1 = x.narrow(-1, 0, half);
        var x2 = x.narrow(-1, half, half);
        var rotated = cat([-x2, x1], -1);
        return (x * cos + rotated * sin).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Rotates q [B, H, L, D] and k [B, H_kv, L, D] of the same positions in one pass (stacked along the heads): the
    /// same values as two <see cref="Apply"/> calls with half their small operations, which is what a short window's
    /// step pays for.
    /// </summary>
    public (Tensor q, Tensor k) Apply(Tensor q, Tensor k, long offset)
    {
        using var scope = NewDisposeScope();
        long h = q.shape[1];
        var both = Apply(cat([q, k], 1), offset);
        var rq = both.narrow(1, 0, h);
        var rk = both.narrow(1, h, k.shape[1]);
        return (rq.MoveToOuterDisposeScope(), rk.MoveToOuterDisposeScope());
    }

    public void Dispose() { _cos.Dispose(); _sin.Dispose(); }
}
