using static TorchSharp.torch;

namespace DiffusionLM.Runtime;

/// <summary>
/// Runs work too small to share on one thread. Every parallel region of libtorch hands work to the other OpenMP
/// threads and waits for them, and a forward pass of a small model is hundreds of short regions. Measured on the
/// 2-core AMD EPYC (Zen 4), the bundled model's forward of one 72-token sequence (44 MFLOP) took 2.3 ms on one thread
/// and 3.2 ms on two spinning threads (9.8 ms on two passive ones); at 160 tokens (116 MFLOP) two spinning threads
/// won (5.0 against 7.2 ms). Below <see cref="SingleThreadBelowFlops"/> per forward call one thread is faster whatever
/// the wait policy, so a sampler run (<c>SamplerRun</c>) whose calls are that small runs on one thread and restores
/// the caller's count when it ends.
/// </summary>
/// <remarks>
/// OpenMP's thread count is per calling thread (an ICV of its data environment), so the change is seen by the thread
/// that runs the sampler, and restored by it. Nested or concurrent small runs on one thread share one change. One
/// leak: libtorch also keeps the last count set process-wide and gives it to a thread on that thread's first parallel
/// region, so a thread that starts torch work while a small run is under way begins on one thread (slower, and equal
/// up to summation order) until it sets its own count.
/// </remarks>
public static class SmallWorkThreads
{
    /// <summary>Forward arithmetic (FLOPs, a multiply-add being 2) below which one thread is used.</summary>
    public const double SingleThreadBelowFlops = 100e6;

    [ThreadStatic] static int _depth;
    [ThreadStatic] static int _saved;

    /// <summary>One thread for the scope if a call's arithmetic is below the threshold and more are set; else nothing changes.</summary>
    public static Scope OneThreadIfSmall(double flopsPerCall)
    {
        if (_depth > 0) { _depth++; return new Scope(true); }
        if (flopsPerCall >= SingleThreadBelowFlops) return new Scope(false);
        int n = get_num_threads();
        if (n <= 1) return new Scope(false);
        _saved = n;
        _depth = 1;
        set_num_threads(1);
        return new Scope(true);
    }

    /// <summary>Restores the caller's thread count when the outermost small scope ends.</summary>
    public readonly struct Scope(bool active) : IDisposable
    {
        public bool Active => active;

        public void Dispose()
        {
            if (!active || _depth == 0) return;
            if (--_depth == 0) set_num_threads(_saved);
        }
    }
}
