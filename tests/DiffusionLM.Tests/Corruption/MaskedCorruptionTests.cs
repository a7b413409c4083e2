using DiffusionLM.Analysis.Audit;
using DiffusionLM.Corruption;
using DiffusionLM.Corruption.Masking;
using DiffusionLM.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Corruption;

public class MaskedCorruptionTests
{
    static readonly long[] X0 = [2, 5, 5, 11, 7, 3, 2, 9];
    const int MaskId = 0;
    // Token counts over a vocabulary of 12 (id 0 is the mask): 2 is frequent, 11 rare.
    static readonly long[] Counts = [0, 5, 400, 60, 7, 90, 1, 30, 3, 12, 2, 1];

    static RateMaskingProcess Make(string name) => (RateMaskingProcess)MaskedCorruptions.Create(MaskedCorruption.Parse(name), new LinearMaskSchedule(), MaskId, 12, Counts);

    [Theory]
    [InlineData("positional", 0.3)]
    [InlineData("positional", 0.8)]
    [InlineData("spindle", 0.3)]
    [InlineData("spindle", 0.7)]
    [InlineData("information", 0.3)]
    [InlineData("information", 0.9)]
    public void ClosedFormMatchesTheChain(string name, double t)
    {
        using var g = new Generator(8);
        var r = ClosedFormCheck.Run(Make(name), X0, t, 20_000, 12, g);
        Assert.True(r.Passes(), $"{name}: p = {r.PValue} (χ² = {r.Statistic}, dof {r.DegreesOfFreedom})");
        Assert.Equal(X0.Length, r.DegreesOfFreedom);
    }

    [Theory]
    [InlineData("positional")]
    [InlineData("spindle")]
    [InlineData("information")]
    public void TheCheckRejectsAChainThatForgetsItsOwnSchedule(string name)
    {
        // Mutant: the chain steps with the uniform 1 − α_t/α_s of the linear schedule instead of the position's or token's own.
        using var g = new Generator(8);
        var r = ClosedFormCheck.Run(new LinearChain(Make(name)), X0, 0.5, 20_000, 12, g);
        Assert.False(r.Passes(), $"{name}: p = {r.PValue}");
    }

    [Fact]
    public void TheCheckRejectsAPositionalClosedFormWithTheExponentInverted()
    {
        using var g = new Generator(8);
        var r = ClosedFormCheck.Run(new InvertedPositional(new PositionalMasking(MaskId)), X0, 0.5, 20_000, 12, g);
        Assert.False(r.Passes(), $"p = {r.PValue}");
    }

    [Fact]
    public void CartWeightsMatchAHandComputation()
    {
        // Row "v m m v m" (v visible): with p = 0.3, Geo(d) = ½·0.3·0.7^(d−1).
        //   i=1: j=0 (d 1) + j=3 (d 2) = ½(0.3 + 0.21) = 0.255
        //   i=2: j=0 (d 2) + j=3 (d 1) = ½(0.21 + 0.3) = 0.255
        //   i=4: j=0 (d 4) + j=3 (d 1) = ½(0.3·0.343 + 0.3) = 0.20145
        using var masked = tensor(new[] { false, true, true, false, true }).view(1, 5);
        var w = CartWeights.Compute(masked).data<double>().ToArray();
        Assert.Equal([0.0, 0.255, 0.255, 0.0, 0.20145], w.Select(x => Math.Round(x, 10)));
    }

