using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// NaN and infinity found where they would otherwise turn into silent nonsense: weights at load (NaN weights make
/// every logit NaN, and the samplers then print token 0 forever), and logits before a sampler acts on them.
/// </summary>
public static class NonFinite
{
    /// <summary>Throws a <see cref="DlmException"/> starting with <paramref name="what"/> if the tensor holds a NaN or an infinity.</summary>
    public static void Check(Tensor t, string what)
    {
        if (!t.is_floating_point() || t.numel() == 0) return;
        using var scope = NewDisposeScope();
        // In slices, so that checking a multi-gigabyte tensor never allocates a mask of its size.
        var flat = t.flatten();
        const long Slice = 1 << 24;
        for (long start = 0; start < flat.numel(); start += Slice)
        {
            using var inner = NewDisposeScope();
            var part = flat.narrow(0, start, Math.Min(Slice, flat.numel() - start));
            var bad = isfinite(part).logical_not();
            if (!bad.any().item<bool>()) continue;
            long first = start + bad.nonzero()[0, 0].item<long>();
            double value = flat[first].to_type(ScalarType.Float64).item<double>();
            throw new DlmException($"{what} holds a non-finite value ({value} at flat index {first}); the file is corrupt");
        }
    }

    /// <summary>The check of logits: a model whose output turned NaN or infinite stops with a clear error instead of sampling nonsense.</summary>
    public static void CheckLogits(Tensor logits, string model)
    {
        using var scope = NewDisposeScope();
        // +inf/-inf are legitimate only as masks (-inf): a NaN or +inf is not.
        long bad = (isnan(logits).logical_or(isposinf(logits))).sum().item<long>();
        if (bad > 0) throw new NonFiniteLogitsException($"{model}: the model's logits hold {bad:N0} NaN or +infinity values; its weights or inputs are broken, sampling stopped");
    }
}
