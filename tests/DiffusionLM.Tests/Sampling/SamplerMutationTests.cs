using DiffusionLM.Models;
using DiffusionLM.Sampling;
using TorchSharp;
using Xunit;
using Xunit.Sdk;

namespace DiffusionLM.Tests.Sampling;

/// <summary>
/// Checks that the samplers do what their names say (rows independent of their batch, confidences as
/// the references define them, ReMDM remasking at its rate η, Dream committing by its score), each with
/// a mutation test showing that the check rejects a deliberately broken variant (<see cref="SamplerMutants"/>).
/// Written against SamplerRegistry and ISampler only.
/// </summary>
public class SamplerMutationTests
{
    static readonly long[] A = [1, 2, 3, 4], B = [5, 6, 7, 8], C = [8, 3, 3, 1];
    const int Gen = 8;

    // Remasking samplers get more steps than tokens, so that there is something to remask; block decoders two blocks.
    static SamplerSettings Settings(string name, double temperature)
    {
        var e = SamplerRegistry.Find(name);
        return new(GenLength: Gen, Steps: e.Remasks ? 2 * Gen : Gen, BlockLength: e.Blocks ? 4 : null, Temperature: temperature);
    }

    /// <summary>The masked samplers of the registry that are deterministic at temperature 0 (the others draw positions or tokens at random).</summary>
    public static TheoryData<string> Greedy()
    {
        var d = new TheoryData<string>();
        foreach (var e in SamplerRegistry.All.Where(e => e.Masked && !e.Draws)) d.Add(e.Name);
        return d;
    }

    /// <summary>
    /// The registry's Draws flag, checked by behaviour: at temperature 0 a sampler not marked as drawing gives the same
    /// completion whatever the seed, and one marked as drawing gives different completions for some of eight seeds
    /// (a sampler wrongly marked either way would escape or wrongly enter the greedy test above).
    /// </summary>
    [Fact]
    public void TheDrawsFlagIsWhatTheSamplersDo()
    {
        foreach (var e in SamplerRegistry.All.Where(e => e.Masked))
        {
            var s = SamplerRegistry.Create(e.Name, Settings(e.Name, 0.0));
            var runs = Enumerable.Range(0, 8).Select(seed => string.Join(",", s.Generate(new FakeDenoiser(5), [A, B], new torch.Generator((ulong)seed)).Ids.SelectMany(r => r))).Distinct().Count();
            if (e.Draws) Assert.True(runs > 1, $"{e.Name} is marked as drawing at temperature 0 but gave one completion for eight seeds");
            else Assert.True(runs == 1, $"{e.Name} is marked greedy but gave {runs} different completions for eight seeds at temperature 0");
        }
    }

    // ---- a row does not depend on its batch neighbours ----

    /// <summary>
    /// At temperature 1, with the same seed and batch shape, a row's completion is the same whatever its
    /// neighbour contains: the noise is drawn for the whole batch shape, and a row's logits are its own.
    /// </summary>
    static void AssertRowIgnoresNeighbourContent(string name, Func<IDenoiser> model)
    {
        var s = SamplerRegistry.Create(name, Settings(name, 1.0));
        var withB = s.Generate(model(), [A, B], new torch.Generator(42));
        var withC = s.Generate(model(), [A, C], new torch.Generator(42));
        Assert.Equal(withB.Ids[0], withC.Ids[0]);
        var bFirst = s.Generate(model(), [B, A], new torch.Generator(42));
        var cFirst = s.Generate(model(), [C, A], new torch.Generator(42));
        Assert.Equal(bFirst.Ids[1], cFirst.Ids[1]);
    }

    /// <summary>At temperature 0 a deterministic sampler gives each row what it gives that row alone, in either order.</summary>
    static void AssertGreedyRowsAsAlone(string name, Func<IDenoiser> model)
    {
        var s = SamplerRegistry.Create(name, Settings(name, 0.0));
        var ab = s.Generate(model(), [A, B], new torch.Generator(1));
        var ba = s.Generate(model(), [B, A], new torch.Generator(2));
        var a = s.Generate(model(), [A], new torch.Generator(3));
        var b = s.Generate(model(), [B], new torch.Generator(4));
        Assert.Equal(a.Ids[0], ab.Ids[0]);
        Assert.Equal(b.Ids[0], ab.Ids[1]);
        Assert.Equal(b.Ids[0], ba.Ids[0]);
        Assert.Equal(a.Ids[0], ba.Ids[1]);
    }

