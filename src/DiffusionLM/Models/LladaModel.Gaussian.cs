using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// The gaussian-process side of <see cref="LladaModel"/> (config "process": "gaussian"): the same transformer,
/// fed by a linear map of [c_in(σ)·x_t ; self-conditioning estimate] (2D wide) instead of the token embedding,
/// with a learned vector added at clean (prompt) positions and time conditioning always on. Its output is
/// still logits over the vocabulary: the x_0 distribution whose expectation over the normalised embedding
/// table is the denoised embedding (CDCD's score interpolation). The model knows nothing of the noise schedule: the
/// process that made x_t hands over the input scale c_in with it (Corruption/GaussianProcess.Logits), and a gaussian
/// model does not read ids (<see cref="Logits"/> refuses; GaussianProcess.LogitsOfIds embeds them and reads them as x_t).
/// </summary>
public sealed partial class LladaModel
{
    LladaTransformer RequireGaussian() => Config.IsGaussian
        ? model.transformer
        : throw new InvalidOperationException($"this model's process is \"{Config.Process}\": it reads token ids, not embeddings");

    /// <summary>The embedding table rows scaled to norm √D (CDCD's normalisation), with gradient.</summary>
    public Tensor DiffusionEmbeddings()
    {
        var w = RequireGaussian().diff_emb!.weight!;
        return w / w.norm(1, keepdim: true).clamp_min(1e-12) * Math.Sqrt(Config.DiffusionDim);
    }

    public Tensor? TimeWarpState => Config.IsGaussian ? model.transformer.diff_warp : null;

    public Tensor LogitsFromNoisy(Tensor xt, Tensor t, Tensor inputScale, Tensor? selfCond = null, Tensor? clean = null, Tensor? attentionMask = null)
    {
        using var scope = NewDisposeScope();
        var tr = RequireGaussian();
        long b = xt.shape[0], l = xt.shape[1], d = Config.DiffusionDim;
        if (xt.ndim != 3 || xt.shape[2] != d)
            throw new ArgumentException($"x_t must be [batch, length, {d}] (got [{string.Join(", ", xt.shape)}])");
        if (l > Config.MaxSequenceLength)
            throw new DlmException($"sequence of {l} tokens exceeds the model's context of {Config.MaxSequenceLength} (max_sequence_length)");
        if (inputScale.numel() != b) throw new ArgumentException($"the input scale must hold one value per row ({b}), not {inputScale.numel()}");
        var time = t.to_type(ScalarType.Float32).view(b);
        var scale = inputScale.to_type(ScalarType.Float32).view(b, 1, 1).expand(b, l, 1);
        Tensor? cleanF = clean?.to_type(ScalarType.Bool).view(b, l, 1);
        // A clean position holds the embedding itself (σ = 0): c_in = 1.
        if (cleanF is not null) scale = where(cleanF, ones_like(scale), scale);
        var input = cat([xt.to_type(ScalarType.Float32) * scale, selfCond?.to_type(ScalarType.Float32) ?? zeros_like(xt, dtype: ScalarType.Float32)], -1);
        var h = tr.diff_in!.forward(input);
        if (cleanF is not null) h = h + cleanF.to_type(ScalarType.Float32) * tr.diff_clean!.view(1, 1, -1);
        return Trunk(h, attentionMask, time, cache: null).MoveToOuterDisposeScope();
    }
}
