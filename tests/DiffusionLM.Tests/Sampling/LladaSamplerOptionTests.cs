using DiffusionLM.Sampling;
using TorchSharp;
using Xunit;
using static DiffusionLM.Tests.Sampling.LladaSamplerTests;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Sampling;

public class LladaSamplerOptionTests
{
    [Fact]
    public void CfgZeroRunsOneForwardOfBRowsPerStep()
    {
        var o = new LladaSamplerOptions(GenLength: 8, Steps: 8, BlockLength: 8);
        var model = new FakeDenoiser();
        var r = Run(model, o, [A, B]);
        Assert.Equal(8, r.Nfe);
        Assert.Equal(8, model.Inputs.Count);
        Assert.All(model.Inputs, i => Assert.Equal(2, i.Length));
    }

    [Fact]
    public void CfgBatchesConditionalAndPromptMaskedRowsIntoOneForward()
    {
        var o = new LladaSamplerOptions(GenLength: 8, Steps: 8, BlockLength: 4, CfgScale: 2);
        var model = new FakeDenoiser();
        var r = Run(model, o, [A, B]);
        Assert.Equal(8, r.Nfe);
        Assert.Equal(8, model.Inputs.Count);
        foreach (var rows in model.Inputs)
        {
            Assert.Equal(4, rows.Length);
            for (int b = 0; b < 2; b++)
            {
                Assert.Equal(Enumerable.Repeat((long)FakeDenoiser.Mask, 4), rows[2 + b][..4]); // prompt masked
                Assert.Equal(rows[b][4..], rows[2 + b][4..]);                                    // the rest as x
            }
        }
        Assert.Equal(A, r.Ids[0][..4]);
        CheckInvariants(r, o, [A, B]);
    }

    [Fact]
    public void CfgCombinesAsUnPlusScaleTimesDifference()
    {
        // Step 0 re-derived: guided = un + (cfg + 1) * (cond - un), argmax, softmax confidence.
        const float cfgScale = 1.5f;
        var o = new LladaSamplerOptions(GenLength: 8, Steps: 8, BlockLength: 8, CfgScale: cfgScale);
        var model = new FakeDenoiser();
        var r = Run(model, o, [A]);
        var cond = model.RowLogits(model.Inputs[0][0]);
        var un = model.RowLogits(model.Inputs[0][1]);
        var guided = new float[12, FakeDenoiser.Vocab];
        for (int i = 0; i < 12; i++)
            for (int v = 0; v < FakeDenoiser.Vocab; v++) guided[i, v] = un[i, v] + (cfgScale + 1) * (cond[i, v] - un[i, v]);
        var best = Enumerable.Range(4, 8).Select(i =>
        {
            var p = FakeDenoiser.Softmax(guided, i);
            return (i, tok: (long)Array.IndexOf(p, p.Max()), conf: p.Max());
        }).MaxBy(c => c.conf);
        var commit = Assert.Single(r.Trace[0].Commits);
        Assert.Equal(best.i, commit.Position);
        Assert.Equal(best.tok, commit.Token);
        Assert.True(Math.Abs(best.conf - commit.Confidence) < 1e-6, $"{best.conf} vs {commit.Confidence}");
    }

    [Fact]
    public void CfgWithAModelBlindToThePromptEqualsPlain()
    {
        // cond == un exactly, so un + s * (cond - un) == un bit for bit.
        foreach (var t in new[] { 0.0, 1.0 })
        {
            var plain = Run(new FakeDenoiser { IgnoreBefore = 4 }, new LladaSamplerOptions(GenLength: 16, Steps: 8, BlockLength: 8, Temperature: t), [A, B]);
            var cfg = Run(new FakeDenoiser { IgnoreBefore = 4 }, new LladaSamplerOptions(GenLength: 16, Steps: 8, BlockLength: 8, Temperature: t, CfgScale: 3), [A, B]);
            Assert.Equal(plain.Ids, cfg.Ids);
            Assert.Equal(plain.Trace.SelectMany(s => s.Commits), cfg.Trace.SelectMany(s => s.Commits));
        }
    }

