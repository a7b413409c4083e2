namespace DiffusionLM.Corruption;

/// <summary>
/// A noise schedule of the masked (absorbing) process: α_t is the probability that a token is still
/// unmasked at time t ∈ [0, 1]. The continuous-time ELBO weights the cross-entropy at t by −α'_t / (1 − α_t).
/// </summary>
public abstract class MaskSchedule
{
    public abstract string Name { get; }
    public abstract double Alpha(double t);
    public abstract double AlphaDerivative(double t);
    public double MaskProbability(double t) => 1.0 - Alpha(t);
    public double ElboWeight(double t) => -AlphaDerivative(t) / (1.0 - Alpha(t));

    public static MaskSchedule FromName(string name) => name switch
    {
        "linear" => new LinearMaskSchedule(),
        "loglinear" => new LogLinearMaskSchedule(),
        _ => throw new DlmException($"unknown schedule \"{name}\" (expected linear or loglinear)"),
    };
}

/// <summary>LLaDA: α_t = 1 − t, so a token is masked with probability t and the ELBO weight is 1/t.</summary>
public sealed class LinearMaskSchedule : MaskSchedule
{
    public override string Name => "linear";
    public override double Alpha(double t) => 1.0 - t;
    public override double AlphaDerivative(double t) => -1.0;
}

/// <summary>
/// MDLM's log-linear noise: total noise σ(t) = −log(1 − (1 − ε)t), α_t = e^{−σ(t)} = 1 − (1 − ε)t.
/// Masking never quite reaches 1 (ε keeps the loss finite at t = 1); the ELBO weight σ'(t)/(e^{σ(t)} − 1) is 1/t.
/// </summary>
public sealed class LogLinearMaskSchedule(double eps = 1e-3) : MaskSchedule
{
    public override string Name => "loglinear";
    public double Eps { get; } = eps;
    public override double Alpha(double t) => 1.0 - (1.0 - Eps) * t;
    public override double AlphaDerivative(double t) => -(1.0 - Eps);
}
