using DiffusionLM.Analysis.Hmm;
using DiffusionLM.Corruption.Masking;
using DiffusionLM.Models;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Corruption;

public class MaskEvidenceRemovalTests
{
    static readonly HiddenMarkovModel Hmm = HiddenMarkovModel.Random(states: 5, vocab: 7, seed: 3);
    const int L = 8;

    static long[] Counts()
    {
        using var g = new Generator(4);
        var x = Hmm.Sample(500, L, g);
        var counts = new long[Hmm.Vocab + 1];
        foreach (var v in x) counts[v]++;
        return counts;
    }

    static readonly long[] UnigramCounts = Counts();
    static readonly InformationMasking Information = new(Hmm.Vocab, TokenScores.InformationRates(UnigramCounts, Hmm.Vocab));
    static double[] Unigram => UnigramCounts.Select(c => (double)c).ToArray();

    static float[] LogSoftmaxRow(Tensor logits, int position) =>
        nn.functional.log_softmax(logits[0, position].narrow(0, 0, Hmm.Vocab), -1).data<float>().ToArray();

    [Theory]
    [InlineData(0.05)]
    [InlineData(0.3)]
    [InlineData(0.9)]
    public void RemovingTheEvidenceOfTheOneMaskedPositionGivesTheCleanConditional(double t)
    {
        // The Bayes-optimal denoiser under ours predicts p(v | x_visible)·t^λ(v), renormalised; with the evidence removed
        // it must be p(v | x_visible), the posterior of token-independent masking, exactly (one masked position: no
        // other position's evidence is left in it).
        var rates = (Func<double, double[]>)(time => Information.Exponents.Take(Hmm.Vocab).Select(l => Math.Pow(time, l)).ToArray());
        var tilted = new HmmOracle(Hmm, L, rates);
        var clean = new HmmOracle(Hmm, L);
        var corrected = new MaskEvidenceRemoval(tilted, Information, Unigram);
        using var g = new Generator(5);
        var x = Hmm.Sample(1, L, g);
        double largestTilt = 0;
        for (int i = 0; i < L; i++)
        {
            var ids = tensor(Enumerable.Range(0, L).Select(j => j == i ? Hmm.Vocab : x[0, j]).ToArray()).view(1, L);
            var time = tensor(new[] { (float)t });
            var want = LogSoftmaxRow(clean.Logits(ids), i);
            var got = LogSoftmaxRow(corrected.Logits(ids, time: time), i);
            var raw = LogSoftmaxRow(tilted.Logits(ids, time: time), i);
            for (int v = 0; v < Hmm.Vocab; v++)
            {
                Assert.Equal(want[v], got[v], 4);
                largestTilt = Math.Max(largestTilt, Math.Abs(raw[v] - want[v]));
            }
        }
        // The raw posterior must differ, or the check above would pass without the correction.
        Assert.True(largestTilt > 0.05, $"the raw posterior differs from the clean one by only {largestTilt}");
    }

    [Fact]
    public void TheTimeOfAShareOfMasksInvertsTheExpectedShare()
    {
        double total = Unigram.Sum();
        foreach (var share in new[] { 0.01, 0.2, 0.5, 0.77, 0.99 })
        {
            double t = Information.TimeOfMaskedShare(share, Unigram);
            double expected = Unigram.Select((p, v) => p / total * Math.Pow(t, Information.Exponents[v])).Sum();
            Assert.Equal(share, expected, 9);
        }
        Assert.Equal(0, Information.TimeOfMaskedShare(0, Unigram));
        Assert.Equal(1, Information.TimeOfMaskedShare(1, Unigram));
        // With every λ = 1 (uniform masking) the time is the share itself.
        var flat = new InformationMasking(Hmm.Vocab, Enumerable.Repeat(1.0, Hmm.Vocab + 1).ToArray());
        Assert.Equal(0.37, flat.TimeOfMaskedShare(0.37, Unigram), 9);
    }

    [Fact]
    public void ARowsTimeComesFromItsShareOfMasksAmongTheAttendedPositions()
    {
        int m = Hmm.Vocab;
        var corrected = new MaskEvidenceRemoval(new HmmOracle(Hmm, L), Information, Unigram);
        // Row 0: two pads (not attended), then 2 of 6 masked; row 1: 6 of 8 masked, all attended.
        var ids = tensor(new long[] { 0, 0, 1, m, 2, m, 3, 4, m, m, m, 1, m, m, 2, m }).view(2, L);
        var attention = tensor(new[] { false, false, true, true, true, true, true, true, true, true, true, true, true, true, true, true }).view(2, L);
        var times = corrected.RowTimes(ids, attention);
        Assert.Equal(Information.TimeOfMaskedShare(2.0 / 6, Unigram), times[0], 12);
        Assert.Equal(Information.TimeOfMaskedShare(6.0 / 8, Unigram), times[1], 12);
        // A row without masks is left as it is (its time is 0, where the evidence would be infinite).
        var none = tensor(new long[] { 0, 1, 2, 3, 4, 5, 6, 0 }).view(1, L);
        var logits = corrected.Logits(none);
        Assert.True(logits.isfinite().all().item<bool>());
        Assert.Equal(0, (logits - new HmmOracle(Hmm, L).Logits(none)).abs().max().item<float>());
    }

    [Fact]
    public void AModelFolderIsSampledThroughTheViewOnlyWhenItsCorruptionIsTokenDependent()
    {
        using var tmp = new TempFolder();
        var config = new ModelConfig
        {
            DModel = 16, NLayers = 1, NHeads = 2, NKvHeads = 2, MlpHiddenSize = 32, VocabSize = Hmm.Vocab + 1,
            MaxSequenceLength = L, MaskTokenId = Hmm.Vocab, EosTokenId = 0, PadTokenId = 0, BosTokenId = 0,
        };
        using var uniform = new LladaModel(config, new Generator(1));
        Assert.Same(uniform, MaskEvidenceRemoval.ForSampling(uniform, tmp.Path));
        using var ours = new LladaModel(config with { Corruption = MaskedCorruption.Information }, new Generator(1));
        // Without the training split's counts the rates are unknown: a clear error, not a silent raw posterior.
        var e = Assert.Throws<DlmException>(() => MaskEvidenceRemoval.ForSampling(ours, tmp.Path));
        Assert.Contains("unigram.json", e.Message);
        DiffusionLM.Text.UnigramCounts.Save(Path.Combine(tmp.Path, Checkpoint.UnigramFile), UnigramCounts);
        var view = Assert.IsType<MaskEvidenceRemoval>(MaskEvidenceRemoval.ForSampling(ours, tmp.Path));
        Assert.Same(ours, view.Inner);
    }
}
