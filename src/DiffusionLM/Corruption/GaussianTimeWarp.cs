using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>
/// Adaptive time warping for training the gaussian process, a histogram version of CDCD's: CDCD fits a
/// monotone function F(t) to the cross-entropy loss as a function of the noise level and draws training
/// times from the density ∝ F'(t), so that the training effort goes where the loss (the entropy of the
/// model's x_0 prediction) changes, not to noise levels where x_t is still obvious or already hopeless.
/// Here F is a running average of the loss in <see cref="Bins"/> equal bins of t, made monotone by a running
/// maximum; a bin's probability is a <see cref="UniformShare"/> uniform plus the rest in proportion to F's increase over the bin (all
/// uniform until the loss has a slope), and t is uniform within the bin. The state, [2, Bins] = (average
/// loss, number of updates) per bin, lives in the model (<c>model.transformer.diff_warp</c>) and is saved
/// with its weights, so a resumed run draws exactly the times of an uninterrupted one.
/// </summary>
public static class GaussianTimeWarp
{
    /// <summary>The model keeps the state, so its checkpoint's shape decides the number.</summary>
    public const int Bins = Models.IContinuousDenoiser.TimeWarpBins;
    /// <summary>
    /// The share of times drawn uniformly. Half, not a small floor: an under-trained model's loss is flat at low noise
    /// (it has not yet learned the easy task there), so a slope-only warp would stop visiting low noise, where the
    /// likelihood bound's weight 1/σ² is largest. On Tiny Shakespeare (tiny preset, 300 steps) 0.2 gave a held-out
    /// bound of 11.8 nats/token and 0.5 gave 8.2.
    /// </summary>
    public const double UniformShare = 0.5;
    const double Decay = 0.9;

    /// <summary>The probability of each bin under <paramref name="state"/> (null: uniform).</summary>
    public static double[] Density(Tensor? state)
    {
        var p = Enumerable.Repeat(1.0 / Bins, Bins).ToArray();
        if (state is null) return p;
        var s = state.detach().to_type(ScalarType.Float64).data<double>().ToArray();
        var rise = new double[Bins];
        double running = double.NaN, total = 0;
        for (int k = 0; k < Bins; k++)
        {
            if (s[Bins + k] <= 0) continue; // never seen: no slope known
            double v = s[k];
            if (double.IsNaN(running)) { running = v; continue; }
            if (v > running) { rise[k] = v - running; running = v; total += rise[k]; }
        }
        if (!(total > 1e-9)) return p;
        for (int k = 0; k < Bins; k++) p[k] = UniformShare / Bins + (1 - UniformShare) * rise[k] / total;
        return p;
    }

    /// <summary>
    /// [B] float64 times in [0, 1): stratified as MDLM's (one u, row i at (u + i/B) mod 1), then pushed
    /// through the inverse of the warped CDF, so the batch still covers the warped distribution evenly.
    /// </summary>
    public static Tensor SampleTimes(Tensor? state, long batch, Generator g)
    {
        var p = Density(state);
        double u0;
        using (var u = rand(1, dtype: ScalarType.Float64, generator: g)) u0 = u.item<double>();
        var t = new double[batch];
        for (long i = 0; i < batch; i++)
        {
            double u = (u0 + (double)i / batch) % 1.0, cdf = 0;
            int k = 0;
            while (k < Bins - 1 && cdf + p[k] <= u) cdf += p[k++];
            double within = p[k] > 0 ? Math.Clamp((u - cdf) / p[k], 0, 1 - 1e-12) : 0.5;
            t[i] = (k + within) / Bins;
        }
        return tensor(t, dtype: ScalarType.Float64);
    }

    /// <summary>Folds each row's loss into the running average of its time's bin (the first one sets it).</summary>
    public static void Update(Tensor state, double[] times, double[] losses)
    {
        using var _ = no_grad();
        var s = state.to_type(ScalarType.Float64).data<double>().ToArray();
        for (int i = 0; i < times.Length; i++)
        {
            if (!double.IsFinite(losses[i])) continue;
            int k = Math.Clamp((int)(times[i] * Bins), 0, Bins - 1);
            s[k] = s[Bins + k] > 0 ? Decay * s[k] + (1 - Decay) * losses[i] : losses[i];
            s[Bins + k] += 1;
        }
        using var updated = tensor(s, dtype: ScalarType.Float64).view(2, Bins).to_type(state.dtype);
        state.copy_(updated);
    }
}