    /// <summary>
    /// The masked samplers whose random draws do not depend on the batch's content. dependency_aware is
    /// not among them: it probes positions of all rows in one call and draws per probe, so the stream of
    /// draws a row meets depends on how many probes its neighbours needed (its rows are checked at T = 0).
    /// </summary>
    public static TheoryData<string> ContentFreeDraws()
    {
        var d = new TheoryData<string>();
        foreach (var e in SamplerRegistry.All.Where(e => e.Masked && e.Name != "dependency_aware")) d.Add(e.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(ContentFreeDraws))]
    public void ARowIgnoresItsNeighboursContent(string name) => AssertRowIgnoresNeighbourContent(name, () => new FakeDenoiser(5));

    [Theory]
    [MemberData(nameof(Greedy))]
    public void AGreedyRowIsWhatItIsAlone(string name) => AssertGreedyRowsAsAlone(name, () => new FakeDenoiser(5));

    /// <summary>One sampler of each kind for the mutants (each run costs a few samples).</summary>
    [Theory]
    [InlineData("llada")]
    [InlineData("random")]
    [InlineData("fast_dllm_threshold")]
    [InlineData("dream_origin")]
    [InlineData("mdlm")]
    [InlineData("remdm_cap")]
    public void MutantLeakyBatchIsRejectedByTheNeighbourCheck(string name) =>
        Assert.ThrowsAny<XunitException>(() => AssertRowIgnoresNeighbourContent(name, () => new SamplerMutants.LeakyDenoiser(new FakeDenoiser(5))));

    [Theory]
    [InlineData("llada")]
    [InlineData("dream_entropy")]
    [InlineData("dependency_aware")]
    public void MutantLeakyBatchIsRejectedByTheGreedyCheck(string name) =>
        Assert.ThrowsAny<XunitException>(() => AssertGreedyRowsAsAlone(name, () => new SamplerMutants.LeakyDenoiser(new FakeDenoiser(5))));

    // ---- confidences ----

    /// <summary>
    /// Every commit's confidence is softmax(untempered logits)[token] at the step's input, as LLaDA's
    /// and Fast-dLLM's x0_p = gather(F.softmax(logits), x0), even when tokens are drawn at temperature 0.5.
    /// </summary>
    static void AssertConfidenceIsUntemperedProbability(ISampler s)
    {
        var model = new FakeDenoiser(3);
        var r = s.Generate(model, [A, B], new torch.Generator(8));
        Assert.Equal(r.Trace.Count, model.Inputs.Count);
        int checkedCommits = 0;
        foreach (var step in r.Trace)
            foreach (var c in step.Commits)
            {
                var p = FakeDenoiser.Softmax(model.RowLogits(model.Inputs[step.Index][c.Row]), c.Position)[c.Token];
                Assert.True(Math.Abs(p - c.Confidence) < 1e-6, $"step {step.Index} row {c.Row} pos {c.Position}: confidence {c.Confidence} vs p {p}");
                checkedCommits++;
            }
        Assert.Equal(2 * Gen, checkedCommits);
    }

    static ISampler Tempered(string name) => SamplerRegistry.Create(name, Settings(name, 0.5) with { BlockLength = 4 });

    [Theory]
    [InlineData("low_confidence")]
    [InlineData("fast_dllm_threshold")]
    public void ConfidenceIsTheUntemperedProbability(string name) => AssertConfidenceIsUntemperedProbability(Tempered(name));

    [Theory]
    [InlineData("low_confidence")]
    [InlineData("fast_dllm_threshold")]
    public void MutantTemperedConfidenceIsRejected(string name) =>
        Assert.ThrowsAny<XunitException>(() => AssertConfidenceIsUntemperedProbability(new SamplerMutants.TemperedConfidence(Tempered(name), 0.5)));

