using System.Threading.Channels;

namespace DiffusionLM.Cli.Serve;

/// <summary>
/// The server's one worker and its bounded queue. Every model call of every request runs on the worker's
/// thread, one at a time (TorchSharp's grad mode and thread pool are process-wide; one model is not driven from
/// two threads). A request that finds <see cref="Capacity"/> jobs already waiting is refused at once (429), so
/// memory and waiting time stay bounded however many clients connect.
/// </summary>
public sealed class GenerationQueue : IDisposable
{
    sealed record Job(Action<CancellationToken> Work, CancellationToken Cancel, TaskCompletionSource Done);

    readonly Channel<Job> _jobs;
    readonly Thread _worker;
    readonly CancellationTokenSource _stop = new();

    public int Capacity { get; }
    int _completed, _cancelled, _failed;
    /// <summary>Jobs run to the end, stopped because their client left, and failed: for /v1/diffusion/info.</summary>
    public (int Completed, int Cancelled, int Failed) Counts => (_completed, _cancelled, _failed);
    /// <summary>Jobs waiting (not counting the one running).</summary>
    public int Waiting => _jobs.Reader.Count;

    public GenerationQueue(int capacity)
    {
        if (capacity <= 0) throw new DlmException($"--queue must be positive (got {capacity})");
        Capacity = capacity;
        _jobs = Channel.CreateBounded<Job>(new BoundedChannelOptions(capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
        _worker = new Thread(Work) { IsBackground = true, Name = "dlm-serve-worker" };
        _worker.Start();
    }

    /// <summary>Queues <paramref name="work"/>; null when the queue is full. The task ends when the work has run
    /// (faulted with its exception, or cancelled when <paramref name="cancel"/> fired first).</summary>
    public Task? TryEnqueue(Action<CancellationToken> work, CancellationToken cancel)
    {
        var job = new Job(work, cancel, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        return _jobs.Writer.TryWrite(job) ? job.Done.Task : null;
    }

    void Work()
    {
        try
        {
            while (_jobs.Reader.WaitToReadAsync(_stop.Token).AsTask().GetAwaiter().GetResult())
            {
                while (_jobs.Reader.TryRead(out var job))
                {
                    // A client that left while its job waited costs nothing.
                    if (job.Cancel.IsCancellationRequested) { Interlocked.Increment(ref _cancelled); job.Done.TrySetCanceled(job.Cancel); continue; }
                    try { job.Work(job.Cancel); Interlocked.Increment(ref _completed); job.Done.TrySetResult(); }
                    catch (OperationCanceledException) when (job.Cancel.IsCancellationRequested) { Interlocked.Increment(ref _cancelled); job.Done.TrySetCanceled(job.Cancel); }
                    catch (Exception e) { Interlocked.Increment(ref _failed); job.Done.TrySetException(e); }
                }
            }
        }
        catch (OperationCanceledException) { }
    }

    public void Dispose()
    {
        _jobs.Writer.TryComplete();
        _stop.Cancel();
        _worker.Join(TimeSpan.FromSeconds(5));
        _stop.Dispose();
    }
}
