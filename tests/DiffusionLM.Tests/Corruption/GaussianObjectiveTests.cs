using DiffusionLM.Analysis.Audit;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Corruption;

public class GaussianObjectiveTests(ITestOutputHelper output)
{
    static Tensor X0() => tensor(GaussianOracle.Table).to_type(ScalarType.Float64);

    [Theory]
    [InlineData(0.1)]
    [InlineData(0.5)]
    [InlineData(1.0)]
    public void ClosedFormMatchesTheChainAndItsOwnMoments(double t)
    {
        var process = new GaussianProcess(new GaussianSchedule());
        using var g = new Generator(3);
        var r = GaussianClosedFormCheck.Run(process, X0(), t, 3000, 10, g);
        output.WriteLine($"t={t}: σ²={r.TheoryVariance:F3}, closed {r.ClosedFormMean:F3}/{r.ClosedFormVariance:F3}, chain {r.ChainMean:F3}/{r.ChainVariance:F3}, p={r.PValue:G3}");
        Assert.True(r.Passes(), $"p = {r.PValue} (z mean {r.MeanZ:F2}, z var {r.VarianceZ:F2})");
        // Both against the schedule's own σ(t)²: 96 000 draws give the variance to about 0.5%, the mean to σ/300.
        double sigma = Math.Sqrt(r.TheoryVariance);
        Assert.Equal(Math.Pow(Math.Exp(Math.Log(100) * t), 2), r.TheoryVariance, 6);
        foreach (var (mean, variance) in new[] { (r.ClosedFormMean, r.ClosedFormVariance), (r.ChainMean, r.ChainVariance) })
        {
            Assert.True(Math.Abs(mean) < 5 * sigma / Math.Sqrt(96_000), $"mean {mean} is not 0 (σ = {sigma})");
            Assert.True(Math.Abs(variance / r.TheoryVariance - 1) < 0.03, $"variance {variance} is not σ² = {r.TheoryVariance}");
        }
    }

    [Fact]
    public void AChainThatAddsStandardDeviationsFails()
    {
        using var g = new Generator(3);
        var r = GaussianClosedFormCheck.Run(new StdAddingChain(new GaussianProcess(new GaussianSchedule())), X0(), 0.5, 3000, 10, g);
        Assert.False(r.Passes(), $"p = {r.PValue}: Σ(Δσ)² < σ² should be caught");
        Assert.True(r.ChainVariance < r.ClosedFormVariance);
    }

    [Fact]
    public void AClosedFormWithVarianceForStdFails()
    {
        using var g = new Generator(3);
        var r = GaussianClosedFormCheck.Run(new SquaredSigmaClosedForm(new GaussianProcess(new GaussianSchedule(0.5, 2.0))), X0(), 0.8, 3000, 10, g);
        Assert.False(r.Passes(), $"p = {r.PValue}: σ² instead of σ as the noise scale should be caught");
    }

    [Fact]
    public void TheBoundOfTheBayesOptimalDenoiserIsTheEntropy()
    {
        double h = GaussianOracle.Entropy;
        var (exact, exactSe) = Bound(new GaussianOracle());
        var (blind, blindSe) = Bound(new GaussianOracle { Uninformed = true });
        output.WriteLine($"H(p) = {h:F4}; oracle bound {exact:F4} ± {exactSe:F4}; uninformed {blind:F4} ± {blindSe:F4}");
        // Tight up to the prior mismatch KL(q(z_1) ‖ N(0, σ_max²)) ≤ D/(2σ_max²) = 0.0004, and never significantly below H.
        Assert.True(exact > h - 4 * exactSe, $"bound {exact} ± {exactSe} is below the entropy {h}: not a bound");
        Assert.True(Math.Abs(exact - h) < 4 * exactSe + 0.005, $"bound {exact} ± {exactSe} is not the entropy {h}");
        Assert.True(exactSe < 0.02, $"the estimate is too noisy to test anything (SE {exactSe})");
        // A denoiser that ignores x_t pays log V for the decoder plus the whole diffusion term.
        Assert.True(blind > Math.Log(GaussianOracle.V) + 0.5, $"uninformed bound {blind} should exceed log V and more");
    }

