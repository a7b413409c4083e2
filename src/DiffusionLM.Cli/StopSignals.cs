using System.Runtime.InteropServices;

namespace DiffusionLM.Cli;

/// <summary>
/// Turns SIGINT (Ctrl-C) and SIGTERM (what timeout, systemd, Docker and Slurm send) into a cancellation, so that a
/// long verb can stop cleanly (train: save a checkpoint) instead of dying mid-step. A second signal is not caught:
/// it ends the process at once, as a user pressing Ctrl-C twice expects.
/// </summary>
public sealed class StopSignals : IDisposable
{
    readonly CancellationTokenSource _cts = new();
    readonly List<PosixSignalRegistration> _registrations = [];

    public CancellationToken Token => _cts.Token;
    public bool Stopped => _cts.IsCancellationRequested;

    public StopSignals()
    {
        foreach (var signal in new[] { PosixSignal.SIGINT, PosixSignal.SIGTERM })
        {
            _registrations.Add(PosixSignalRegistration.Create(signal, context =>
            {
                if (_cts.IsCancellationRequested) return; // the second one: let the default action end the process
                context.Cancel = true;
                Io.Err.WriteLine($"{context.Signal}: stopping after this step (send it again to stop at once)");
                _cts.Cancel();
            }));
        }
    }

    public void Dispose()
    {
        foreach (var r in _registrations) r.Dispose();
        _cts.Dispose();
    }
}
