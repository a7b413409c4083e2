using System.Text.Json;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Text;
using DiffusionLM.Tests.Cli;
using DiffusionLM.Training;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Training;

/// <summary>The gaussian family through the trainer, the checkpoint and the command line.</summary>
[Collection("TorchGlobalState")]
public class GaussianTrainingTests(ITestOutputHelper output)
{
    static string Corpus(TempFolder tmp)
    {
        var rng = new Random(1);
        string[] lines = ["the cat sat on the mat.", "a dog ran in the park.", "my bird sang a song.", "one fish swam far away."];
        var path = tmp["corpus.txt"];
        File.WriteAllText(path, string.Join(" ", Enumerable.Range(0, 2000).Select(_ => lines[rng.Next(lines.Length)])));
        return path;
    }

    static TrainingOptions Options(string data, int steps) => new()
    {
        Data = [data], Preset = "tiny", Process = DiffusionProcess.Gaussian, Steps = steps, Seed = 3, BatchSize = 4, SeqLen = 32, VocabSize = 300,
        EvalInterval = 10, SaveInterval = 1000, EvalWindows = 4,
    };

    [Fact]
    public void LossIsFiniteFallsAndTheBoundFollows()
    {
        using var tmp = new TempFolder();
        var state = new Trainer().Run(Options(Corpus(tmp), 30), tmp["m"], resume: false);
        double first = state.TrainLoss.Take(5).Average(), last = state.TrainLoss.TakeLast(5).Average();
        output.WriteLine($"train CE {first:F3} → {last:F3}; validation bound {string.Join(", ", state.ValLoss.Select(v => $"{v.Step}: {v.Loss:F2}"))}");
        Assert.All(state.TrainLoss, l => Assert.True(double.IsFinite(l)));
        Assert.True(last < first - 0.5, $"cross-entropy did not fall: {first:F3} → {last:F3}");
        Assert.True(state.ValLoss[^1].Loss < state.ValLoss[0].Loss, "the validation bound did not fall");

        // The checkpoint is a gaussian model whose warping state has seen every training row (30 steps × 4 rows).
        var (model, _) = Checkpoint.Load(tmp["m"]);
        using var _m = model;
        Assert.True(model.Config.IsGaussian && model.Config.TimeConditioning);
        Assert.Equal(30 * 4, model.TimeWarpState!.select(0, 1).sum().item<float>());
        using var emb = model.DiffusionEmbeddings();
        Assert.True(emb.norm(1).sub(Math.Sqrt(model.Config.DiffusionDim)).abs().max().item<float>() < 1e-3, "embeddings are not normalised to √D");
        // The audit's D1 curve over the trained embeddings: information falls with t.
        var unigram = UnigramCounts.TryLoad(Path.Combine(tmp["m"], Checkpoint.UnigramFile))!;
        var p = unigram.Select(c => c / (double)unigram.Sum()).ToArray();
        var objective = DiffusionProcesses.Objective(model.Config, model);
        double Info(double t) { using var g = new Generator(1); return objective.AnalyticInformation(t, p, g); }
        double i0 = Info(0), i1 = Info(1);
        output.WriteLine($"I(x_t; x_0): t=0 {i0:F3}, t=1 {i1:F4} nats");
        Assert.True(i0 > 1.0 && i1 < 0.05 && i1 < i0, $"I(0) = {i0}, I(1) = {i1}");
    }

    [Fact]
    public void ResumeReproducesTheUninterruptedRunWarpingIncluded()
    {
        using var tmp = new TempFolder();
        var data = Corpus(tmp);
        var straight = new Trainer().Run(Options(data, 8), tmp["straight"], resume: false);
        using var cts = new CancellationTokenSource();
        new Trainer { OnProgress = p => { if (p.Step == 4) cts.Cancel(); } }.Run(Options(data, 8), tmp["resumed"], false, cts.Token);
        var resumed = new Trainer().Run(Options(data, 8), tmp["resumed"], resume: true);
        Assert.Equal(straight.TrainLoss, resumed.TrainLoss);
        var a = SafeTensors.Load(Path.Combine(tmp["straight"], Checkpoint.WeightsFile));
        var b = SafeTensors.Load(Path.Combine(tmp["resumed"], Checkpoint.WeightsFile));
        Assert.Contains("model.transformer.diff_warp", a.Keys);
        foreach (var k in a.Keys) Assert.True(a[k].bytes.SequenceEqual(b[k].bytes), k);
    }

    [Fact]
    public void TrainGenerateAndBoundEndToEnd()
    {
        using var tmp = new TempFolder();
        var data = Corpus(tmp);
        var (code, _, err) = CliRunner.Run("train", "--data", data, "--out", tmp["m"], "--process", "gaussian", "--steps", "3",
            "--seq-len", "32", "--batch-size", "4", "--vocab-size", "300");
        Assert.True(code == 0, err);

        var (gc, gout, gerr) = CliRunner.Run("generate", "--model", tmp["m"], "--prompt", "the cat", "--gen-length", "8", "--steps", "5", "--json");
        Assert.True(gc == 0, gerr);
        using var doc = JsonDocument.Parse(gout);
        Assert.Equal(5, doc.RootElement.GetProperty("nfe").GetInt32());
        Assert.Equal(8, doc.RootElement.GetProperty("ids").GetArrayLength());
        foreach (var extra in new[] { new[] { "--clamp" }, ["--sampler", "gaussian_ddim", "--temperature", "0.5"] })
        {
            var (c, _, e) = CliRunner.Run(["generate", "--model", tmp["m"], "--prompt", "the cat", "--gen-length", "8", "--steps", "3", .. extra]);
            Assert.True(c == 0, e);
        }
        var (bad, _, badErr) = CliRunner.Run("generate", "--model", tmp["m"], "--prompt", "the cat", "--gen-length", "8", "--sampler", "llada");
        Assert.Equal(2, bad);
        Assert.Contains("gaussian_ddpm", badErr);

        // dlm eval's number, through the library: the bound of the trained model on text, finite and positive.
        var loaded = ModelLoader.Load(tmp["m"]);
        using var _l = loaded;
        var ids = loaded.Tokenizer.Encode("the cat sat on the mat. a dog ran in the park.").Select(i => (long)i).ToArray();
        using var batch = new TrainingBatch(tensor(ids).unsqueeze(0));
        using var g = new Generator(1);
        using var _ng = no_grad();
        double bound = DiffusionProcesses.Objective(loaded.Model.Config, loaded.Model).NegativeElbo(loaded.Model, batch, g).item<float>();
        Assert.True(double.IsFinite(bound) && bound > 0, $"bound {bound}");
    }
}
