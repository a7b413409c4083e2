using Xunit;
using DiffusionLM.Analysis.Probe;
using DiffusionLM.Models;
using DiffusionLM.Reporting;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Analysis.Probe;

/// <summary>The probe's mechanics on an untrained (random) transformer: batching, references, errors.</summary>
public class InformationProbeTests
{
    const int Vocab = 40, Context = 48;
    static readonly IdTokenizer Tokenizer = new(Vocab);

    static LladaModel RandomModel()
    {
        var s = Tokenizer.Special;
        var config = new ModelConfig
        {
            DModel = 32, NHeads = 4, NKvHeads = 2, NLayers = 2, MlpHiddenSize = 64, VocabSize = Vocab, MaxSequenceLength = Context,
            MaskTokenId = s.MaskId, EosTokenId = s.EosId, PadTokenId = s.PadId, BosTokenId = s.BosId,
        };
        var model = new LladaModel(config, new Generator(3));
        model.eval();
        return model;
    }

    static ProbePrompt P(string text, int i = 0) => new($"p{i}", text, $"test:{i + 1}");

    static UnigramReference Unigram() => new(Enumerable.Range(0, Vocab).Select(i => (long)(i < Vocab - 4 ? 100 - 2 * i : 0)).ToArray());

    [Fact]
    public void LeftPaddedBatchesGiveTheNumbersOfOnePromptAtATime()
    {
        using var model = RandomModel();
        var probe = new InformationProbe(model, Tokenizer, Unigram());
        var prompts = new[] { P("3 4 5", 0), P("7 8 9 10 11 12 13", 1), P("2 2 5 6 0", 2) };
        var batched = probe.Run(prompts, new ProbeOptions(Masks: 20, TopK: 3, BatchSize: 3));
        var single = probe.Run(prompts, new ProbeOptions(Masks: 20, TopK: 3, BatchSize: 1));
        for (int p = 0; p < prompts.Length; p++)
        {
            var a = batched.Prompts[p];
            var b = single.Prompts[p];
            Assert.Same(prompts[p], a.Prompt);
            for (int i = 0; i < 20; i++)
            {
                Assert.Equal(b.Entropy[i], a.Entropy[i], 4);
                Assert.Equal(b.KlUnigram![i], a.KlUnigram![i], 4);
                Assert.Equal(b.PromptInformation[i], a.PromptInformation[i], 4);
                Assert.Equal(b.EosMass[i], a.EosMass[i], 5);
                Assert.Equal(b.Top[i][0].Id, a.Top[i][0].Id);
            }
        }
        // Different prompts really give different predictions (the comparison above is not vacuous).
        Assert.NotEqual(batched.Prompts[0].Entropy[0], batched.Prompts[1].Entropy[0], 3);
    }

    [Fact]
    public void PerPositionNumbersAreConsistent()
    {
        using var model = RandomModel();
        var r = new InformationProbe(model, Tokenizer, Unigram()).Run([P("3 4 5", 0), P("9 8", 1), P("11 12 13 14", 2)], new ProbeOptions(Masks: 16, TopK: 4));
        Assert.Equal(16, r.Aggregate.Entropy.Length);
        Assert.Equal(4, r.Prompts[0].Top[0].Length);
        foreach (var p in r.Prompts)
            for (int i = 0; i < 16; i++)
            {
                Assert.InRange(p.Entropy[i], 0, Math.Log(Vocab) + 1e-9);
                Assert.True(p.KlUnigram![i] >= -1e-9 && p.PromptInformation[i] >= -1e-9);
                Assert.InRange(p.EosMass[i], 0, 1);
                var probs = p.Top[i].Select(t => t.Probability).ToArray();
                Assert.True(probs.Zip(probs.Skip(1)).All(x => x.First >= x.Second), "top-k sorted");
                Assert.True(probs.Sum() <= 1 + 1e-9);
            }
        // The aggregate is the mean of the per-prompt numbers.
        Assert.Equal(r.Prompts.Average(p => p.Entropy[5]), r.Aggregate.Entropy[5].Mean, 12);
        Assert.Equal(3, r.Aggregate.Entropy[5].N);
        Assert.All(r.Aggregate.MutualInformation, mi => Assert.True(mi >= -1e-9));
        Assert.Equal(Tokenizer.TokenText(r.Prompts[1].Top[3][0].Id), r.Prompts[1].Top[3][0].Text);
    }

    [Fact]
    public void IdenticalPromptsCarryNoMutualInformation()
    {
        using var model = RandomModel();
        var r = new InformationProbe(model, Tokenizer, null).Run([P("5 6 7", 0), P("5 6 7", 1)], new ProbeOptions(Masks: 8));
        Assert.All(r.Aggregate.MutualInformation, mi => Assert.Equal(0, mi, 9));
        Assert.Null(r.Aggregate.KlUnigram);
        Assert.Null(r.Prompts[0].KlUnigram);
        // The masks-only reference is N masks and nothing else: the prompt changes the prediction (KL > 0).
        Assert.Equal(8, r.MasksOnly.Entropy.Length);
        Assert.All(r.Prompts[0].PromptInformation, v => Assert.True(v >= -1e-12));
        Assert.True(r.Prompts[0].PromptInformation.Max() > 0);
    }

