using System.Diagnostics;
using DiffusionLM.Models;
using DiffusionLM.Training;
using Xunit;

namespace DiffusionLM.Tests.Safety;

/// <summary>
/// Data loss under the signals real schedulers send: a `dlm train` child killed with SIGKILL at random points of its
/// checkpoint writes always leaves the previous checkpoint loadable, `--resume` then ends bit for bit where an
/// uninterrupted run ends, and no temporary folder survives the next write; SIGTERM saves a checkpoint as Ctrl-C does.
/// </summary>
[Collection("TorchGlobalState")]
public class KillDuringCheckpointTests
{
    const int Steps = 8;

    static string Corpus(TempFolder tmp)
    {
        var rng = new Random(3);
        string[] lines = ["the cat sat on the mat.", "a dog ran in the park.", "my bird sang a song."];
        File.WriteAllText(tmp["corpus.txt"], string.Join(" ", Enumerable.Range(0, 1500).Select(_ => lines[rng.Next(lines.Length)])));
        return tmp["corpus.txt"];
    }

    static string[] Train(string data, string outDir, params string[] more) =>
        ["train", "--data", data, "--out", outDir, "--seq-len", "32", "--batch-size", "2", "--vocab-size", "280", .. more];

    /// <summary>A checkpoint at every step: most of the child's time is spent writing one.</summary>
    static string[] EveryStep(string data, string outDir, params string[] more) => Train(data, outDir, ["--eval-interval", "4", "--save-interval", "1", .. more]);

    static string[] Leftovers(string outDir, int? pid = null) =>
        Directory.GetDirectories(Path.GetDirectoryName(outDir)!, $".{Path.GetFileName(outDir)}.*-{(pid is null ? "" : pid + "-")}*");

    /// <summary>Waits until the child starts writing a checkpoint (its temporary folder appears), or exits.</summary>
    static bool WaitForCheckpointWrite(Process p, string outDir, int after)
    {
        var clock = Stopwatch.StartNew();
        int seen = 0;
        bool inWrite = false;
        while (!p.HasExited && clock.Elapsed < TimeSpan.FromMinutes(5))
        {
            bool now = Leftovers(outDir, p.Id).Any(d => d.Contains(".tmp-"));
            if (now && !inWrite && ++seen > after) return true;
            inWrite = now;
            Thread.Sleep(1);
        }
        return false;
    }

    [Fact]
    public void KillNineDuringCheckpointWritesLosesNothing()
    {
        using var tmp = new TempFolder();
        var data = Corpus(tmp);
        Assert.Equal(0, ChildDlm.Run(EveryStep(data, tmp["straight"], "--steps", $"{Steps}")));

        var run = tmp["run"];
        var rng = new Random(12);
        int kills = 0, lastStep = 0, attempts = 0;
        var killedPids = new List<int>();
        while (kills < 5 && attempts++ < 12)
        {
            bool fresh = !File.Exists(Path.Combine(run, TrainingState.File));
            using var p = ChildDlm.Start(fresh ? EveryStep(data, run, "--steps", $"{Steps}") : EveryStep(data, run, "--resume"));
            // A fresh run is killed in its second checkpoint write, so that a first one exists to fall back on.
            if (!WaitForCheckpointWrite(p, run, after: fresh ? 1 : 0)) { p.WaitForExit(); break; }
            Thread.Sleep(rng.Next(0, 40));
            ChildDlm.Signal(p, ChildDlm.SigKill);
            p.WaitForExit();
            kills++;
            killedPids.Add(p.Id);

            // The previous checkpoint (or, if the kill came after the swap, the new one) is whole and loads.
            if (!Directory.Exists(run)) Assert.NotEmpty(Leftovers(run, p.Id).Where(d => d.Contains(".old-"))); // killed between the two renames
            else
            {
                var state = TrainingState.Load(run);
                Assert.InRange(state.Step, Math.Max(1, lastStep), Steps);
                var (model, _) = Checkpoint.Load(run);
                model.Dispose();
                lastStep = state.Step;
            }
        }
        Assert.True(kills >= 5, $"only {kills} kills landed in a checkpoint write");

        Assert.Equal(0, ChildDlm.Run(EveryStep(data, run, "--resume")));
        Assert.Empty(Leftovers(run));
        var straight = TrainingState.Load(tmp["straight"]);
        var resumed = TrainingState.Load(run);
        Assert.Equal(Steps, resumed.Step);
        Assert.Equal(straight.TrainLoss, resumed.TrainLoss);
        Assert.Equal(straight.ValLoss, resumed.ValLoss);
        Assert.Equal(File.ReadAllBytes(Path.Combine(tmp["straight"], Checkpoint.WeightsFile)), File.ReadAllBytes(Path.Combine(run, Checkpoint.WeightsFile)));
    }

    [Fact]
    public void SigTermSavesACheckpointThatResumes()
    {
        using var tmp = new TempFolder();
        var data = Corpus(tmp);
        var run = tmp["run"];
        var err = new System.Collections.Concurrent.ConcurrentQueue<string>();
        using var p = ChildDlm.Start(Train(data, run, "--steps", "1000000", "--save-interval", "1000000", "--eval-interval", "1000000"), err);
        // Wait for the first progress line: steps are running.
        var clock = Stopwatch.StartNew();
        while (!p.HasExited && !err.Any(l => l.StartsWith("step ")) && clock.Elapsed < TimeSpan.FromMinutes(5)) Thread.Sleep(5);
        Assert.False(p.HasExited, string.Join(" | ", err));
        ChildDlm.Signal(p, ChildDlm.SigTerm);
        Assert.True(p.WaitForExit(TimeSpan.FromMinutes(5)));
        p.WaitForExit();
        Assert.Equal(130, p.ExitCode);
        var state = TrainingState.Load(run);
        Assert.InRange(state.Step, 1, 999_999);
        Assert.Equal(state.Step, state.TrainLoss.Count);
    }
}
