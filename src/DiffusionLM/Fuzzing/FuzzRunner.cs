using System.Diagnostics;

namespace DiffusionLM.Fuzzing;

public sealed record FuzzFailure(int Input, string Kind, string Message, string SavedAs);

public sealed record FuzzReport(string Target, int Inputs, int Rejected, int Accepted, double Seconds, double SlowestSeconds, IReadOnlyList<FuzzFailure> Failures);

/// <summary>
/// Runs one target on <c>inputs</c> mutants of its seed corpus. An input may be accepted or refused with a
/// <see cref="DlmException"/> (a clear error); any other exception is a crash, and an input taking longer than
/// <see cref="HangSeconds"/> a hang. Failing inputs are saved, named by seed and index, so that they replay.
/// </summary>
public sealed class FuzzRunner(FuzzTarget target, IReadOnlyList<byte[]> seeds, long seed)
{
    public const double HangSeconds = 1.0;

    /// <summary>Where failing inputs are saved (default: a folder beside the scratch folder, kept).</summary>
    public string? FailuresDir { get; init; }
    public Action<int, int>? OnProgress { get; init; }

    public FuzzReport Run(int inputs)
    {
        if (seeds.Count == 0) throw new DlmException($"fuzz target {target.Name}: the seed corpus is empty");
        var rng = new Random(unchecked((int)(seed ^ (seed >> 32)) ^ StableHash(target.Name)));
        var mutator = new Mutator(rng, seeds, target.Dictionary);
        string scratch = Path.Combine(Path.GetTempPath(), $"dlm-fuzz-{target.Name}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(scratch);
        var failures = new List<FuzzFailure>();
        int rejected = 0, accepted = 0;
        double slowest = 0;
        var clock = Stopwatch.StartNew();
        try
        {
            target.Setup?.Invoke(scratch);
            string path = Path.Combine(scratch, target.FileName);
            // Warm-up, untimed: the first calls load native libraries and compile code.
            foreach (var s in seeds)
            {
                File.WriteAllBytes(path, s);
                try { target.Run(path); } catch (DlmException) { }
            }
            for (int i = 0; i < inputs; i++)
            {
                // Input 0..seeds-1 are the seeds themselves: they must pass.
                var data = i < seeds.Count ? seeds[i] : mutator.Next();
                File.WriteAllBytes(path, data);
                var one = Stopwatch.StartNew();
                string? crash = null;
                var worker = Task.Run(() =>
                {
                    try { target.Run(path); return true; }
                    catch (DlmException) { return false; }
                });
                bool finished = ((IAsyncResult)worker).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(HangSeconds * 10));
                double seconds = one.Elapsed.TotalSeconds;
                slowest = Math.Max(slowest, seconds);
                if (!finished) { failures.Add(new(i, "hang", $"still running after {seconds:F1} s", Save(data, i))); break; } // the thread cannot be stopped: end the run
                if (worker.IsFaulted)
                {
                    var e = worker.Exception!.InnerException!;
                    crash = $"{e.GetType().Name}: {e.Message}";
                    failures.Add(new(i, "crash", crash + "\n" + e.StackTrace, Save(data, i)));
                }
                else if (seconds > HangSeconds) failures.Add(new(i, "hang", $"took {seconds:F2} s (limit {HangSeconds} s)", Save(data, i)));
                else if (worker.Result) accepted++;
                else rejected++;
                if (i < seeds.Count && (crash is not null || !worker.Result))
                    failures.Add(new(i, "seed", $"seed input {i} is not accepted", Save(data, i)));
                OnProgress?.Invoke(i + 1, inputs);
            }
        }
        finally
        {
            try { Directory.Delete(scratch, recursive: true); } catch (IOException) { }
        }
        return new FuzzReport(target.Name, inputs, rejected, accepted, clock.Elapsed.TotalSeconds, slowest, failures);
    }

    string Save(byte[] data, int index)
    {
        string dir = FailuresDir ?? Path.Combine(Path.GetTempPath(), "dlm-fuzz-failures");
        Directory.CreateDirectory(dir);
        string file = Path.Combine(dir, $"{target.Name}-seed{seed}-input{index}-{target.FileName}");
        File.WriteAllBytes(file, data);
        return file;
    }

    /// <summary>A hash of the target's name that is the same in every process (string.GetHashCode is randomised).</summary>
    static int StableHash(string s)
    {
        unchecked
        {
            int h = (int)2166136261;
            foreach (char c in s) h = (h ^ c) * 16777619;
            return h;
        }
    }

    /// <summary>The seed corpus of a target: every file of <c>{corpusRoot}/{target}/</c>, in name order.</summary>
    public static List<byte[]> LoadSeeds(string corpusRoot, string target)
    {
        string dir = Path.Combine(corpusRoot, target);
        if (!Directory.Exists(dir)) throw new DlmException($"{dir}: seed corpus of fuzz target {target} not found");
        return Directory.GetFiles(dir).Where(f => !Path.GetFileName(f).StartsWith('.') && !f.EndsWith(".md"))
            .Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
    }
}
