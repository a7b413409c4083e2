using DiffusionLM.Corruption;
using DiffusionLM.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Corruption;

public class MaskedProcessTests
{
    [Theory]
    [InlineData("linear", 0.1)]
    [InlineData("linear", 0.5)]
    [InlineData("linear", 0.93)]
    [InlineData("loglinear", 0.3)]
    [InlineData("loglinear", 1.0)]
    public void MaskingRateMatchesTheSchedule(string schedule, double t)
    {
        var process = new MaskedProcess(MaskSchedule.FromName(schedule), maskId: 7);
        using var g = new Generator(11);
        const int n = 200_000;
        using var x0 = zeros(1, n, dtype: ScalarType.Int64);
        using var times = tensor(new[] { t });
        var sample = process.Corrupt(x0, times, null, g);
        double rate = sample.Masked.to_type(ScalarType.Float64).mean().item<double>();
        double p = process.Schedule.MaskProbability(t);
        double sigma = Math.Sqrt(p * (1 - p) / n);
        Assert.InRange(rate, p - 5 * sigma - 1e-12, p + 5 * sigma + 1e-12);
        // Masked positions hold the mask id, the others the clean token.
        Assert.True(sample.Noisy.eq(7).eq(sample.Masked).all().item<bool>());
    }

    [Theory]
    [InlineData("linear")]
    [InlineData("loglinear")]
    public void ElboWeightIsMinusAlphaPrimeOverOneMinusAlpha(string schedule)
    {
        var s = MaskSchedule.FromName(schedule);
        foreach (var t in new[] { 0.01, 0.2, 0.5, 0.77, 0.999 })
        {
            // An independent derivative: central differences of α itself.
            const double h = 1e-6;
            double alphaPrime = (s.Alpha(t + h) - s.Alpha(t - h)) / (2 * h);
            Assert.Equal(-alphaPrime / (1 - s.Alpha(t)), s.ElboWeight(t), 6);
            // Both schedules are linear in t, so the weight is 1/t (LLaDA's 1/p_mask up to MDLM's ε).
            Assert.Equal(1.0 / t, s.ElboWeight(t), 3);
        }
    }

    [Fact]
    public void TimesAreStratifiedOverTheInterval()
    {
        var process = new MaskedProcess(new LinearMaskSchedule(), 0);
        using var g = new Generator(3);
        const int b = 64;
        var t = process.SampleTimes(b, g).data<double>().ToArray();
        Assert.All(t, x => Assert.InRange(x, process.Eps, 1.0));
        // One draw per stratum of width (1 − ε)/B.
        var strata = t.Select(x => (int)Math.Floor((x - process.Eps) / (1 - process.Eps) * b)).Select(k => Math.Min(k, b - 1)).OrderBy(k => k);
        Assert.Equal(Enumerable.Range(0, b), strata);
    }

    [Fact]
    public void PromptPositionsAreNeverMasked()
    {
        var process = new MaskedProcess(new LinearMaskSchedule(), 5);
        using var g = new Generator(4);
        using var x0 = ones(8, 32, dtype: ScalarType.Int64);
        using var prompt = arange(32).lt(10).unsqueeze(0).expand(8, 32);
        using var t = full(new long[] { 8 }, 1.0, dtype: ScalarType.Float64);
        var sample = process.Corrupt(x0, t, prompt, g);
        Assert.False(sample.Masked.narrow(1, 0, 10).any().item<bool>());
        Assert.True(sample.Masked.narrow(1, 10, 22).all().item<bool>());
    }

    /// <summary>A denoiser whose logits do not depend on the input, so the loss is computable by hand.</summary>
    sealed class ConstantDenoiser(ModelConfig config, float[] logits) : IDenoiser
    {
        public ModelConfig Config => config;
        public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
            => tensor(logits).view(1, 1, -1).expand(ids.shape[0], ids.shape[1], logits.Length).clone();
    }

    [Fact]
    public void LossIsWeightedCrossEntropyOnMaskedTokensPerToken()
    {
        var config = new ModelConfig { DModel = 8, NHeads = 2, NKvHeads = 2, NLayers = 1, MlpHiddenSize = 8, VocabSize = 4, MaxSequenceLength = 16, MaskTokenId = 3, EosTokenId = 2 };
        var logits = new float[] { 1.0f, 0.5f, -1.0f, 0.0f };
        var model = new ConstantDenoiser(config, logits);
        var process = new MaskedProcess(new LinearMaskSchedule(), 3);
        using var ids = tensor(new long[,] { { 0, 1, 2, 0, 1, 0 }, { 1, 1, 0, 2, 2, 0 } });
        using var batch = new TrainingBatch(ids);
        using var g1 = new Generator(9);
        using var loss = process.Loss(model, batch, g1);
        // Replay the same draws to know which tokens were masked at which t.
        using var g2 = new Generator(9);
        var t = process.SampleTimes(2, g2);
        var sample = process.Corrupt(ids, t, null, g2);
        double logZ = Math.Log(logits.Sum(l => Math.Exp(l)));
        double expected = 0;
        for (int r = 0; r < 2; r++)
            for (int j = 0; j < 6; j++)
                if (sample.Masked[r, j].item<bool>())
                    expected += (logZ - logits[ids[r, j].item<long>()]) / t[r].item<double>() / 6;
        expected /= 2;
        Assert.Equal(expected, loss.item<float>(), 4);
    }
}
