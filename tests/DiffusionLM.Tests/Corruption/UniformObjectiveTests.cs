using DiffusionLM;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Training;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Corruption;

/// <summary>
/// A denoiser whose x_θ is the same distribution q at every position whatever it sees. For i.i.d. data its reverse
/// chain generates i.i.d. tokens from q, and given x_0 the model's path posterior is the forward chain itself, so the
/// uniform family's ELBO must come out at the cross-entropy −E log q(x_0) (up to the O(ε²) prior term): with q = p
/// (the Bayes-optimal x_θ for i.i.d. data) at H(p), with q uniform at log K.
/// </summary>
sealed class ConstantDenoiser(ModelConfig config, double[] q) : IDenoiser
{
    public ModelConfig Config { get; } = config;

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        var row = q.Select(v => v > 0 ? (float)Math.Log(v) : -1e4f).ToArray();
        return tensor(row).view(1, 1, -1).expand(ids.shape[0], ids.shape[1], row.Length).contiguous();
    }
}

/// <summary>
/// A deliberately wrong network: it returns the Bayes posterior p(x_0 | x_t) itself as x_θ, so the objective adds the
/// evidence of x_t a second time. Needs the time, so its config is time-conditioned.
/// </summary>
sealed class DoubleCountingDenoiser(ModelConfig config, UniformProcess process, double[] p) : IDenoiser
{
    public ModelConfig Config { get; } = config;

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        int b = (int)ids.shape[0], l = (int)ids.shape[1], v = Config.VocabSize;
        var x = ids.data<long>().ToArray();
        var t = time!.data<float>().ToArray();
        var o = new float[b * l * v];
        for (int r = 0; r < b; r++)
            for (int i = 0; i < l; i++)
                for (int z = 0; z < v; z++)
                {
                    double w = p[z] * process.Marginal(z, x[r * l + i], t[r]);
                    o[(r * l + i) * v + z] = w > 0 ? (float)Math.Log(w) : -1e4f;
                }
        return tensor(o, new long[] { b, l, v });
    }
}

public class UniformObjectiveTests(ITestOutputHelper output)
{
    // 6 ids: 0..3 ordinary (K = 4; eos = pad = 3 is content), 4 the mask, 5 bos.
    static readonly double[] P = [0.5, 0.25, 0.15, 0.10, 0, 0];
    static ModelConfig Config(bool time = false) => new()
    {
        DModel = 8, NHeads = 2, NKvHeads = 2, NLayers = 1, MlpHiddenSize = 8, VocabSize = 6, MaxSequenceLength = 64,
        MaskTokenId = 4, BosTokenId = 5, EosTokenId = 3, PadTokenId = 3, Schedule = "linear", Process = DiffusionProcess.Uniform, TimeConditioning = time,
    };

    static UniformProcess Process() => UniformProcess.ForModel(Config());

