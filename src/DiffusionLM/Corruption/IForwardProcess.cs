using static TorchSharp.torch;

namespace DiffusionLM.Corruption;

/// <summary>
/// A discrete forward (corruption) process seen from the D2 property: its marginal q(x_t | x_0) can be
/// drawn in one shot, and the same marginal must come out of running the chain step by step.
/// <see cref="DiffusionLM.Analysis.Audit.ClosedFormCheck"/> compares the two.
/// </summary>
public interface IForwardProcess
{
    /// <summary>The process's spelling (<see cref="Models.DiffusionProcess.Spelling"/>), as ModelConfig's "process".</summary>
    string Name { get; }

    /// <summary>x_t ~ q(x_t | x_0) for every row of x0 ([B, L] int64) at one time t, in closed form.</summary>
    Tensor SampleMarginal(Tensor x0, double t, Generator g);

    /// <summary>
    /// x_t at the last of <paramref name="times"/> (increasing, in (0, 1]), reached from x_0 at t = 0 by
    /// applying the one-step transition q(x_t | x_s) between each pair of successive times.
    /// </summary>
    Tensor SimulateChain(Tensor x0, double[] times, Generator g);

    /// <summary>Checks that times are increasing and in (0, 1]; shared by the implementations.</summary>
    static void ValidateTimes(double[] times)
    {
        if (times.Length == 0) throw new DlmException("a chain needs at least one time");
        double prev = 0;
        foreach (var t in times)
        {
            if (!(t > prev && t <= 1.0))
                throw new DlmException($"chain times must increase within (0, 1]; got {t} after {prev}");
            prev = t;
        }
    }
}