    [Fact]
    public void SpindleProbabilitiesMatchAHandComputation()
    {
        // Counts 0 (mask), 3, 15, 0 → log(1+c) = 0, ln 4, ln 16, 0; f = /ln 16 → 0, 0.5, 1, 0.
        var f = TokenScores.SpindleFrequency([0, 3, 15, 0], maskId: 0);
        Assert.Equal([0.0, 0.5, 1.0, 0.0], f.Select(x => Math.Round(x, 12)));
        // Row [1, 2, 3]: f = 0.5, 1, 0, mean 0.5 → f̃ = 0, 0.5, −0.5. At t = 0.5: α = 0.5 + 0.3·sin(π/2)·f̃ = 0.5, 0.65, 0.35.
        var spindle = new SpindleMasking(0, f);
        using var x0 = tensor(new long[] { 1, 2, 3 }).view(1, 3);
        using var t = tensor(new[] { 0.5 });
        var mask = spindle.MaskProbability(x0, t, null).data<double>().ToArray();
        Assert.Equal([0.5, 0.35, 0.65], mask.Select(x => Math.Round(x, 12)));
        // Rate −α'/(1 − α): α' = −1 + 0.3π·cos(π/2)·f̃ = −1 at t = 0.5, so 1/(1 − α).
        var rate = spindle.RateWeight(x0, t, null).data<double>().ToArray();
        Assert.Equal(new[] { 1 / 0.5, 1 / 0.35, 1 / 0.65 }.Select(x => Math.Round(x, 9)), rate.Select(x => Math.Round(x, 9)));
    }

    [Fact]
    public void InformationRatesFollowSelfInformation()
    {
        var lambda = TokenScores.InformationRates(Counts, MaskId);
        Assert.Equal(1.0, lambda[MaskId]);
        // The frequent token 2 carries the least information: the largest exponent, so the smallest t^λ (masked last).
        Assert.Equal(2, Enumerable.Range(1, 11).MaxBy(v => lambda[v]));
        Assert.True(lambda[11] < lambda[2] && lambda[6] < lambda[5]);
        // log λ(v) = −β·clip(z(v), ±3), z the self-information −log p̂(v) standardised under p̂ (add-one smoothing, mask excluded).
        double total = Counts.Skip(1).Sum(c => c + 1.0);
        var p = Counts.Select((c, v) => v == MaskId ? 0 : (c + 1.0) / total).ToArray();
        double mean = 0, var = 0;
        for (int v = 1; v < 12; v++) mean += p[v] * -Math.Log(p[v]);
        for (int v = 1; v < 12; v++) var += p[v] * Math.Pow(-Math.Log(p[v]) - mean, 2);
        for (int v = 1; v < 12; v++)
        {
            double z = Math.Clamp((-Math.Log(p[v]) - mean) / Math.Sqrt(var), -3, 3);
            Assert.Equal(-InformationMasking.DefaultStrength * z, Math.Log(lambda[v]), 12);
        }
    }

    [Fact]
    public void InformationRateMatchingTermVanishesForAConstantExponent()
    {
        // With λ ≡ 1 the state-dependent ELBO is the uniform one: (1/t)·CE at masked positions.
        var process = new InformationMasking(MaskId, Enumerable.Repeat(1.0, 12).ToArray());
        using var g = new Generator(4);
        using var logits = randn(new long[] { 2, 8, 12 }, generator: g);
        using var x0 = tensor(X0).view(1, -1).expand(2, 8).contiguous();
        using var t = tensor(new[] { 0.25, 0.8 });
        var terms = process.MaskedTerms(logits, x0, t, null);
        var ce = nn.functional.cross_entropy(logits.flatten(0, 1), x0.flatten(), reduction: nn.Reduction.None).view(2, 8);
        var expected = ce / t.to_type(ScalarType.Float32).view(-1, 1);
        Assert.True(terms.allclose(expected, rtol: 1e-5, atol: 1e-5));
    }

    [Theory]
    [InlineData("positional")]
    [InlineData("spindle")]
    [InlineData("information")]
    public void TheAuditsD1CurveReadsEachNewProcess(string name)
    {
        // D1 analytically: I(x_t; x_0) falls from H(x_0) at t → 0 to 0 at t = 1, never rising.
        var unigram = Counts.Select(c => (double)c / Counts.Sum()).ToArray();
        using var g = new Generator(1);
        var times = Enumerable.Range(1, 20).Select(k => k / 20.0).ToArray();
        var info = InformationCurve.Analytic(Make(name), times, unigram, g);
        double h = MaskedProcess.Entropy(unigram);
        Assert.All(info.Zip(info.Skip(1)), p => Assert.True(p.Second <= p.First + 1e-12, $"{name}: {p.First} then {p.Second}"));
        Assert.InRange(info[0], 0.5 * h, h);
        Assert.Equal(0.0, info[^1], 9);
    }