    /// <summary>Mean and standard error of 24 NegativeElbo estimates on batches of 128 × 16 i.i.d. tokens.</summary>
    static (double Mean, double Se) Bound(GaussianOracle oracle)
    {
        var process = new GaussianProcess(oracle.Schedule, oracle);
        using var g = new Generator(11);
        var estimates = new double[24];
        for (int i = 0; i < estimates.Length; i++)
        {
            using var scope = NewDisposeScope();
            using var batch = new TrainingBatch(GaussianOracle.Draw(128, 16, g));
            estimates[i] = process.NegativeElbo(oracle, batch, g).item<float>();
        }
        double mean = estimates.Average();
        double se = Math.Sqrt(estimates.Sum(e => (e - mean) * (e - mean)) / (estimates.Length - 1) / estimates.Length);
        return (mean, se);
    }

    [Fact]
    public void PromptPositionsAreNeitherNoisedNorCounted()
    {
        // The uninformed bound is the same per answer token whatever the prompt holds; a prompt counted as noisy would change it.
        var oracle = new GaussianOracle { Uninformed = true };
        var process = new GaussianProcess(oracle.Schedule, oracle);
        using var g1 = new Generator(5);
        var ids = GaussianOracle.Draw(64, 16, g1);
        var prompt = (arange(16) < 6).view(1, 16).expand(64, 16).contiguous();
        using var batch = new TrainingBatch(ids, prompt);
        using var g = new Generator(2);
        var (logits, corrupted) = process.DenoiseAt(oracle, ids, 0.5, prompt, g);
        Assert.Equal(new long[] { 64, 16, GaussianOracle.V }, logits.shape);
        Assert.True(corrupted.eq(prompt.logical_not()).all().item<bool>());
        Assert.True(float.IsFinite(process.NegativeElbo(oracle, batch, g).item<float>()));
    }

    [Fact]
    public void InformationFallsFromTheEntropyToZero()
    {
        var oracle = new GaussianOracle(sigmaMin: 0.3);
        var process = new GaussianProcess(oracle.Schedule, oracle);
        double h = GaussianOracle.Entropy;
        var ts = Enumerable.Range(0, 11).Select(k => k / 10.0).ToArray();
        // Common random numbers: the same draws at every t, so the curve's shape is not MC noise.
        var info = ts.Select(t => { using var g = new Generator(9); return process.AnalyticInformation(t, GaussianOracle.P, g, 8192); }).ToArray();
        output.WriteLine($"H = {h:F4}; I(t) = {string.Join(", ", info.Select(i => i.ToString("F4")))}");
        Assert.True(Math.Abs(info[0] - h) < 0.02, $"I(0) = {info[0]}, expected ≈ H = {h} (σ_min = 0.3 against distances 4)");
        Assert.True(Math.Abs(info[^1]) < 0.01, $"I(1) = {info[^1]}, expected ≈ 0 at σ_max = 100");
        for (int k = 1; k < info.Length; k++) Assert.True(info[k] <= info[k - 1] + 0.005, $"I rises from t={ts[k - 1]} to t={ts[k]}: {info[k - 1]} → {info[k]}");
        Assert.True(info[5] < h - 0.1 && info[5] > 0.01, $"I(0.5) = {info[5]} should lie strictly between");
    }

    [Fact]
    public void RoundingErrorIsTheChannelsAndTheDenoisersError()
    {
        var oracle = new GaussianOracle(sigmaMin: 0.3);
        using var g = new Generator(6);
        var ids = GaussianOracle.Draw(64, 32, g);
        var clean = GaussianDiagnostics.RoundingErrorRate(oracle, ids, 0.0, g);
        var hopeless = GaussianDiagnostics.RoundingErrorRate(oracle, ids, 1.0, g);
        output.WriteLine($"t=0: {clean}; t=1: {hopeless}");
        // σ = 0.3 against half-distances of 2: no error either way.
        Assert.Equal(0.0, clean.NoisyRate);
        Assert.Equal(0.0, clean.DenoisedRate);
        // σ = 100: x_t is nearest to a uniformly random row (the Hadamard rows are symmetric), wrong 3/4 of the time;
        // x̂_0 is the prior mean Σ p_w e_w, nearest to the most frequent token, wrong whenever x_0 is another: 1 − 0.5.
        Assert.InRange(hopeless.NoisyRate, 0.70, 0.80);
        Assert.InRange(hopeless.DenoisedRate, 0.45, 0.55);
        Assert.Equal(64 * 32, hopeless.Positions);
    }

