using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Tests.Cli;
using DiffusionLM.Tests.Corruption;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;

namespace DiffusionLM.Tests.Sampling;

public class UniformSamplerTests(ITestOutputHelper output)
{
    // FakeDenoiser: 12 ids; pad = bos = 0 and the mask 11 are special, so the draw set is 1..10.
    static readonly long[] Prompt = [3, 7, 2];

    static SamplerResult Run(FakeDenoiser model, int steps, double temperature, ulong seed, Action<SamplerObservation>? observer = null)
    {
        var sampler = new UniformSampler(new UniformSamplerOptions(GenLength: 16, Steps: steps, Temperature: temperature)) { Observer = observer };
        using var g = new torch.Generator(seed);
        return sampler.Generate(model, [Prompt, Prompt], g);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void YieldsTokensOfTheSetKeepsThePromptAndCallsTheModelOncePerStep(double temperature)
    {
        var model = new FakeDenoiser();
        var observed = new List<(int Index, long[] State, long[] LogitShape)>();
        var r = Run(model, 12, temperature, 4, o => observed.Add((o.Index, o.State.data<long>().ToArray(), o.Logits.shape)));
        foreach (var row in r.Ids)
        {
            Assert.Equal(Prompt, row[..3]);
            Assert.All(row[3..], id => Assert.InRange(id, 1, 10));
        }
        Assert.Equal(12, r.Nfe);
        Assert.Equal(12, model.Inputs.Count);
        Assert.Equal(12, r.Trace.Count);
        Assert.Equal(Enumerable.Range(0, 12), observed.Select(o => o.Index));
        Assert.All(observed, o => Assert.Equal(new long[] { 2, 19, FakeDenoiser.Vocab }, o.LogitShape));
        // Every intermediate state is a valid sequence of the set: nothing like a mask ever appears.
        Assert.All(observed, o => Assert.All(o.State, id => Assert.InRange(id, 0, 10)));
        // The trace replays the run: applying its changes to the first state gives the final ids.
        var state = observed[0].State.ToArray();
        foreach (var step in r.Trace)
            foreach (var c in step.Commits)
            {
                Assert.True(c.Position >= 3, "the prompt was rewritten");
                Assert.InRange(c.Confidence, 0, 1);
                state[c.Row * 19 + c.Position] = c.Token;
            }
        Assert.Equal(r.Ids.SelectMany(x => x), state);
    }

    [Fact]
    public void SameSeedSameOutputOtherSeedOtherOutput()
    {
        var a = Run(new FakeDenoiser(), 8, 1.0, 9);
        var b = Run(new FakeDenoiser(), 8, 1.0, 9);
        var c = Run(new FakeDenoiser(), 8, 1.0, 10);
        Assert.Equal(a.Ids, b.Ids);
        Assert.NotEqual(a.Ids, c.Ids);
    }

    [Fact]
    public void RevisesTokensAfterProposingThem()
    {
        var r = Run(new FakeDenoiser { Scale = 0.3f }, 32, 1.0, 2);
        var changes = r.Trace.SelectMany(s => s.Commits).GroupBy(c => (c.Row, c.Position)).Select(g => g.Count()).ToArray();
        output.WriteLine($"changes per position: {string.Join(" ", changes)}");
        Assert.Contains(changes, n => n >= 3);
        // Changes are spread over the run, not only in the first step.
        Assert.True(r.Trace.Skip(16).Sum(s => s.Commits.Count) > 0, "nothing changed in the second half of the run");
    }

    /// <summary>
    /// With the Bayes-optimal x_θ of i.i.d. data (the data distribution itself), every reverse step is exact, so the
    /// sampler's output must be i.i.d. from that distribution for any number of steps: a χ² test on the frequencies.
    /// </summary>
    [Fact]
    public void ExactDenoiserGivesTheDataDistribution()
    {
        var config = new ModelConfig
        {
            DModel = 8, NHeads = 2, NKvHeads = 2, NLayers = 1, MlpHiddenSize = 8, VocabSize = 6, MaxSequenceLength = 64,
            MaskTokenId = 4, BosTokenId = 5, EosTokenId = 3, PadTokenId = 3, Process = DiffusionProcess.Uniform,
        };
        double[] p = [0.55, 0.25, 0.15, 0.05, 0, 0];
        var sampler = new UniformSampler(new UniformSamplerOptions(GenLength: 64, Steps: 5, Temperature: 1.0));
        using var g = new torch.Generator(3);
        var r = sampler.Generate(new ConstantDenoiser(config, p), Enumerable.Repeat(Array.Empty<long>(), 200).ToArray(), g);
        var counts = new double[4];
        foreach (var id in r.Ids.SelectMany(x => x)) counts[id]++;
        double n = counts.Sum(), chi2 = Enumerable.Range(0, 4).Sum(k => Math.Pow(counts[k] - n * p[k], 2) / (n * p[k]));
        output.WriteLine($"frequencies {string.Join(" ", counts.Select(c => (c / n).ToString("F4")))}; chi2 {chi2:F2} (3 dof)");
        Assert.True(chi2 < 16.3, $"χ² = {chi2:F2} with 3 degrees of freedom (p < 0.001): the sampler does not draw from the model");
    }

    // ---- every reverse step is Bayes' rule on the noisy token (UniformReference), with a mutant that ignores it ----

    static readonly double[] XTheta = [0.55, 0.25, 0.15, 0.05];

    /// <summary>6 ids: 0..3 the draw set (eos = pad = 3 is content), 4 the mask, 5 bos; time-conditioned so a mutant can read t.</summary>
    static ModelConfig SetOfFour() => new()
    {
        DModel = 8, NHeads = 2, NKvHeads = 2, NLayers = 1, MlpHiddenSize = 8, VocabSize = 6, MaxSequenceLength = 64,
        MaskTokenId = 4, BosTokenId = 5, EosTokenId = 3, PadTokenId = 3, Process = DiffusionProcess.Uniform, TimeConditioning = true,
    };

    static IDenoiser Honest() => new ConstantDenoiser(SetOfFour(), [.. XTheta, 0, 0]);

    /// <summary>
    /// At temperature 1 with three steps, every observed transition x_t → x_s (4 800 per step) follows
    /// p(x_s | x_t) of <see cref="UniformReference.Step"/> (χ² per step, p &gt; 0.001), and every commit's confidence
    /// is that law's probability of the token drawn (1e-6: x_θ passes through float32 logits). At temperature 0 with two steps the last step is the
    /// argmax of the posterior at α = ½, by hand: x_θ(z)·(Kα[z = x] + 1 − α) = x_θ(z)·(2[z = x] + ½) gives
    /// 0 → 0 (0.55·2.5), 1 → 1 (0.625 vs 0.275), 2 → 2 (0.375 vs 0.275), 3 → 0 (0.125 vs 0.275).
    /// </summary>
    static void AssertStepsAreBayesRuleOnTheNoisyToken(Func<IDenoiser> model)
    {
        const int rows = 150, gen = 32, steps = 3;
        var states = new List<long[]>();
        var sampler = new UniformSampler(new UniformSamplerOptions(GenLength: gen, Steps: steps, Temperature: 1.0))
        { Observer = o => states.Add(o.State.data<long>().ToArray()) };
        using (var g = new torch.Generator(7))
        {
            var r = sampler.Generate(model(), Enumerable.Repeat(Array.Empty<long>(), rows).ToArray(), g);
            states.Add(r.Ids.SelectMany(x => x).ToArray());
            for (int i = 0; i < steps; i++)
            {
                double t = 1 - (double)i / steps, s = 1 - (double)(i + 1) / steps;
                var counts = new double[4, 4];
                for (int k = 0; k < rows * gen; k++) counts[states[i][k], states[i + 1][k]]++;
                double chi2 = 0;
                int dof = 0;
                for (int x = 0; x < 4; x++)
                {
                    double n = Enumerable.Range(0, 4).Sum(j => counts[x, j]);
                    if (n == 0) continue;
                    var law = UniformReference.Step(XTheta, x, t, s);
                    for (int j = 0; j < 4; j++) chi2 += Math.Pow(counts[x, j] - n * law[j], 2) / (n * law[j]);
                    dof += 3;
                }
                double pValue = DiffusionLM.Analysis.Audit.ChiSquare.UpperTail(chi2, dof);
                Assert.True(pValue > 1e-3, $"step {i} (t = {t:F3} → {s:F3}): χ² = {chi2:F1} with {dof} dof, p = {pValue:G3}");
                foreach (var c in r.Trace[i].Commits)
                {
                    int before = (int)states[i][c.Row * gen + c.Position];
                    double p = UniformReference.Step(XTheta, before, t, s)[c.Token];
                    Assert.True(Math.Abs(p - c.Confidence) < 1e-6, $"step {i}: confidence {c.Confidence} vs the law's {p}");
                }
            }
        }

        states.Clear();
        var greedy = new UniformSampler(new UniformSamplerOptions(GenLength: gen, Steps: 2, Temperature: 0.0))
        { Observer = o => states.Add(o.State.data<long>().ToArray()) };
        using var g0 = new torch.Generator(8);
        var final = greedy.Generate(model(), Enumerable.Repeat(Array.Empty<long>(), 20).ToArray(), g0).Ids.SelectMany(x => x).ToArray();
        long[] argmaxAtHalf = [0, 1, 2, 0];
        Assert.Equal(states[1].Select(x => argmaxAtHalf[x]), final);
    }

    [Fact]
    public void EveryStepIsBayesRuleOnTheNoisyToken() => AssertStepsAreBayesRuleOnTheNoisyToken(Honest);

    [Fact]
    public void MutantPosteriorIgnoringTheNoisyTokenIsRejected() =>
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertStepsAreBayesRuleOnTheNoisyToken(
            () => new UniformSamplerMutants.EvidenceCancellingDenoiser(Honest(), 4)));
}