    /// <summary>[rows, 64] i.i.d. draws from P.</summary>
    static long[,] Data(int rows, int seed)
    {
        var rng = new Random(seed);
        var ids = new long[rows, 64];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < 64; j++)
            {
                double u = rng.NextDouble(), c = 0;
                int k = 0;
                while (k < 3 && u >= (c += P[k])) k++;
                ids[r, j] = k;
            }
        return ids;
    }

    /// <summary>Mean and standard error of the negative ELBO over <paramref name="batches"/> independent batches.</summary>
    static (double Mean, double Se) Bound(IDenoiser model, long[,] data, int batches)
    {
        var objective = DiffusionProcesses.Objective(model.Config);
        using var g = new Generator(11);
        using var ids = tensor(data);
        using var batch = new TrainingBatch(ids.alias());
        var values = Enumerable.Range(0, batches).Select(_ => { using var s = NewDisposeScope(); return (double)objective.NegativeElbo(model, batch, g).item<float>(); }).ToArray();
        double mean = values.Average();
        return (mean, Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / (values.Length - 1) / values.Length));
    }

    static double CrossEntropy(long[,] data, double[] q)
    {
        double sum = 0;
        foreach (var id in data) sum -= Math.Log(q[id]);
        return sum / data.Length;
    }

    [Fact]
    public void NegativeElboOfTheOracleIsTheEntropyAndOfUniformIsLogK()
    {
        var data = Data(64, 3);
        double[] uniform = [0.25, 0.25, 0.25, 0.25, 0, 0];
        double[] other = [0.1, 0.2, 0.3, 0.4, 0, 0];
        foreach (var (name, q) in new[] { ("oracle", P), ("uniform", uniform), ("other", other) })
        {
            var (mean, se) = Bound(new ConstantDenoiser(Config(), q), data, 120);
            double target = CrossEntropy(data, q);
            output.WriteLine($"{name}: -ELBO {mean:F4} ± {se:F4}, cross-entropy of the data {target:F4}");
            Assert.True(se < 0.02, $"{name}: standard error {se:F4} too large for the check to mean anything");
            Assert.True(Math.Abs(mean - target) < 4 * se + 0.005, $"{name}: -ELBO {mean:F4} ± {se:F4} is not the cross-entropy {target:F4}");
        }
        Assert.Equal(Math.Log(4), CrossEntropy(data, uniform), 12);
    }

    /// <summary>
    /// ElboEvaluation with the constant oracle q = P, whose bound's expectation is the exact NLL −Σ log P(x) of what it
    /// scores (the class remarks; the O(ε²) prior is ~1e-6 nats a token): on a whole window of 64 tokens, and on the
    /// 24 answer tokens given a 40-token prompt (a constant model ignores the prompt). Each estimate must be within 4 of
    /// its standard errors of the exact value (no slack besides: the expectation is exact), and those errors must be small
    /// (under 0.04 nats a token), so a bound off by a few hundredths of a nat a token is seen.
    /// </summary>
    void AssertElboEvaluationIsTheExactNll(IDiffusionObjective objective)
    {
        var model = new ConstantDenoiser(Config(), P);
        var data = Data(1, 8);
        var window = Enumerable.Range(0, 64).Select(j => data[0, j]).ToArray();
        using var g = new Generator(3);
        var whole = ElboEvaluation.Estimate(objective, model, window, 2048, 16, g);
        var answer = ElboEvaluation.Estimate(objective, model, window[..40], window[40..], 2048, 16, g);
        foreach (var (name, est, exact) in new[] { ("window", whole, -window.Sum(id => Math.Log(P[id]))), ("answer", answer, -window[40..].Sum(id => Math.Log(P[id]))) })
        {
            output.WriteLine($"{name}: -ELBO {est.Nll:F3} ± {est.StandardError:F3} nats, exact NLL {exact:F3} ({(est.Nll - exact) / est.StandardError:F2} SE)");
            Assert.True(est.StandardError < MaxSePerToken * est.Tokens, $"{name}: standard error {est.StandardError:F3} too large for the check to mean anything");
            Assert.True(Math.Abs(est.Nll - exact) < 4 * est.StandardError, $"{name}: {est.Nll:F3} ± {est.StandardError:F3} is not the exact NLL {exact:F3}");
        }
    }

    // Measured with 2048 draws in batches of 16: 0.031 nats a token on the window, 0.023 on the answer (the old 96
    // draws gave 0.08 and allowed a 0.5-nat slack besides); the doubled-rate mutant sits 81 nats (20 SE) off.
    const double MaxSePerToken = 0.04;

    [Fact]
    public void ElboEvaluationBoundsAWindowAndAnAnswerGivenItsPrompt()
    {
        var objective = DiffusionProcesses.Objective(Config());
        AssertElboEvaluationIsTheExactNll(objective);
        var model = new ConstantDenoiser(Config(), P);
        var window = Enumerable.Range(0, 64).Select(j => (long)(j % 4)).ToArray();
        using var g = new Generator(3);
        var whole = ElboEvaluation.Estimate(objective, model, window, 96, 8, g);
        Assert.Equal(64, whole.Tokens);
        Assert.Equal(12, whole.BatchEstimates.Length);
        Assert.Equal(24, ElboEvaluation.Estimate(objective, model, window[..40], window[40..], 16, 8, g).Tokens);
        Assert.Throws<DlmException>(() => ElboEvaluation.Estimate(objective, model, window, 10, 4, g));
    }

    [Fact]
    public void MutantWithADoubledRateIsRejectedByTheExactNll() =>
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertElboEvaluationIsTheExactNll(ObjectiveMutants.UniformWithDoubledRate()));

    // ---- the loss of one batch is the bound written out by hand for its own draws ----

    /// <summary>x_θ(z) ∝ P(z)·e^{0.7·[z = x_t]}: depends on the token it sees; records the noisy ids and times it was given.</summary>
    sealed class RecordingDenoiser(ModelConfig config) : IDenoiser
    {
        public ModelConfig Config { get; } = config;
        public long[] Noisy = [];
        public float[] Times = [];

        public static float[] Row(long seen) => Enumerable.Range(0, 6).Select(z => z < 4 ? (float)(Math.Log(P[z]) + (z == seen ? 0.7 : 0)) : -1e4f).ToArray();

        public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
        {
            Noisy = ids.data<long>().ToArray();
            Times = time!.data<float>().ToArray();
            return tensor(Noisy.SelectMany(Row).ToArray(), new long[] { ids.shape[0], ids.shape[1], 6 });
        }
    }

    /// <summary>
    /// One position's term, from the definitions in UniformProcess.Objective's remarks, in float64 by brute force over y:
    /// x̄ = Kα·onehot(x_0) + 1 − α, x̄^θ = Kα·x_θ + 1 − α, r_y = x̄_y/x̄_x, L_t = (β_t/K)·Σ_{y≠x}[r^θ_y − r_y + r_y·log(r_y/r^θ_y)],
    /// β_t = −α'_t/α_t = 1/(1 − t) for the linear schedule; a reconstruction row's term is −log p_θ(x_0 | x_ε).
    /// </summary>
    static double Term(int x, int z, double t, bool reconstruction)
    {
        const int k = 4;
        var logits = RecordingDenoiser.Row(x).Take(k).Select(v => (double)v).ToArray();
        double max = logits.Max(), norm = logits.Sum(v => Math.Exp(v - max));
        var xTheta = logits.Select(v => Math.Exp(v - max) / norm).ToArray();
        if (reconstruction) return -Math.Log(Sampling.UniformReference.Posterior(xTheta, x, t)[z]);
        double alpha = 1 - t, beta = 1 / (1 - t);
        double Bar(int y) => k * alpha * (y == z ? 1 : 0) + 1 - alpha;
        double BarTheta(int y) => k * alpha * xTheta[y] + 1 - alpha;
        double sum = 0;
        for (int y = 0; y < k; y++)
        {
            if (y == x) continue;
            double r = Bar(y) / Bar(x), rTheta = BarTheta(y) / BarTheta(x);
            sum += rTheta - r + r * Math.Log(r / rTheta);
        }
        return beta / k * sum;
    }

    /// <summary>
    /// The loss of a batch of 4 rows against the bound computed by hand for the same draws: the times from the generator's
    /// first uniform u (u_i = (u + i/4) mod 1; u_i &lt; w = ¼ reconstructs at ε with weight 1/w, the rest map onto
    /// [ε, 1 − ε] with weight (1 − 2ε)/(1 − w)), the noisy tokens as the denoiser saw them, each row's mean term plus the
    /// prior KL(q(x_{1−ε} | x_0) ‖ U_K) in closed form, averaged over rows. Relative 1e-5 (the loss is float32).
    /// </summary>
    void AssertLossIsTheBoundOfItsDraws(IDiffusionObjective objective)
    {
        const double eps = 1e-3, w = 0.25;
        const int rows = 4, len = 64, k = 4;
        var data = Data(rows, 12);
        var model = new RecordingDenoiser(Config(time: true));
        double u0;
        using (var replay = new Generator(21)) u0 = rand(1, dtype: ScalarType.Float64, generator: replay).item<double>();
        double loss;
        using (var g = new Generator(21))
        using (var batch = new TrainingBatch(tensor(data)))
            loss = objective.Loss(model, batch, g).item<float>();

        double stay = eps + (1 - eps) / k, other = (1 - eps) / k;
        double prior = stay * Math.Log(k * stay) + (k - 1) * other * Math.Log(k * other);
        double expected = 0;
        for (int r = 0; r < rows; r++)
        {
            double u = (u0 + (double)r / rows) % 1.0;
            bool recon = u < w;
            double t = recon ? eps : eps + (1 - 2 * eps) * (u - w) / (1 - w);
            double weight = recon ? 1 / w : (1 - 2 * eps) / (1 - w);
            Assert.True(Math.Abs(t - model.Times[r]) < 1e-6, $"row {r}: time {model.Times[r]}, by hand {t}");
            double sum = 0;
            for (int i = 0; i < len; i++) sum += weight * Term((int)model.Noisy[r * len + i], (int)data[r, i], t, recon);
            expected += (sum / len + prior) / rows;
        }
        output.WriteLine($"loss {loss:F6}, by hand {expected:F6}");
        Assert.True(Math.Abs(loss - expected) < 1e-5 * Math.Max(1, Math.Abs(expected)), $"loss {loss:F6} is not the bound of its draws {expected:F6}");
    }

    [Fact]
    public void LossIsTheBoundOfItsDrawsByHand() => AssertLossIsTheBoundOfItsDraws(DiffusionProcesses.Objective(Config(time: true)));

    [Fact]
    public void MutantWithADoubledRateIsRejectedByTheHandBound() =>
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() => AssertLossIsTheBoundOfItsDraws(ObjectiveMutants.UniformWithDoubledRate()));

    [Fact]
    public void CountingTheEvidenceTwiceIsVisiblyWorse()
    {
        var data = Data(16, 4);
        var (mean, se) = Bound(new DoubleCountingDenoiser(Config(time: true), Process(), P), data, 20);
        double entropy = CrossEntropy(data, P);
        output.WriteLine($"double counting: -ELBO {mean:F4} ± {se:F4} vs {entropy:F4}");
        Assert.True(mean > entropy + 0.05 + 4 * se, $"-ELBO {mean:F4} of a wrong denoiser is not clearly above the entropy {entropy:F4}");
    }

    [Fact]
    public void PosteriorIsBayesRuleOnTheCorruptedToken()
    {
        var process = Process();
        using var logX = tensor(P.Take(4).Select(v => Math.Log(v)).ToArray(), dtype: ScalarType.Float64).view(1, 1, 4).expand(1, 4, 4);
        using var xt = tensor(new long[] { 0, 1, 2, 3 }).view(1, 4);
        const double t = 0.7;
        var post = process.PosteriorLogProbabilities(logX, xt, tensor(process.Schedule.Alpha(t), dtype: ScalarType.Float64)).exp().data<double>().ToArray();
        for (int i = 0; i < 4; i++)
        {
            double z = Enumerable.Range(0, 4).Sum(x0 => P[x0] * process.Marginal(x0, i, t));
            for (int x0 = 0; x0 < 4; x0++)
                Assert.Equal(P[x0] * process.Marginal(x0, i, t) / z, post[i * 4 + x0], 10);
        }
    }

    [Theory]
    [InlineData(0.9, 0.6)]
    [InlineData(1.0, 0.75)]
    [InlineData(0.25, 0.0)]
    [InlineData(0.5, 0.49)]
    public void ReverseStepSumsToOneAndIsBayesRuleByBruteForce(double t, double s)
    {
        var process = Process();
        int k = process.K;
        double[] pi = [0.4, 0.1, 0.3, 0.2];
        double alphaT = process.Schedule.Alpha(t), alphaS = process.Schedule.Alpha(s), a = alphaT / alphaS;
        using var post = tensor(pi, dtype: ScalarType.Float64).view(1, 4).expand(4, 4);
        using var xt = tensor(new long[] { 0, 1, 2, 3 });
        var probs = process.ReverseProbabilities(post, xt, alphaS, alphaT).data<double>().ToArray();
        for (int i = 0; i < k; i++)
        {
            Assert.Equal(1.0, probs.Skip(i * k).Take(k).Sum(), 10);
            for (int j = 0; j < k; j++)
            {
                // Σ_z π(z)·q(x_t = i | x_s = j)·q(x_s = j | z)/q(x_t = i | z), every factor from the kernel's definition.
                double qts = (i == j ? a : 0) + (1 - a) / k;
                double expected = Enumerable.Range(0, k).Sum(z => pi[z] * qts * process.Marginal(z, j, s) / process.Marginal(z, i, t));
                Assert.Equal(expected, probs[i * k + j], 10);
            }
        }
    }

    [Fact]
    public void AnalyticInformationRunsFromTheEntropyToZeroAndMatchesAPlugInEstimate()
    {
        var process = Process();
        using var g = new Generator(1);
        double entropy = MaskedProcess.Entropy(P);
        Assert.Equal(entropy, process.AnalyticInformation(0, P, g), 10);
        Assert.Equal(0, process.AnalyticInformation(1, P, g), 10);
        var grid = Enumerable.Range(0, 21).Select(i => process.AnalyticInformation(i / 20.0, P, g)).ToArray();
        for (int i = 1; i < grid.Length; i++) Assert.True(grid[i] < grid[i - 1], $"I(x_t; x_0) rises between t = {(i - 1) / 20.0} and {i / 20.0}");

        // Plug-in: the empirical joint of (x_0, x_t) over many i.i.d. tokens, corrupted by the process itself.
        const double t = 0.6;
        var data = Data(2000, 9);
        using var x0 = tensor(data);
        var xt = process.SampleMarginal(x0, t, g).data<long>().ToArray();
        var joint = new double[6, 6];
        int n = 0;
        foreach (var clean in data) joint[clean, xt[n++]] += 1;
        double mi = 0;
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 6; b++)
            {
                if (joint[a, b] == 0) continue;
                double pa = Enumerable.Range(0, 6).Sum(j => joint[a, j]) / n, pb = Enumerable.Range(0, 6).Sum(i => joint[i, b]) / n;
                mi += joint[a, b] / n * Math.Log(joint[a, b] / n / (pa * pb));
            }
        double exact = process.AnalyticInformation(t, P, g);
        output.WriteLine($"I(x_t; x_0) at t = {t}: exact {exact:F4}, plug-in {mi:F4} from {n} tokens");
        Assert.InRange(mi, exact - 0.01, exact + 0.01);
    }

    [Fact]
    public void DenoiseAtReturnsThePosteriorOffTheSpecialTokensAndCorruptsOnlyWhatIsNotProtected()
    {
        var process = Process();
        var model = new ConstantDenoiser(Config(), P);
        using var g = new Generator(2);
        using var x0 = tensor(new long[,] { { 5, 0, 1, 2, 3, 0 } });
        using var protect = tensor(new bool[,] { { false, true, false, false, false, false } });
        var (logits, corrupted) = process.DenoiseAt(model, x0, 0.5, protect, g);
        Assert.Equal(new long[] { 1, 6, 6 }, logits.shape);
        // bos (outside the set) and the protected position are not corrupted; everything else is.
        Assert.Equal(new[] { false, false, true, true, true, true }, corrupted.data<bool>().ToArray());
        var l = logits.data<float>().ToArray();
        for (int i = 0; i < 6; i++)
        {
            Assert.True(float.IsNegativeInfinity(l[i * 6 + 4]) && float.IsNegativeInfinity(l[i * 6 + 5]), "mask and bos must be impossible");
            Assert.Equal(1.0, Enumerable.Range(0, 4).Sum(v => Math.Exp(l[i * 6 + v])), 4);
        }
    }

    [Fact]
    public void UniformArmOfTheFactoryIsTheUniformObjective()
    {
        var objective = DiffusionProcesses.Objective(Config());
        var uniform = Assert.IsType<UniformProcess>(objective);
        Assert.Equal([0L, 1, 2, 3], uniform.Tokens);
    }
}

