using DiffusionLM.Analysis;
using DiffusionLM.Analysis.Trap;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Tests.Sampling;
using DiffusionLM.Text;
using Xunit;

namespace DiffusionLM.Tests.Analysis;

public class NaturalTextStudyTests
{
    /// <summary>Token i is the letter 'a' + i; special ids render as nothing.</summary>
    sealed class LetterTokenizer : ITokenizer
    {
        public int VocabSize => FakeDenoiser.Vocab;
        public SpecialTokens Special => new(FakeDenoiser.Mask, FakeDenoiser.Eos, FakeDenoiser.Pad, FakeDenoiser.Eot);
        public int[] Encode(string text) => text.Select(c => c - 'a').ToArray();
        public string Decode(IEnumerable<int> ids, bool skipSpecial = true) => new(ids.Where(i => i < FakeDenoiser.Eot).Select(i => (char)('a' + i)).ToArray());
        public string TokenText(int id) => ((char)('a' + id)).ToString();
    }

    /// <summary>Scores a text by its length, and remembers what it was asked.</summary>
    sealed class FakeJudge : IJudge
    {
        public List<string> Seen { get; } = [];
        public JudgeScore Score(IReadOnlyList<string> texts)
        {
            Seen.AddRange(texts);
            double nll = texts.Average(t => t.Length) / 10.0;
            return new JudgeScore(Math.Exp(nll), nll, 1.0, texts.Sum(t => t.Length));
        }
    }

    [Fact]
    public void MeasuresJudgeCostAndDuplicates()
    {
        // A denoiser that strongly prefers token 3 everywhere: completions are "ddd...", all pairs duplicates.
        var model = new FakeDenoiser(1) { Extra = (i, v) => v == 3 ? 50f : 0f };
        using var loaded = new LoadedModel(model, new LetterTokenizer(), "fake");
        var judge = new FakeJudge();
        var setting = new TrapSetting("low_confidence", "low_confidence", new SamplerSettings(Steps: 4, Temperature: 1.0));
        var p = NaturalTextStudy.Measure(judge, loaded, setting, [[1, 2], [4, 5, 6]], genLength: 8, seed: 3);
        Assert.Equal(2, judge.Seen.Count);
        Assert.All(judge.Seen, t => Assert.Equal("dddddddd", t));
        Assert.Equal(1.0, p.DuplicateRate);
        Assert.Equal(4.0, p.CommittingSteps);
        Assert.Equal(4.0, p.Nfe);
        Assert.Equal(2.0, p.TokensPerStep);
        Assert.Equal(Math.Exp(0.8), p.GenPpl!.Value, 9);
    }

    [Fact]
    public void NoJudgeLeavesQualityEmpty()
    {
        using var loaded = new LoadedModel(new FakeDenoiser(2), new LetterTokenizer(), "fake");
        var setting = new TrapSetting("fast_dllm_threshold", "fast_dllm_threshold", new SamplerSettings(Temperature: 1.0) { Threshold = 0.9 });
        var p = NaturalTextStudy.Measure(null, loaded, setting, [[1, 2]], genLength: 6, seed: 3);
        Assert.Null(p.GenPpl);
        Assert.InRange(p.CommittingSteps, 1, 6);
        // NFE counts forward calls, committing steps only the calls after which something was committed.
        Assert.InRange(p.Nfe, p.CommittingSteps, 6);
    }

    [Fact]
    public void PmiIsPositiveOnlyWhereTheDenoiserLooks()
    {
        // FakeDenoiser's logits at i depend on x[i-1] and x[i+1] only: revealing x_i moves p(x_j) for |i − j| = 1 only.
        var model = new FakeDenoiser(6) { Scale = 2f };
        var pmi = NaturalTextStudy.PmiByDistance(model, [[1, 2, 3], [4, 5]], genLength: 12, anchors: 3, draws: 3, seed: 1);
        Assert.True(pmi.Single(p => p.Distance == 1).MeanPmi > 0.01, string.Join("; ", pmi.Select(p => $"{p.Distance}: {p.MeanPmi:G4} ({p.Pairs})")));
        Assert.All(pmi.Where(p => p.Distance >= 2), p => Assert.True(Math.Abs(p.MeanPmi) < 1e-9, $"distance {p.Distance}: {p.MeanPmi}"));
    }
}