    [Fact]
    public void InformationNeedsTheModel()
    {
        using var g = new Generator(1);
        var e = Assert.Throws<DlmException>(() => new GaussianProcess(new GaussianSchedule()).AnalyticInformation(0.5, GaussianOracle.P, g));
        Assert.Contains("model", e.Message);
    }

    [Fact]
    public void TimeWarpFollowsTheLossSlope()
    {
        // A loss that rises only between t = 0.25 and 0.5 draws most training times there.
        using var state = zeros(2, GaussianTimeWarp.Bins);
        var times = Enumerable.Range(0, GaussianTimeWarp.Bins).Select(k => (k + 0.5) / GaussianTimeWarp.Bins).ToArray();
        GaussianTimeWarp.Update(state, times, times.Select(t => Math.Clamp((t - 0.25) * 4, 0, 1)).ToArray());
        using var g = new Generator(4);
        var t = GaussianTimeWarp.SampleTimes(state, 1000, g).data<double>().ToArray();
        double inside = t.Count(v => v >= 0.25 && v < 0.5) / 1000.0;
        // Bin centres (k + ½)/32: the rise is 1/16 in bin 8, 1/8 in bins 9..15, 1/16 in bin 16 (t ≥ 0.5), so
        // [0.25, 0.5) holds 15/16 of the slope share plus 8/32 of the uniform share; stratified draws hit it closely.
        double u = GaussianTimeWarp.UniformShare, expected = (1 - u) * 15 / 16 + u * 8 / 32;
        output.WriteLine($"share of t in [0.25, 0.5): {inside} (expected {expected})");
        Assert.InRange(inside, expected - 0.01, expected + 0.01);
        Assert.True(inside > 0.25 + 0.2, "the warp does not concentrate the draws where the loss rises");
        Assert.All(t, v => Assert.InRange(v, 0.0, 1.0));
        // No slope yet: uniform.
        Assert.All(GaussianTimeWarp.Density(zeros(2, GaussianTimeWarp.Bins)), p => Assert.Equal(1.0 / GaussianTimeWarp.Bins, p, 12));
    }

    [Fact]
    public void ConfigRoundTripsAndRefusesAGaussianModelWithoutTime()
    {
        var cfg = new GaussianOracle().Config with { DModel = 16 };
        using var tmp = new TempFolder();
        File.WriteAllText(tmp["config.json"], cfg.ToJson());
        Assert.Equal(cfg, ModelConfig.Load(tmp["config.json"]));
        var e = Assert.Throws<DlmException>(() => (cfg with { TimeConditioning = false }).Validate());
        Assert.Contains("time_conditioning", e.Message);
        Assert.Throws<DlmException>(() => (cfg with { SigmaMax = 0.5 }).Validate());
        Assert.DoesNotContain("sigma", (cfg with { Process = DiffusionProcess.Masked, EmbeddingDim = null, SigmaMin = null, SigmaMax = null }).ToJson());
    }

    /// <summary>Deliberately wrong: the chain adds noise of std σ_t − σ_s per step (standard deviations add, not variances).</summary>
    sealed class StdAddingChain(GaussianProcess inner) : IContinuousForwardProcess
    {
        public string Name => "gaussian-std-adding";
        public Tensor SampleMarginal(Tensor x0, double t, Generator g) => inner.SampleMarginal(x0, t, g);
        public Tensor SimulateChain(Tensor x0, double[] times, Generator g)
        {
            var x = x0.to_type(ScalarType.Float64);
            double prev = 0;
            foreach (var t in times)
            {
                double s = inner.Schedule.Sigma(t);
                x = x + (s - prev) * randn(x.shape, dtype: ScalarType.Float64, generator: g);
                prev = s;
            }
            return x;
        }
    }

    /// <summary>Deliberately wrong: the closed form scales the noise by σ² instead of σ.</summary>
    sealed class SquaredSigmaClosedForm(GaussianProcess inner) : IContinuousForwardProcess
    {
        public string Name => "gaussian-sigma-squared";
        public Tensor SampleMarginal(Tensor x0, double t, Generator g)
        {
            double s = inner.Schedule.Sigma(t);
            return x0.to_type(ScalarType.Float64) + s * s * randn(x0.shape, dtype: ScalarType.Float64, generator: g);
        }
        public Tensor SimulateChain(Tensor x0, double[] times, Generator g) => inner.SimulateChain(x0, times, g);
    }
}
