using DiffusionLM.Models;
using DiffusionLM.Models.Dream;
using DiffusionLM.Models.Hf;
using DiffusionLM.Models.Llada;
using DiffusionLM.Models.Mdlm;
using DiffusionLM.Text;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Hf;

/// <summary>
/// Tiny random checkpoints in each released layout, written by the test in fp32 and bf16 (single file
/// and sharded), load through ModelLoader and give the logits of an independent naive computation.
/// </summary>
public class HfModelTests
{
    static readonly long[] Ids = [5, 17, 3, 99, 42, 7];

    [Theory]
    [InlineData(ScalarType.Float32, 3, false)]
    [InlineData(ScalarType.BFloat16, 1, true)]
    public void LladaMatchesNaive(ScalarType dtype, int shards, bool tied)
    {
        using var dir = new TempFolder();
        int rows = HfFixtures.Tokenizer.VocabSize + 5; // embedding_size pads vocab_size, as LLaDA's configs allow
        var cfg = HfFixtures.LladaConfig(rows, tied);
        var (_, dims) = LladaHfModel.ReadConfig(HfFixtures.Parse(cfg));
        var w = HfFixtures.Write(dir.Path, cfg, HfFixtures.Random(LladaHfModel.Spec(dims), 1), dtype, shards);
        using var loaded = ModelLoader.Load(dir.Path);
        var m = Assert.IsType<LladaHfModel>(loaded.Model);
        Assert.IsType<HfTokenizer>(loaded.Tokenizer);
        Assert.Equal(dtype, m.Weights.Raw("model.transformer.wte.weight").dtype);
        Assert.Equal(rows, m.Config.VocabSize);

        string Name(int i, string part) => string.Format(LladaHfModel.Layout.Layer[part], i);
        var head = tied ? "model.transformer.wte.weight" : "model.transformer.ff_out.weight";
        var pos = Enumerable.Range(0, Ids.Length).Select(i => (long)i).ToArray();
        var expected = NaiveReference.Decoder(w, "model.transformer.wte.weight", "model.transformer.ln_f.weight", head, Name,
            2, 4, 2, 8, 1e-5, 500000, Ids, pos, null);
        using var logits = m.Logits(tensor(Ids).unsqueeze(0));
        Assert.Equal(new long[] { 1, Ids.Length, rows }, logits.shape);
        NaiveReference.AssertClose(expected, logits[0], 2e-4, $"LLaDA {dtype}");

        // Left padding: keys masked, positions absolute (as LLaDA's attention_bias).
        var mask = new[] { false, false, true, true, true, true };
        var expectedPad = NaiveReference.Decoder(w, "model.transformer.wte.weight", "model.transformer.ln_f.weight", head, Name,
            2, 4, 2, 8, 1e-5, 500000, Ids, pos, mask);
        using var padded = m.Logits(tensor(Ids).unsqueeze(0), tensor(mask).unsqueeze(0));
        NaiveReference.AssertClose(expectedPad[2..], padded[0].narrow(0, 2, 4), 2e-4, "LLaDA padded");
    }

    [Theory]
    [InlineData(ScalarType.Float32, 2)]
    [InlineData(ScalarType.BFloat16, 1)]
    public void DreamMatchesNaiveAndShiftsLogits(ScalarType dtype, int shards)
    {
        using var dir = new TempFolder();
        var cfg = HfFixtures.DreamConfig();
        var (_, dims) = DreamModel.ReadConfig(HfFixtures.Parse(cfg));
        var w = HfFixtures.Write(dir.Path, cfg, HfFixtures.Random(DreamModel.Spec(dims), 2), dtype, shards);
        using var loaded = ModelLoader.Load(dir.Path);
        var m = Assert.IsType<DreamModel>(loaded.Model);
        string Name(int i, string part) => string.Format(DreamModel.Layout.Layer[part], i);
        var pos = Enumerable.Range(0, Ids.Length).Select(i => (long)i).ToArray();
        var expected = NaiveReference.Decoder(w, "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", Name,
            2, 4, 2, 8, 1e-6, 1e6, Ids, pos, null);
        using var raw = m.ModelLogits(tensor(Ids).unsqueeze(0));
        NaiveReference.AssertClose(expected, raw[0], 2e-4, $"Dream {dtype}");
        // Logits: row 0 is row 0, row i is the network's row i − 1 (Dream's generation shift).
        using var shifted = m.Logits(tensor(Ids).unsqueeze(0));
        var expectedShift = new[] { expected[0] }.Concat(expected[..^1]).ToArray();
        NaiveReference.AssertClose(expectedShift, shifted[0], 2e-4, "Dream shifted");

        // Left padding as Dream's _sample: positions cumsum(mask) − 1, padded keys masked.
        var mask = new[] { false, true, true, true, true, true };
        var padPos = new long[] { 1, 0, 1, 2, 3, 4 };
        var expectedPad = NaiveReference.Decoder(w, "model.embed_tokens.weight", "model.norm.weight", "lm_head.weight", Name,
            2, 4, 2, 8, 1e-6, 1e6, Ids, padPos, mask);
        using var padded = m.ModelLogits(tensor(Ids).unsqueeze(0), tensor(mask).unsqueeze(0));
        NaiveReference.AssertClose(expectedPad[1..], padded[0].narrow(0, 1, 5), 2e-4, "Dream padded");
    }

    [Theory]
    [InlineData(ScalarType.Float32, false)]
    [InlineData(ScalarType.BFloat16, true)]
    public void MdlmMatchesNaive(ScalarType dtype, bool timeConditioning)
    {
        using var dir = new TempFolder();
        var cfg = HfFixtures.MdlmConfig(timeConditioning);
        var (config, cond) = MdlmModel.ReadConfig(HfFixtures.Parse(cfg));
        var w = HfFixtures.Write(dir.Path, cfg, HfFixtures.Random(MdlmModel.Spec(config, cond), 3), dtype);
        using var loaded = ModelLoader.Load(dir.Path);
        var m = Assert.IsType<MdlmModel>(loaded.Model);
        int maskId = HfFixtures.Tokenizer.VocabSize;
        Assert.Equal(maskId, m.Config.MaskTokenId);
        long[] ids = [5, maskId, 3, maskId, maskId, 7];
        double t = 0.7, sigma = timeConditioning ? -Math.Log(1 - (1 - 1e-3) * t) : 0;
        var expected = NaiveReference.Mdlm(w, 2, 4, ids, sigma, maskId);
        using var logits = m.Logits(tensor(ids).unsqueeze(0), time: tensor(new[] { (float)t }));
        NaiveReference.AssertClose(expected, logits[0], 2e-4, $"MDLM {dtype}");
    }
}
