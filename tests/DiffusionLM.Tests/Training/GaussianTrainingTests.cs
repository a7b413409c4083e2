using System.Text.Json;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Text;
using DiffusionLM.Tests.Cli;
using DiffusionLM.Tests.Corruption;
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

        // dlm eval's number, through the library: the bound of the trained model on text is the VDM sum of its draws.
        var loaded = ModelLoader.Load(tmp["m"]);
        using var _l = loaded;
        var ids = loaded.Tokenizer.Encode("the cat sat on the mat. a dog ran in the park.").Select(i => (long)i).ToArray();
        var cfg = loaded.Model.Config;
        AssertBoundIsTheVdmSumOfItsDraws(DiffusionProcesses.Objective(cfg, loaded.Model), (IContinuousDenoiser)loaded.Model, ids, cfg.SigmaMin ?? 1.0, cfg.SigmaMax ?? 100.0);
    }

    /// <summary>
    /// dlm eval's gaussian bound of one batch against the VDM sum computed here in float64 for the same draws (the
    /// generator replayed: u, then ε for z_t, then ε for z_0): ½·(2 ln(σ_max/σ_min)/σ(t)²)·‖e − x̂‖² with
    /// σ(t) = σ_min·(σ_max/σ_min)^t, t_i = (u + i/B) mod 1, x̂ = softmax(logits)·E; plus −log softmax(logits at σ_min)[x_0];
    /// plus the prior ‖e‖²/(2σ_max²) = D/(2σ_max²), each averaged per token and over rows. Relative 1e-4.
    /// </summary>
    void AssertBoundIsTheVdmSumOfItsDraws(IDiffusionObjective objective, IContinuousDenoiser model, long[] row, double sigmaMin, double sigmaMax)
    {
        const int b = 3;
        using var scope = NewDisposeScope();
        using var _ng = no_grad();
        int l = row.Length;
        var ids = tensor(Enumerable.Repeat(row, b).SelectMany(r => r).ToArray(), new long[] { b, l });
        double bound;
        using (var g = new Generator(17))
        using (var batch = new TrainingBatch(ids.alias())) bound = objective.NegativeElbo(model, batch, g).item<float>();

        var table = model.DiffusionEmbeddings().to_type(ScalarType.Float64);
        int d = (int)table.shape[1];
        var e = table.index_select(0, ids.flatten()).view(b, l, d);
        using var replay = new Generator(17);
        double u = rand(1, dtype: ScalarType.Float64, generator: replay).item<double>();
        var epsT = randn(new long[] { b, l, d }, dtype: ScalarType.Float32, generator: replay).to_type(ScalarType.Float64);
        var eps0 = randn(new long[] { b, l, d }, dtype: ScalarType.Float32, generator: replay).to_type(ScalarType.Float64);
        var t = Enumerable.Range(0, b).Select(i => (u + (double)i / b) % 1.0).ToArray();
        var sigma = t.Select(ti => sigmaMin * Math.Pow(sigmaMax / sigmaMin, ti)).ToArray();
        var zt = e + tensor(sigma, dtype: ScalarType.Float64).view(b, 1, 1) * epsT;
        // The model's input scale c_in from the schedule the reference assumes, not from the objective under test.
        var gaussian = new GaussianProcess(new GaussianSchedule(sigmaMin, sigmaMax), model);
        var logitsT = gaussian.Logits(model, zt.to_type(ScalarType.Float32), tensor(t.Select(v => (float)v).ToArray())).to_type(ScalarType.Float64);
        var xHat = logitsT.softmax(-1).matmul(table);
        var sq = (e - xHat).square().sum(-1).mean(new long[] { 1 }).data<double>().ToArray();
        double diffusion = Enumerable.Range(0, b).Sum(i => 0.5 * (2 * Math.Log(sigmaMax / sigmaMin) / (sigma[i] * sigma[i])) * sq[i]) / b;
        var logits0 = gaussian.Logits(model, (e + sigmaMin * eps0).to_type(ScalarType.Float32), zeros(b)).to_type(ScalarType.Float64);
        double reconstruction = -logits0.log_softmax(-1).gather(-1, ids.unsqueeze(-1)).mean().item<double>();
        double prior = d / (2 * sigmaMax * sigmaMax);
        double expected = diffusion + reconstruction + prior;
        output.WriteLine($"bound {bound:F5}; by hand {expected:F5} = diffusion {diffusion:F5} + reconstruction {reconstruction:F5} + prior {prior:F5}");
        Assert.True(Math.Abs(bound - expected) < 1e-4 * Math.Max(1, Math.Abs(expected)), $"bound {bound:F5} is not the VDM sum of its draws {expected:F5}");
    }

    /// <summary>A fresh 1-layer gaussian model of 12 ids and 8-dimensional embeddings, for the bound's mutants.</summary>
    static LladaModel FreshGaussian() => new(new ModelConfig
    {
        DModel = 16, NHeads = 2, NKvHeads = 2, NLayers = 1, MlpHiddenSize = 24, VocabSize = 12, MaxSequenceLength = 32,
        MaskTokenId = 11, EosTokenId = 10, PadTokenId = 10, Process = DiffusionProcess.Gaussian, TimeConditioning = true, EmbeddingDim = 8,
    }, new Generator(4));

    static readonly long[] Row = [1, 4, 4, 9, 2, 7, 3, 0];

    [Fact]
    public void TheBoundIsTheVdmSumOfItsDrawsOnAFreshModel()
    {
        using var m = FreshGaussian();
        AssertBoundIsTheVdmSumOfItsDraws(GaussianProcess.ForModel(m.Config, m), m, Row, 1.0, 100.0);
    }

    [Fact]
    public void MutantBoundWithoutTheHalfIsRejected()
    {
        using var m = FreshGaussian();
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() =>
            AssertBoundIsTheVdmSumOfItsDraws(new ObjectiveMutants.GaussianWithoutTheHalf(GaussianProcess.ForModel(m.Config, m)), m, Row, 1.0, 100.0));
    }

    [Fact]
    public void MutantBoundWithAWrongSigmaMaxIsRejected()
    {
        // σ_max = 200 where the model's schedule says 100: every σ(t) > σ_min and the SNR slope's ln(σ_max/σ_min) are off.
        using var m = FreshGaussian();
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() =>
            AssertBoundIsTheVdmSumOfItsDraws(new GaussianProcess(new GaussianSchedule(1.0, 200.0), m), m, Row, 1.0, 100.0));
    }
}