[Collection("TorchGlobalState")]
public class UniformTrainingTests(ITestOutputHelper output)
{
    [Fact]
    public void LossIsFiniteAndFallsOnATinyCorpus()
    {
        using var tmp = new TempFolder();
        var rng = new Random(5);
        string[] lines = ["the cat sat on the mat.", "a dog ran in the park.", "my bird sang a song."];
        File.WriteAllText(tmp["corpus.txt"], string.Join(" ", Enumerable.Range(0, 3000).Select(_ => lines[rng.Next(lines.Length)])));
        var state = new Trainer().Run(new TrainingOptions
        {
            Data = [tmp["corpus.txt"]], Preset = "tiny", Steps = 80, SeqLen = 32, BatchSize = 8, VocabSize = 280,
            LearningRate = 3e-3, EvalInterval = 40, EvalWindows = 16, Seed = 1, Process = DiffusionProcess.Uniform,
        }, tmp["model"], resume: false);
        Assert.All(state.TrainLoss, l => Assert.True(double.IsFinite(l)));
        double first = state.TrainLoss.Take(10).Average(), last = state.TrainLoss.TakeLast(10).Average();
        output.WriteLine($"train loss: first 10 steps {first:F3}, last 10 {last:F3}; validation {string.Join(", ", state.ValLoss.Select(v => v.Loss.ToString("F3")))}");
        Assert.True(last < first - 1.0, $"the uniform ELBO did not fall: {first:F3} -> {last:F3}");
        Assert.True(state.ValLoss[^1].Loss < state.ValLoss[0].Loss, "the validation ELBO did not fall");
    }
}
