using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>
/// The noise schedule of the gaussian process, variance-exploding as CDCD's: x_t = x_0 + σ(t)·ε with ε ~ N(0, I)
/// and σ geometric in t, σ(t) = σ_min·(σ_max/σ_min)^t, so t is log σ rescaled onto [0, 1] and the time input of the
/// network is that (a CDCD-style network is conditioned on log σ). x_0 is a token's embedding normalised to
/// ‖e‖ = √D, so each coordinate has unit second moment and x_t has per-coordinate second moment 1 + σ²:
/// the network reads c_in(σ)·x_t with c_in = 1/√(σ² + 1) (EDM/CDCD input scaling), which keeps its input at unit scale.
/// Defaults σ_min = 1 (CDCD) and σ_max = 100: D = 64 embeddings have norm 8, so at σ = 100 the signal is a
/// hundredth of the noise per coordinate and x_t keeps essentially nothing of x_0 (the prior term is D/(2σ_max²) = 0.003 nats).
/// </summary>
public sealed record GaussianSchedule(double SigmaMin = 1.0, double SigmaMax = 100.0)
{
    public static GaussianSchedule FromConfig(ModelConfig c) => new(c.SigmaMin ?? 1.0, c.SigmaMax ?? 100.0);

    /// <summary>ln(σ_max/σ_min) = d ln σ / dt.</summary>
    public double LogRatio => Math.Log(SigmaMax / SigmaMin);

    public double Sigma(double t) => SigmaMin * Math.Exp(LogRatio * t);

    /// <summary>σ(t) elementwise, in the dtype of <paramref name="t"/>.</summary>
    public Tensor Sigma(Tensor t) => (t * LogRatio).exp() * SigmaMin;

    public static Tensor InputScale(Tensor sigma) => (sigma.square() + 1.0).rsqrt();

    /// <summary>
    /// c_in(σ(t)) per row from [B] times, in float32 as the denoiser reads it: the value <see cref="Models.IContinuousDenoiser.LogitsFromNoisy"/>
    /// takes beside x_t, so the schedule stays on this side (σ and c_in computed in float32, as the model did when it held the schedule).
    /// </summary>
    public Tensor InputScaleAt(Tensor t) => InputScale(Sigma(t.to_type(ScalarType.Float32)));

    /// <summary>
    /// The VDM weight of the continuous-time bound, −d SNR/dt with SNR = 1/σ²: 2σ'/σ³ = 2·ln(σ_max/σ_min)/σ(t)².
    /// </summary>
    public Tensor SnrSlope(Tensor t) => Sigma(t).square().reciprocal() * (2.0 * LogRatio);
}