    [Fact]
    public void UnigramIsSmoothedAddHalfAndFindsTheFrequentTokens()
    {
        var u = new UnigramReference([3, 1, 0, 0]);
        Assert.Equal([3.5 / 6, 1.5 / 6, 0.5 / 6, 0.5 / 6], u.Probabilities);
        Assert.Equal([0], u.Frequent); // ⌈1% of 4⌉ = 1 token
        // Id 7 is the most frequent token: ⌈1% of 40⌉ = 1 frequent token.
        var counts = new UnigramReference(Enumerable.Range(0, Vocab).Select(i => i == 7 ? 1000L : 10L).ToArray());
        Assert.Equal([7], counts.Frequent);
        var structural = UnigramReference.StructuralTokens(Tokenizer, Vocab, Tokenizer.Special.EosId, counts);
        Assert.True(structural[0] && structural[1]);           // "," and "."
        Assert.True(structural[7]);                             // frequent
        Assert.True(structural[Tokenizer.Special.EosId]);
        Assert.False(structural[5]);
        Assert.False(UnigramReference.StructuralTokens(Tokenizer, Vocab, Tokenizer.Special.EosId, null)[7]);
        Assert.False(structural[Tokenizer.Special.MaskId]);
        Assert.True(UnigramReference.IsPunctuationOrSpace(".\n"));
        Assert.False(UnigramReference.IsPunctuationOrSpace(" the"));
    }

    [Fact]
    public void BadRequestsGiveClearErrors()
    {
        using var model = RandomModel();
        var probe = new InformationProbe(model, Tokenizer, null);
        Assert.Contains("--masks must be positive", Assert.Throws<DlmException>(() => probe.Run([P("3")], new ProbeOptions(Masks: 0))).Message);
        Assert.Contains("--masks must be positive", Assert.Throws<DlmException>(() => probe.Run([P("3")], new ProbeOptions(Masks: -4))).Message);
        Assert.Contains("leaves no room for a prompt", Assert.Throws<DlmException>(() => probe.Run([P("3")], new ProbeOptions(Masks: Context))).Message);
        var longPrompt = P(string.Join(" ", Enumerable.Range(0, 30).Select(i => i % 30)), 4);
        var tooLong = Assert.Throws<DlmException>(() => probe.Run([longPrompt], new ProbeOptions(Masks: 20, TruncatePrompts: false))).Message;
        Assert.Contains("test:5: the prompt is 30 tokens", tooLong);
        Assert.Contains("--no-truncate", tooLong);
        Assert.Contains("prompt encodes to no tokens", Assert.Throws<DlmException>(() => probe.Run([P("  ")], new ProbeOptions(Masks: 4))).Message);
        Assert.Contains("--top-tokens must be positive", Assert.Throws<DlmException>(() => probe.Run([P("3")], new ProbeOptions(Masks: 4, TopK: 0))).Message);
        Assert.Contains("--steps must be positive", Assert.Throws<DlmException>(() => probe.Run([P("3")], new ProbeOptions(Masks: 4), new StepwiseOptions("llada", 0))).Message);
    }

    [Fact]
    public void TruncationKeepsTheTokensNextToTheMasks()
    {
        using var model = RandomModel();
        var probe = new InformationProbe(model, Tokenizer, null);
        var prompt = P(string.Join(" ", Enumerable.Range(0, 30)));
        var ids = probe.Encode(prompt, new ProbeOptions(Masks: 20, TruncatePrompts: true), out int cut);
        Assert.Equal(2, cut);
        Assert.Equal(Enumerable.Range(2, 28), ids);
        var r = probe.Run([prompt, P("3 4 5", 1)], new ProbeOptions(Masks: 20));
        Assert.Equal(28, r.Prompts[0].PromptTokens);
        Assert.Equal(2, r.Prompts[0].TruncatedTokens);
        Assert.Equal(0, r.Prompts[1].TruncatedTokens);
        Assert.StartsWith("1 of 2 prompts were cut from the left", ProbeReport.TruncationLine(r));
        Assert.Contains("2 tokens dropped", ProbeReport.TruncationLine(r));
    }

    [Fact]
    public void ModelsWithoutAMaskTokenAreRefused()
    {
        using var model = RandomModel();
        var noMask = new Reconfigured(model, model.Config with { MaskTokenId = -1 });
        Assert.Contains("has no mask token", Assert.Throws<DlmException>(() => new InformationProbe(noMask, Tokenizer, null)).Message);
        var causal = new Reconfigured(model, model.Config with { Causal = true });
        Assert.Contains("autoregressive", Assert.Throws<DlmException>(() => new InformationProbe(causal, Tokenizer, null)).Message);
    }

    /// <summary>A denoiser that reports another config (as an importer of a model without a mask token would).</summary>
    sealed class Reconfigured(IDenoiser inner, ModelConfig config) : IDenoiser
    {
        public ModelConfig Config => config;
        public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null) => inner.Logits(ids, attentionMask, time);
    }
}