    static FakeDenoiser EosLover()
    {
        // Every third position strongly prefers EOS, the next one EoT, the third is left to the tables.
        return new FakeDenoiser
        {
            Extra = (i, v) => (i % 3, v) switch { (0, FakeDenoiser.Eos) or (1, FakeDenoiser.Eot) => 6f, _ => 0f },
        };
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    public void LogitsEosInfNeverGeneratesEos(double t)
    {
        var o = new LladaSamplerOptions(GenLength: 32, Steps: 16, BlockLength: 16, Temperature: t);
        var plain = Run(EosLover(), o, [A, B]);
        Assert.Contains(plain.Ids.SelectMany(r => r[4..]), id => id == FakeDenoiser.Eos);
        var r = Run(EosLover(), o with { LogitsEosInf = true }, [A, B]);
        Assert.DoesNotContain(r.Ids.SelectMany(x => x[4..]), id => id == FakeDenoiser.Eos);
        CheckInvariants(r, o, [A, B]);
    }

    [Fact]
    public void ConfidenceEosEotInfAtTemperatureZeroZeroesBothEosAndEot()
    {
        // At T = 0 the noisy logits ARE the logits, so the chained assignment hits EOS and EoT.
        var o = new LladaSamplerOptions(GenLength: 32, Steps: 16, BlockLength: 16, ConfidenceEosEotInf: true, EotId: FakeDenoiser.Eot);
        var r = Run(EosLover(), o, [A, B]);
        var commits = r.Trace.SelectMany(s => s.Commits).ToList();
        Assert.Contains(commits, c => c.Token == FakeDenoiser.Eos);
        Assert.Contains(commits, c => c.Token == FakeDenoiser.Eot);
        Assert.All(commits, c => Assert.Equal(c.Token is FakeDenoiser.Eos or FakeDenoiser.Eot, c.Confidence == 0));
        CheckInvariants(r, o, [A, B]);
    }

    [Fact]
    public void ConfidenceEosEotInfAtPositiveTemperatureZeroesOnlyEot()
    {
        // At T > 0 the EOS column is set in the (unused) noisy copy; only EoT reaches the softmax.
        var o = new LladaSamplerOptions(GenLength: 64, Steps: 32, BlockLength: 32, Temperature: 1,
            ConfidenceEosEotInf: true, EotId: FakeDenoiser.Eot);
        var r = Run(EosLover(), o, [A, B]);
        var commits = r.Trace.SelectMany(s => s.Commits).ToList();
        Assert.Contains(commits, c => c.Token == FakeDenoiser.Eos);
        Assert.Contains(commits, c => c.Token == FakeDenoiser.Eot);
        Assert.All(commits.Where(c => c.Token == FakeDenoiser.Eot), c => Assert.Equal(0, c.Confidence));
        Assert.All(commits.Where(c => c.Token != FakeDenoiser.Eot), c => Assert.True(c.Confidence > 0));
    }

    [Fact]
    public void ConfidenceEosEotInfDoesNothingToRandomRemasking()
    {
        var o = new LladaSamplerOptions(GenLength: 16, Steps: 8, BlockLength: 8, Temperature: 0.5, Remasking: LladaSamplerOptions.Random);
        var plain = Run(EosLover(), o, [A, B]);
        var opt = Run(EosLover(), o with { ConfidenceEosEotInf = true, EotId = FakeDenoiser.Eot }, [A, B]);
        Assert.Equal(plain.Trace.SelectMany(s => s.Commits), opt.Trace.SelectMany(s => s.Commits));
    }

    public static TheoryData<LladaSamplerOptions, string> Invalid => new()
    {
        { new(Steps: 0), "steps must be positive (got 0)" },
        { new(Steps: -3), "steps must be positive (got -3)" },
        { new(GenLength: 0), "gen length must be positive (got 0)" },
        { new(BlockLength: 0), "block length must be positive (got 0)" },
        { new(GenLength: 100, BlockLength: 32), "gen length 100 must be a multiple of block length 32" },
        { new(GenLength: 128, BlockLength: 256), "gen length 128 must be a multiple of block length 256" },
        { new(GenLength: 128, BlockLength: 32, Steps: 30), "steps 30 must be divisible by the number of blocks 4" },
        { new(Remasking: "top_prob"), "unknown remasking \"top_prob\"" },
        { new(Temperature: -1), "temperature must be a finite number >= 0 (got -1)" },
        { new(Temperature: double.NaN), "temperature must be a finite number >= 0" },
        { new(CfgScale: -0.5), "cfg scale must be a finite number >= 0 (got -0.5)" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public void InvalidSettingsAreRejected(LladaSamplerOptions o, string message)
    {
        var e = Assert.Throws<DlmException>(() => new LladaSampler(o));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void InvalidInputsAreRejected()
    {
        var model = new FakeDenoiser();
        var s = new LladaSampler(new LladaSamplerOptions(GenLength: 8, Steps: 8, BlockLength: 8));
        var g = new torch.Generator(1);
        DlmException Throws(Action a) => Assert.Throws<DlmException>(a);
        using var oneD = torch.tensor(A);
        Assert.Contains("[batch, length]", Throws(() => s.Generate(model, oneD, g)).Message);
        using var floats = torch.zeros(1, 4);
        Assert.Contains("integer token ids", Throws(() => s.Generate(model, floats, g)).Message);
        using var big = torch.tensor(new long[] { 1, 99 }, new long[] { 1, 2 });
        Assert.Contains("[0, 12)", Throws(() => s.Generate(model, big, g)).Message);
        using var ok = torch.tensor(A, new long[] { 1, 4 });
        using var badMask = torch.ones(1, 5);
        Assert.Contains("attention mask must cover the prompt, [1, 4]", Throws(() => s.Generate(model, ok, g, badMask)).Message);
        var tooLong = new LladaSampler(new LladaSamplerOptions(GenLength: 256, Steps: 8, BlockLength: 256));
        Assert.Contains("exceeds the model's max sequence length 256", Throws(() => tooLong.Generate(model, ok, g)).Message);
        var noEot = new LladaSampler(new LladaSamplerOptions(GenLength: 8, Steps: 8, BlockLength: 8, ConfidenceEosEotInf: true));
        Assert.Contains("needs an EoT id", Throws(() => noEot.Generate(model, ok, g)).Message);
        var badEos = new LladaSampler(new LladaSamplerOptions(GenLength: 8, Steps: 8, BlockLength: 8, LogitsEosInf: true, EosId: 40));
        Assert.Contains("EOS id 40 is outside the vocabulary", Throws(() => badEos.Generate(model, ok, g)).Message);
        Assert.Contains("pad id equals the mask id", Throws(() => PromptBatch.LeftPad([[1, 2], [3]], 11, 11)).Message);
    }

    [Fact]
    public void TopKTiesFollowTorchOrLowestIndex()
    {
        using var row = torch.zeros(8);
        var (vals, idx) = torch.topk(row, 3);
        Assert.Equal(idx.data<long>().ToArray(), SamplingOps.TopK(row, 3, TopKTies.Torch));
        vals.Dispose(); idx.Dispose();
        Assert.Equal([0L, 1, 2], SamplingOps.TopK(row, 3, TopKTies.LowestIndex));
        using var mixed = torch.tensor(new float[] { 0.1f, 0.9f, float.NaN, 0.9f, float.NegativeInfinity, 0.9f });
        Assert.Equal([2L, 1, 3, 5], SamplingOps.TopK(mixed, 4, TopKTies.LowestIndex));
        Assert.Equal(2L, SamplingOps.TopK(mixed, 1, TopKTies.Torch)[0]); // torch ranks NaN first too
        Assert.Empty(SamplingOps.TopK(mixed, 0, TopKTies.Torch));
    }

    [Fact]
    public void AllTiedConfidencesCommitLeftToRightUnderLowestIndex()
    {
        var o = new LladaSamplerOptions(GenLength: 8, Steps: 8, BlockLength: 8, Ties: TopKTies.LowestIndex);
        var r = Run(new FakeDenoiser { Constant = true }, o, [A]);
        Assert.Equal(Enumerable.Range(4, 8), r.Trace.Select(s => Assert.Single(s.Commits).Position));
    }

    /// <summary>
    /// Under <see cref="TopKTies.Torch"/>, with every confidence tied, each step commits the position that torch.topk
    /// itself picks from the step's confidence row (−∞ off the masked positions, 1/V on them), called here directly as
    /// LLaDA's generate() calls it (torch.topk(confidence[j], k=1)), never through the code under test.
    /// </summary>
    static void AssertTiedStepsFollowTorchTopK(LladaSamplerOptions o)
    {
        var r = Run(new FakeDenoiser { Constant = true }, o, [A]);
        var masked = Enumerable.Range(4, 8).ToList();
        foreach (var step in r.Trace)
        {
            var conf = Enumerable.Range(0, 12).Select(i => masked.Contains(i) ? 1f / FakeDenoiser.Vocab : float.NegativeInfinity).ToArray();
            using var row = torch.tensor(conf);
            var (values, indices) = torch.topk(row, 1, dim: 0, largest: true, sorted: true);
            long want = indices.data<long>()[0];
            values.Dispose(); indices.Dispose();
            Assert.Equal(want, Assert.Single(step.Commits).Position);
            masked.Remove((int)want);
        }
    }

    [Fact]
    public void AllTiedConfidencesCommitWhatTorchTopKPicksUnderTorch() =>
        AssertTiedStepsFollowTorchTopK(new LladaSamplerOptions(GenLength: 8, Steps: 8, BlockLength: 8, Ties: TopKTies.Torch));

    /// <summary>Mutation: a sampler that breaks ties lowest position first while torch's order is asked for is rejected.</summary>
    [Fact]
    public void MutantLowestIndexTiesAreRejectedByTheTorchCheck() =>
        Assert.ThrowsAny<Xunit.Sdk.XunitException>(() =>
            AssertTiedStepsFollowTorchTopK(new LladaSamplerOptions(GenLength: 8, Steps: 8, BlockLength: 8, Ties: TopKTies.LowestIndex)));

    [Fact]
    public void GenerateWithTensorsMatchesGenerateWithArrays()
    {
        var o = new LladaSamplerOptions(GenLength: 8, Steps: 4, BlockLength: 8, Temperature: 1);
        var viaArrays = Run(new FakeDenoiser(), o, [A, B], seed: 5);
        using var prompt = torch.tensor(A.Concat(B).ToArray(), new long[] { 2, 4 });
        var viaTensor = new LladaSampler(o).Generate(new FakeDenoiser(), prompt, new torch.Generator(5));
        Assert.Equal(viaArrays.Ids, viaTensor.Ids);
        Assert.Equal(viaArrays.Ids.Select(r => r[4..]), viaTensor.Completions);
    }
}