    /// <summary>
    /// Random remasking ranks masked positions by uniform draws and commits the top one, so with one
    /// commit per step over m masks the reported confidence is the maximum of m uniforms: c^m is
    /// uniform on [0, 1]. Kolmogorov–Smirnov over 1,600 commits at the 0.1% level (D &lt; 1.95/√n).
    /// </summary>
    static void AssertRandomConfidencesAreMaximaOfUniforms(ISampler s)
    {
        var u = new List<double>();
        var prompts = Enumerable.Repeat(A, 50).ToArray();
        for (ulong seed = 0; seed < 2; seed++)
        {
            var r = s.Generate(new FakeDenoiser(2), prompts, new torch.Generator(100 + seed));
            foreach (var step in r.Trace)
            {
                int m = 16 - step.StepInBlock;
                Assert.All(Enumerable.Range(0, prompts.Length), row => Assert.Equal(1, step.Commits.Count(c => c.Row == row)));
                u.AddRange(step.Commits.Select(c => Math.Pow(c.Confidence, m)));
            }
        }
        u.Sort();
        double d = u.Select((x, i) => Math.Max(Math.Abs((i + 1.0) / u.Count - x), Math.Abs(x - (double)i / u.Count))).Max();
        Assert.True(d < 1.95 / Math.Sqrt(u.Count), $"KS distance of c^m from uniform {d:G3} over {u.Count} commits");
    }

    static ISampler RandomRemasking() => SamplerRegistry.Create("random", new SamplerSettings(GenLength: 16, Steps: 16, BlockLength: 16, Temperature: 1.0));

    [Fact]
    public void RandomRemaskingConfidencesAreTheRankedUniformDraws() => AssertRandomConfidencesAreMaximaOfUniforms(RandomRemasking());

    [Fact]
    public void MutantRedrawnConfidencesAreRejected() =>
        Assert.ThrowsAny<XunitException>(() => AssertRandomConfidencesAreMaximaOfUniforms(new SamplerMutants.RedrawnConfidence(RandomRemasking(), 3)));

    // ---- ReMDM remasks at its rate ----

    /// <summary>
    /// ReMDM remasks an unmasked generated token from t to s with probability σ(t): cap min(η, (1 − α_s)/α_t),
    /// rescale η·min(1, (1 − α_s)/α_t), loop η on the plateau t_off &lt; t ≤ t_on and 0 elsewhere, with
    /// α = 1 − t on MDLM's grid linspace(1, ε, steps + 1). The remaskings counted in the trace (commits of
    /// the mask id) must match Σ σ · (unmasked tokens) within 4 standard deviations, and that sum must be large.
    /// </summary>
    static void AssertRemasksAtRate(ISampler s, string strategy, double eta)
    {
        const int steps = 32, rows = 40;
        var d = new RemdmOptions();
        var ts = torch.linspace(1, d.Eps, steps + 1, dtype: torch.ScalarType.Float32).data<float>().ToArray();
        float dt = (float)((1 - d.Eps) / steps);
        var prompts = Enumerable.Repeat(A, rows).ToArray();
        var r = s.Generate(new FakeDenoiser(4), prompts, new torch.Generator(21));
        var x = prompts.Select(p => p.Concat(Enumerable.Repeat((long)FakeDenoiser.Mask, Gen)).ToArray()).ToArray();
        double expected = 0, variance = 0;
        int observed = 0;
        for (int i = 0; i < steps; i++)
        {
            double t = ts[i], sNext = t - dt;
            double alphaT = 1 - t, sigmaMax = alphaT > 0 ? Math.Min(1, sNext / alphaT) : 1;
            double sigma = strategy switch
            {
                RemdmOptions.Cap => alphaT > 0 ? Math.Min(eta, sNext / alphaT) : eta,
                RemdmOptions.Rescale => eta * sigmaMax,
                _ => t > d.TOn || t <= d.TOff ? 0 : eta,
            };
            int unmasked = x.Sum(row => row.Skip(A.Length).Count(tok => tok != FakeDenoiser.Mask));
            expected += sigma * unmasked;
            variance += sigma * (1 - sigma) * unmasked;
            var step = r.Trace[i];
            Assert.Equal(i, step.Index);
            observed += step.Commits.Count(c => c.Token == FakeDenoiser.Mask);
            foreach (var c in step.Commits) x[c.Row][c.Position] = c.Token;
        }
        Assert.True(expected > 30, $"the setting must make remasking likely (expected {expected:F1})");
        Assert.True(Math.Abs(observed - expected) < 4 * Math.Sqrt(variance), $"{strategy}: {observed} remaskings, expected {expected:F1} ± {Math.Sqrt(variance):F1}");
    }

