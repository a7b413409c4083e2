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
public class GaussianTrainingTests(ITestOutputHelper output, GaussianTrainingTests.TrainedRun run) : IClassFixture<GaussianTrainingTests.TrainedRun>
{
    /// <summary>One 30-step gaussian run shared by the test that checks it and the mutants of its information check.</summary>
    public sealed class TrainedRun : IDisposable
    {
        readonly TempFolder tmp = new();
        public TrainingState State { get; }
        public string Dir => tmp["m"];
        public TrainedRun() => State = new Trainer().Run(Options(Corpus(tmp), 30), tmp["m"], resume: false);
        public void Dispose() => tmp.Dispose();
    }

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
        var state = run.State;
        double first = state.TrainLoss.Take(5).Average(), last = state.TrainLoss.TakeLast(5).Average();
        output.WriteLine($"train CE {first:F3} → {last:F3}; validation bound {string.Join(", ", state.ValLoss.Select(v => $"{v.Step}: {v.Loss:F2}"))}");
        Assert.All(state.TrainLoss, l => Assert.True(double.IsFinite(l)));
        Assert.True(last < first - 0.5, $"cross-entropy did not fall: {first:F3} → {last:F3}");
        Assert.True(state.ValLoss[^1].Loss < state.ValLoss[0].Loss, "the validation bound did not fall");

        // The checkpoint is a gaussian model whose warping state has seen every training row (30 steps × 4 rows).
        var (model, _) = Checkpoint.Load(run.Dir);
        using var _m = model;
        Assert.True(model.Config.IsGaussian && model.Config.TimeConditioning);
        Assert.Equal(30 * 4, model.TimeWarpState!.select(0, 1).sum().item<float>());
        using var emb = model.DiffusionEmbeddings();
        Assert.True(emb.norm(1).sub(Math.Sqrt(model.Config.DiffusionDim)).abs().max().item<float>() < 1e-3, "embeddings are not normalised to √D");
        // The audit's D1 curve over the trained embeddings: from the unigram entropy at t = 0 down to nothing at t = 1.
        AssertInformationRunsFromTheEntropyToZero(DiffusionProcesses.Objective(model.Config, model), model, Unigram());
    }

    double[] Unigram()
    {
        var counts = UnigramCounts.TryLoad(Path.Combine(run.Dir, Checkpoint.UnigramFile))!;
        return counts.Select(c => c / (double)counts.Sum()).ToArray();
    }

    [Theory]
    [InlineData(true, false)]
    [InlineData(false, true)]
    public void MutantInformationIsRejectedByTheEntropyCheck(bool noiseTimesSqrtD, bool uniformP)
    {
        var (model, _) = Checkpoint.Load(run.Dir);
        using var _m = model;
        var mutant = new ObjectiveMutants.GaussianInformationMutant(GaussianProcess.ForModel(model.Config, model), model, noiseTimesSqrtD, uniformP);
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertInformationRunsFromTheEntropyToZero(mutant, model, Unigram()));
    }

    const int InfoSamples = 4096; // GaussianProcess.AnalyticInformation's default Monte-Carlo draws

    /// <summary>
    /// I(x_t; x_0) of the audit's D1 curve for a trained gaussian model (σ_min = 1, σ_max = 100, D-dimensional
    /// embeddings of norm √D) against what it must be, all computed here in float64 from p and the embedding table:
    /// at t = 0 the unigram entropy H(p) less the channel's confusion H(x_0 | x_t), which is at most
    /// Σ_{x≠w} √(p_x p_w)·exp(−‖e_x − e_w‖²/(8σ²)) (log(1 + y) ≤ √y and the Bhattacharyya coefficient of two
    /// Gaussians), within 4 Monte-Carlo standard errors sd(−log p(x))/√n of the 4096 draws; at t = 1 (σ = 100)
    /// under 0.05 nats; and non-increasing on a grid of 11 times (common random numbers, so only the curve moves).
    /// </summary>
    void AssertInformationRunsFromTheEntropyToZero(IDiffusionObjective objective, LladaModel model, double[] p)
    {
        double h = -p.Where(v => v > 0).Sum(v => v * Math.Log(v));
        double sd = Math.Sqrt(p.Where(v => v > 0).Sum(v => v * Math.Log(v) * Math.Log(v)) - h * h);
        double se = sd / Math.Sqrt(InfoSamples);
        using var _ng = no_grad();
        using var table = model.DiffusionEmbeddings().detach().to_type(ScalarType.Float64);
        var e = table.data<double>().ToArray();
        int v = (int)table.shape[0], d = (int)table.shape[1];
        const double sigmaMin = 1.0;
        double confusion = 0;
        for (int x = 0; x < v; x++)
            for (int w = 0; w < v; w++)
            {
                if (x == w || p[x] == 0 || p[w] == 0) continue;
                double sq = 0;
                for (int k = 0; k < d; k++) sq += (e[x * d + k] - e[w * d + k]) * (e[x * d + k] - e[w * d + k]);
                confusion += Math.Sqrt(p[x] * p[w]) * Math.Exp(-sq / (8 * sigmaMin * sigmaMin));
            }
        var ts = Enumerable.Range(0, 11).Select(k => k / 10.0).ToArray();
        var info = ts.Select(t => { using var g = new Generator(1); return objective.AnalyticInformation(t, p, g); }).ToArray();
        output.WriteLine($"H(p) = {h:F4} nats, MC standard error {se:F4}, confusion bound {confusion:G3}; I(t) = {string.Join(", ", info.Select(i => i.ToString("F4")))}");
        Assert.True(info[0] < h + 4 * se && info[0] > h - confusion - 4 * se,
            $"I(0) = {info[0]:F4}, expected H(p) = {h:F4} (less at most {confusion:G3}) within 4 × {se:F4}");
        Assert.True(info[^1] < 0.05, $"I(1) = {info[^1]:F4}, expected ≈ 0 at σ_max = 100");
        for (int k = 1; k < info.Length; k++) Assert.True(info[k] <= info[k - 1] + 0.005, $"I rises from t={ts[k - 1]} to t={ts[k]}: {info[k - 1]:F4} → {info[k]:F4}");
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