[Collection("TorchGlobalState")]
public class UniformCliTests(ITestOutputHelper output)
{
    [Fact]
    public void TrainGenerateAndEvalAUniformModel()
    {
        using var tmp = new TempFolder();
        var rng = new Random(2);
        string[] lines = ["the cat sat on the mat.", "a dog ran in the park.", "my bird sang a song."];
        File.WriteAllText(tmp["corpus.txt"], string.Join(" ", Enumerable.Range(0, 2000).Select(_ => lines[rng.Next(lines.Length)])));
        var train = CliRunner.Run("train", "--data", tmp["corpus.txt"], "--out", tmp["model"], "--process", "uniform", "--steps", "3",
            "--seq-len", "64", "--batch-size", "4", "--vocab-size", "300", "--eval-interval", "10");
        Assert.True(train.Code == 0, train.Err);

        var gen = CliRunner.Run("generate", "--model", tmp["model"], "--prompt", "the cat", "--gen-length", "8", "--steps", "4", "--temperature", "1", "--json");
        Assert.True(gen.Code == 0, gen.Err);
        output.WriteLine(gen.Out);
        Assert.Contains("\"nfe\":4", gen.Out);

        var eval = CliRunner.Run("eval", "--model", tmp["model"], "--data", tmp["corpus.txt"], "--windows", "2", "--mc", "4", "--batch-size", "2", "--json");
        Assert.True(eval.Code == 0, eval.Err);
        output.WriteLine(eval.Out);
        using var doc = System.Text.Json.JsonDocument.Parse(eval.Out);
        double nll = doc.RootElement.GetProperty("nll_per_token").GetDouble();
        // Three steps of training leave the model near uniform guessing over the ~300 tokens: the bound is near log K, finite.
        Assert.InRange(nll, 1.0, 2 * Math.Log(300));
        Assert.True(doc.RootElement.GetProperty("standard_error").GetDouble() >= 0);
        Assert.Equal(2, doc.RootElement.GetProperty("windows").GetInt32());

        var wrong = CliRunner.Run("generate", "--model", tmp["model"], "--prompt", "the cat", "--sampler", "llada", "--gen-length", "8", "--steps", "4");
        Assert.NotEqual(0, wrong.Code);
        Assert.StartsWith("error: ", wrong.Err);
        Assert.Contains("uniform_ancestral", wrong.Err);
        Assert.Equal("", wrong.Out);
    }
}
