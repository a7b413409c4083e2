using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Audit;

/// <summary>
/// The L1 rounding error of a continuous model at one time t, on clean sequences <c>ids</c>: each position is noised
/// to x_t = e + σ(t)ε (all positions, none clean) and then rounded back to a token two ways.
/// </summary>
/// <param name="NoisyRate">share of positions whose x_t itself is nearest (L2) to an embedding other than the clean
/// token's: how often the raw continuous state does not denote the right token (the channel's error, no model involved).</param>
/// <param name="DenoisedRate">share of positions whose denoised estimate x̂_0 = softmax(logits)·E (one forward, no
/// self-conditioning) is nearest to an embedding other than the clean token's: the rounding error a sampler that
/// stopped at t and rounded its x̂_0 to the nearest embedding would make.</param>
public sealed record RoundingError(double T, double Sigma, int Positions, double NoisyRate, double DenoisedRate);

public static class GaussianDiagnostics
{
    /// <summary>Measures <see cref="RoundingError"/> on <paramref name="ids"/> ([B, L] int64) at time t.</summary>
    public static RoundingError RoundingErrorRate(IDenoiser model, Tensor ids, double t, Generator g)
    {
        var m = model as IContinuousDenoiser
            ?? throw new DlmException($"rounding error is defined for models of the gaussian process; this one's process is \"{model.Config.Process}\"");
        if (!(t >= 0 && t <= 1)) throw new DlmException($"t must be in [0, 1]; got {t}");
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var process = GaussianProcess.ForModel(model.Config, model);
        long b = ids.shape[0], l = ids.shape[1];
        var table = m.DiffusionEmbeddings().detach();
        var e = table.index_select(0, ids.flatten()).view(b, l, -1);
        var times = full(new long[] { b }, t, dtype: ScalarType.Float64);
        var xt = process.Noise(e, times, null, g);
        var noisyWrong = GaussianSampler.Nearest(xt, table).ne(ids).to_type(ScalarType.Float64).mean().item<double>();
        var logits = process.Logits(m, xt, times.to_type(ScalarType.Float32));
        var xHat = GaussianProcess.Interpolate(logits, table);
        var denoisedWrong = GaussianSampler.Nearest(xHat, table).ne(ids).to_type(ScalarType.Float64).mean().item<double>();
        return new RoundingError(t, process.Schedule.Sigma(t), (int)(b * l), noisyWrong, denoisedWrong);
    }
}
