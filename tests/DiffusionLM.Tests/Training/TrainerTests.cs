using DiffusionLM.Models;
using DiffusionLM.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Training;

/// <summary>Training runs compare losses bit for bit, so they must not share the CPU thread pool with other tests.</summary>
[Collection("TorchGlobalState")]
public class TrainerTests
{
    internal static string Corpus(TempFolder tmp)
    {
        // A small deterministic text: enough for windows of 48 tokens in both splits.
        var rng = new Random(1);
        string[] lines = ["the cat sat on the mat.", "a dog ran in the park.", "my bird sang a song.", "one fish swam far away."];
        var path = tmp["corpus.txt"];
        File.WriteAllText(path, string.Join(" ", Enumerable.Range(0, 3000).Select(_ => lines[rng.Next(lines.Length)])));
        return path;
    }

    static TrainingOptions Options(string data, int steps) => new()
    {
        Data = [data], Preset = "tiny", Steps = steps, Seed = 7, BatchSize = 4, SeqLen = 48, VocabSize = 300,
        EvalInterval = 4, SaveInterval = 1000, EvalWindows = 4,
    };

    [Fact]
    public void ResumeReproducesTheUninterruptedLossCurve()
    {
        using var tmp = new TempFolder();
        var data = Corpus(tmp);
        var straight = new Trainer().Run(Options(data, 12), tmp["straight"], resume: false);

        // Interrupt after 5 steps (as Ctrl-C does: the trainer saves and returns), then resume.
        using var cts = new CancellationTokenSource();
        var first = new Trainer { OnProgress = p => { if (p.Step == 5) cts.Cancel(); } }.Run(Options(data, 12), tmp["resumed"], false, cts.Token);
        Assert.Equal(5, first.Step);
        var resumed = new Trainer().Run(Options(data, 12), tmp["resumed"], resume: true);

        Assert.Equal(12, straight.TrainLoss.Count);
        Assert.Equal(straight.TrainLoss, resumed.TrainLoss);
        Assert.Equal(straight.ValLoss, resumed.ValLoss);
        // And the final weights are the same bits.
        var a = SafeTensors.Load(Path.Combine(tmp["straight"], Checkpoint.WeightsFile));
        var b = SafeTensors.Load(Path.Combine(tmp["resumed"], Checkpoint.WeightsFile));
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var k in a.Keys) Assert.True(a[k].bytes.SequenceEqual(b[k].bytes), k);
    }

    [Fact]
    public void SameSeedSameRunDifferentSeedDifferentRun()
    {
        using var tmp = new TempFolder();
        var data = Corpus(tmp);
        var a = new Trainer().Run(Options(data, 3), tmp["a"], false);
        var b = new Trainer().Run(Options(data, 3), tmp["b"], false);
        var c = new Trainer().Run(Options(data, 3) with { Seed = 8 }, tmp["c"], false);
        Assert.Equal(a.TrainLoss, b.TrainLoss);
        Assert.NotEqual(a.TrainLoss, c.TrainLoss);
    }

    [Fact]
    public void CheckpointRoundTripsBitExactly()
    {
        using var tmp = new TempFolder();
        var data = Corpus(tmp);
        new Trainer().Run(Options(data, 2), tmp["m"], false);
        var (model, tokenizer) = Checkpoint.Load(tmp["m"]);
        using (model)
        {
            Checkpoint.Save(tmp["copy"], model, tokenizer);
            var (again, tok2) = Checkpoint.Load(tmp["copy"]);
            using (again)
            {
                var w1 = Checkpoint.WeightsOf(model);
                var w2 = Checkpoint.WeightsOf(again);
                foreach (var (name, t) in w1) Assert.True(t.bytes.SequenceEqual(w2[name].bytes), name);
                Assert.Equal(tokenizer.Encode("the cat sat"), tok2.Encode("the cat sat"));
                Assert.Equal(model.Config, again.Config);
            }
        }
        Assert.Equal(File.ReadAllBytes(Path.Combine(tmp["m"], Checkpoint.WeightsFile)), File.ReadAllBytes(Path.Combine(tmp["copy"], Checkpoint.WeightsFile)));
    }

    [Fact]
    public void ResumeRefusesChangedData()
    {
        using var tmp = new TempFolder();
        var data = Corpus(tmp);
        new Trainer().Run(Options(data, 2), tmp["m"], false);
        File.AppendAllText(data, " more text");
        var e = Assert.Throws<DlmException>(() => new Trainer().Run(Options(data, 4), tmp["m"], resume: true));
        Assert.Contains("changed", e.Message);
    }
}