    [Fact]
    public void InformationMaskingsAnalyticInformationIsTheErasureFormula()
    {
        // A token v ∼ p erased with probability m(v) = t^λ(v): I = H(p) − Σ_v p(v)m(v) · H(p·m / Σ p·m).
        var p = new[] { 0.0, 0.5, 0.3, 0.2 };
        var process = new InformationMasking(0, [1.0, 2.0, 1.0, 0.5]);
        double t = 0.4;
        var m = new[] { 0, t * t, t, Math.Sqrt(t) };
        double pm = p.Zip(m, (a, b) => a * b).Sum();
        var post = p.Zip(m, (a, b) => a * b / pm).ToArray();
        using var g = new Generator(1);
        Assert.Equal(MaskedProcess.Entropy(p) - pm * MaskedProcess.Entropy(post), process.AnalyticInformation(t, p, g), 12);
    }

    [Fact]
    public void BellTimesFollowBeta22()
    {
        var process = new MaskedProcess(new LinearMaskSchedule(), MaskId) { TimeSampling = MaskedTimeSampling.Bell };
        using var g = new Generator(5);
        var t = process.SampleTimes(4096, g).data<double>().Select(x => (x - process.Eps) / (1 - process.Eps)).OrderBy(x => x).ToArray();
        // Kolmogorov–Smirnov distance to the Beta(2, 2) CDF; the antithetic grid makes it far smaller than 1/√n.
        double d = t.Select((x, i) => Math.Max(Math.Abs(BellTime.Cdf(x) - (double)i / t.Length), Math.Abs(BellTime.Cdf(x) - (i + 1.0) / t.Length))).Max();
        Assert.True(d < 2.0 / t.Length + 1e-9, $"KS distance {d}");
        Assert.Equal(0.5, BellTime.Quantile(0.5), 12);
        Assert.Equal(MaskedCorruption.BellT.Spelling, process.Corruption);
    }

    [Fact]
    public void TheFactoryNamesEachCorruptionAndRejectsBadInput()
    {
        foreach (var corruption in MaskedCorruption.All)
        {
            var o = MaskedCorruptions.Create(corruption, new LinearMaskSchedule(), MaskId, 12, Counts);
            string got = o switch { MaskedProcess m => m.Corruption, RateMaskingProcess r => r.Corruption, _ => "?" };
            Assert.Equal(corruption.Spelling, got);
            Assert.Equal(DiffusionProcess.Masked.Spelling, o.Name);
        }
        Assert.Contains("unknown corruption", Assert.Throws<DlmException>(() => MaskedCorruption.Parse("nope")).Message);
        Assert.Contains("unigram.json", Assert.Throws<DlmException>(() => MaskedCorruptions.Create(MaskedCorruption.Information, new LinearMaskSchedule(), 0, 12, null)).Message);
        Assert.Contains("--schedule linear", Assert.Throws<DlmException>(() => MaskedCorruptions.Create(MaskedCorruption.Positional, new LogLinearMaskSchedule(), 0, 12, null)).Message);
    }

    /// <summary>Mutant: the chain of the plain linear schedule under the process's own closed form.</summary>
    sealed class LinearChain(RateMaskingProcess inner) : IForwardProcess
    {
        public string Name => inner.Name + "-linear-chain";
        public Tensor SampleMarginal(Tensor x0, double t, Generator g) => inner.SampleMarginal(x0, t, g);
        public Tensor SimulateChain(Tensor x0, double[] times, Generator g) => new MaskedProcess(new LinearMaskSchedule(), MaskId).SimulateChain(x0, times, g);
    }

    /// <summary>Mutant: the closed form masks with t^{1/λ_i} (far positions late), the chain with t^{λ_i}.</summary>
    sealed class InvertedPositional(PositionalMasking inner) : IForwardProcess
    {
        public string Name => "positional-inverted";
        public Tensor SampleMarginal(Tensor x0, double t, Generator g) => new PositionalMasking(MaskId, gamma: -inner.Gamma).SampleMarginal(x0, t, g);
        public Tensor SimulateChain(Tensor x0, double[] times, Generator g) => inner.SimulateChain(x0, times, g);
    }
}