    static ISampler Remdm(string strategy, double eta) =>
        SamplerRegistry.Create("remdm_" + strategy, new SamplerSettings(GenLength: Gen, Steps: 32, Temperature: 1.0) { Eta = eta });

    [Theory]
    [InlineData(RemdmOptions.Cap, 0.2)]
    [InlineData(RemdmOptions.Rescale, 0.3)]
    [InlineData(RemdmOptions.Loop, 0.3)]
    public void RemdmRemasksAtItsRate(string strategy, double eta) => AssertRemasksAtRate(Remdm(strategy, eta), strategy, eta);

    [Theory]
    [InlineData(RemdmOptions.Cap, 0.2)]
    [InlineData(RemdmOptions.Rescale, 0.3)]
    [InlineData(RemdmOptions.Loop, 0.3)]
    public void MutantRemdmWithEtaZeroIsRejected(string strategy, double eta) =>
        Assert.ThrowsAny<XunitException>(() => AssertRemasksAtRate(Remdm(strategy, 0.0), strategy, eta));

    // ---- Dream commits by its score ----

    /// <summary>Dream's scores of a position from p = softmax(logits without the mask): max p, top1 − top2, Σ p log p.</summary>
    static double Score(string alg, double[] p)
    {
        var sorted = p.OrderByDescending(v => v).ToArray();
        return alg switch
        {
            DreamOptions.MaskGitPlus => sorted[0],
            DreamOptions.TopKMargin => sorted[0] - sorted[1],
            _ => p.Sum(v => v * Math.Log(v + 1e-10)),
        };
    }

    /// <summary>
    /// At temperature 0, each step of Dream's scored orderings commits the argmax at exactly the masked
    /// positions with the highest score under <paramref name="alg"/>, as many as the step commits.
    /// </summary>
    static void AssertCommitsByScore(ISampler s, string alg)
    {
        var model = new FakeDenoiser(6);
        var r = s.Generate(model, [A, B], new torch.Generator(9));
        var x = new[] { A, B }.Select(p => p.Concat(Enumerable.Repeat((long)FakeDenoiser.Mask, Gen)).ToArray()).ToArray();
        int partial = 0;
        foreach (var step in r.Trace)
        {
            for (int row = 0; row < 2; row++)
            {
                var logits = model.RowLogits(model.Inputs[step.Index][row]);
                var masked = Enumerable.Range(0, x[row].Length).Where(p => x[row][p] == FakeDenoiser.Mask).ToList();
                var probs = masked.ToDictionary(p => p, p => FakeDenoiser.Softmax(logits, p));
                var commits = step.Commits.Where(c => c.Row == row).ToList();
                var best = masked.OrderByDescending(p => Score(alg, probs[p])).Take(commits.Count).Order();
                Assert.Equal(best, commits.Select(c => c.Position).Order());
                foreach (var c in commits) Assert.Equal(Array.IndexOf(probs[c.Position], probs[c.Position].Max()), (int)c.Token);
                if (commits.Count > 0 && commits.Count < masked.Count) partial++;
            }
            foreach (var c in step.Commits) x[c.Row][c.Position] = c.Token;
        }
        Assert.True(partial >= 4, "too few steps chose among the masked positions for the check to mean anything");
    }

    static ISampler Dream(string alg) => SamplerRegistry.Create("dream_" + alg, new SamplerSettings(GenLength: Gen, Steps: 4, Temperature: 0.0));

    [Theory]
    [InlineData(DreamOptions.MaskGitPlus)]
    [InlineData(DreamOptions.TopKMargin)]
    [InlineData(DreamOptions.Entropy)]
    public void DreamCommitsTheBestScoredPositions(string alg) => AssertCommitsByScore(Dream(alg), alg);

    /// <summary>Mutant: an ordering that ignores its score (origin's random positions) passed off as each scored ordering.</summary>
    [Theory]
    [InlineData(DreamOptions.MaskGitPlus)]
    [InlineData(DreamOptions.TopKMargin)]
    [InlineData(DreamOptions.Entropy)]
    public void MutantDreamOrderingIgnoringItsScoreIsRejected(string alg) =>
        Assert.ThrowsAny<XunitException>(() => AssertCommitsByScore(Dream(DreamOptions.Origin), alg));
}
