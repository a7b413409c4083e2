using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>
/// A continuous forward process seen from the D2 property (the counterpart of <see cref="IForwardProcess"/> for
/// vectors): q(x_t | x_0) drawn in one shot must be the law the chain of small steps arrives at.
/// <see cref="DiffusionLM.Analysis.Audit.GaussianClosedFormCheck"/> compares the two.
/// </summary>
public interface IContinuousForwardProcess
{
    string Name { get; }

    /// <summary>x_t ~ q(x_t | x_0) in closed form, for every row of <paramref name="x0"/> ([..., D] float) at one time t.</summary>
    Tensor SampleMarginal(Tensor x0, double t, Generator g);

    /// <summary>
    /// x_t at the last of <paramref name="times"/> (increasing, in (0, 1]) reached from the clean x_0 by the one-step
    /// transitions q(x_t | x_s) between successive times (the first step from x_0 itself).
    /// </summary>
    Tensor SimulateChain(Tensor x0, double[] times, Generator g);
}
