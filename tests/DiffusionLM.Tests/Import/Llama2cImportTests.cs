using System.Text;
using DiffusionLM.Cli;
using DiffusionLM.Import;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Import;

[Collection("TorchGlobalState")] // redirects the CLI's Io writers
public class Llama2cImportTests
{
    static long[] Greedy(IDenoiser model, int n, bool useCache)
    {
        var sampler = new AutoregressiveSampler(new AutoregressiveOptions(n, 0.0, StopToken: Llama2cTokenizer.BosId, UseCache: useCache));
        using var g = new Generator(0);
        return sampler.Generate(model, [new long[] { Llama2cTokenizer.BosId }], g).Completions[0];
    }

    [Fact]
    public void GreedyDecodingPrintsTheGoldenOutputByteForByte()
    {
        var golden = File.ReadAllBytes(Stories260K.Golden);
        var ids = Greedy(Stories260K.Model, 256, useCache: true);
        Assert.DoesNotContain((long)Llama2cTokenizer.BosId, ids); // run.c printed all 256 pieces
        var text = Stories260K.Tokenizer.DecodeRunC(Llama2cTokenizer.BosId, ids.Select(i => (int)i)) + "\n";
        Assert.Equal(golden, Encoding.UTF8.GetBytes(text));
    }

    [Fact]
    public void CliImportThenGenerateIsTheGoldenOutput()
    {
        using var tmp = new TempFolder();
        var dir = tmp["model"];
        var (oldOut, oldErr) = (Io.Out, Io.Err);
        try
        {
            var err = new StringWriter();
            Io.Err = err;
            Io.Out = new StringWriter();
            Assert.Equal(0, Program.Run(["import", "llama2c", "--checkpoint", Stories260K.Bin, "--tokenizer", Stories260K.Tok, "--out", dir]));
            var output = new StringWriter { NewLine = "\n" };
            Io.Out = output;
            Assert.Equal(0, Program.Run(["generate", "--model", dir, "--prompt", "", "--gen-length", "256", "--temperature", "0"]));
            Assert.Equal(File.ReadAllText(Stories260K.Golden), output.ToString());
        }
        finally { (Io.Out, Io.Err) = (oldOut, oldErr); }
        var config = ModelConfig.Load(Path.Combine(dir, "config.json"));
        Assert.True(config.Causal);
        Assert.True(config.WeightTying);
        Assert.Equal(-1, config.MaskTokenId);
        Assert.Equal((2, 1), (config.EosTokenId, config.BosTokenId));
    }

    [Fact]
    public void TheBundledModelFolderIsTheImportOfTheBundledFiles()
    {
        var bundled = Path.Combine(Stories260K.RepoRoot, "models", "stories260K");
        using var tmp = new TempFolder();
        Llama2cImporter.Import(Stories260K.Bin, Stories260K.Tok, tmp["model"]);
        foreach (var f in new[] { "config.json", "model.safetensors", "tokenizer.json" })
            Assert.True(File.ReadAllBytes(Path.Combine(bundled, f)).SequenceEqual(File.ReadAllBytes(Path.Combine(tmp["model"], f))), f);
    }

    [Fact]
    public void CachedAndUncachedGreedyDecodersAgree()
    {
        Assert.Equal(Greedy(Stories260K.Model, 48, useCache: false), Greedy(Stories260K.Model, 48, useCache: true));
    }

    /// <summary>A llama2.c v0 file of the given header with random weights.</summary>
    static void WriteBin(string path, int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen)
    {
        var h = new Llama2cHeader(dim, hidden, layers, heads, kvHeads, Math.Abs(vocab), seqLen, vocab > 0);
        var rng = new Random(1);
        using var w = new BinaryWriter(File.Create(path));
        foreach (var v in new[] { dim, hidden, layers, heads, kvHeads, vocab, seqLen }) w.Write(v);
        for (long i = 0; i < h.FloatCount; i++) w.Write((float)(rng.NextDouble() - 0.5));
    }

    [Fact]
    public void TruncatedOrCorruptCheckpointsAreClearErrors()
    {
        using var tmp = new TempFolder();
        var bytes = File.ReadAllBytes(Stories260K.Bin);
        File.WriteAllBytes(tmp["cut.bin"], bytes[..(bytes.Length - 1000)]);
        var e = Assert.Throws<DlmException>(() => Llama2cImporter.ReadHeader(tmp["cut.bin"]));
        Assert.Contains("cut.bin", e.Message);
        Assert.Contains($"implies {bytes.Length} bytes", e.Message);
        Assert.Contains("truncated", e.Message);

        var corrupt = (byte[])bytes.Clone();
        BitConverter.GetBytes(7).CopyTo(corrupt, 12); // n_heads 7 does not divide dim 64
        File.WriteAllBytes(tmp["corrupt.bin"], corrupt);
        e = Assert.Throws<DlmException>(() => Llama2cImporter.ReadHeader(tmp["corrupt.bin"]));
        Assert.Contains("corrupt.bin", e.Message);
        Assert.Contains("n_heads", e.Message);

        File.WriteAllBytes(tmp["tiny.bin"], bytes[..10]);
        Assert.Contains("too short", Assert.Throws<DlmException>(() => Llama2cImporter.ReadHeader(tmp["tiny.bin"])).Message);
    }

    [Fact]
    public void VocabularyMismatchBetweenModelAndTokenizerIsAClearError()
    {
        using var tmp = new TempFolder();
        WriteBin(tmp["v300.bin"], 16, 24, 1, 2, 1, 300, 32);
        var e = Assert.Throws<DlmException>(() => Llama2cImporter.Import(tmp["v300.bin"], Stories260K.Tok, tmp["out"]));
        Assert.Contains("tok512.bin", e.Message);
        Assert.Contains("300 tokens (the model's vocab_size)", e.Message);
        Assert.False(Directory.Exists(tmp["out"]));

        // A folder whose config says another vocabulary than its tokenizer.
        Llama2cImporter.Import(Stories260K.Bin, Stories260K.Tok, tmp["model"]);
        var cfg = File.ReadAllText(tmp["model/config.json"]).Replace("\"vocab_size\": 512", "\"vocab_size\": 600");
        File.WriteAllText(tmp["model/config.json"], cfg);
        e = Assert.Throws<DlmException>(() => Checkpoint.Load(tmp["model"]));
        Assert.Contains("tokenizer has 512 tokens but config.json's vocab_size is 600", e.Message);
    }

    [Fact]
    public void UntiedClassifierIsReadFromTheEndOfTheFile()
    {
        using var tmp = new TempFolder();
        WriteBin(tmp["untied.bin"], 16, 24, 2, 4, 2, -300, 32);
        var h = Llama2cImporter.ReadHeader(tmp["untied.bin"]);
        Assert.False(h.SharedClassifier);
        using var m = Llama2cImporter.ReadModel(tmp["untied.bin"]);
        Assert.False(m.Config.WeightTying);
        var floats = new float[h.FloatCount];
        Buffer.BlockCopy(File.ReadAllBytes(tmp["untied.bin"]), Llama2cHeader.Bytes, floats, 0, floats.Length * 4);
        var wcls = floats[^(300 * 16)..];
        Assert.Equal(wcls, m.Transformer.ff_out!.weight!.data<float>().ToArray());
        Assert.Equal(floats[..(300 * 16)], m.Transformer.wte.weight!.data<float>().ToArray());
    }

    [Fact]
    public void RopePermutationMovesAdjacentPairsToHalves()
    {
        // One head of size 4: rows (0,1) are a pair and (2,3) the next; rotate-half wants 0,2 | 1,3.
        using var w = arange(8, dtype: ScalarType.Float32).view(4, 2);
        using var p = Llama2cImporter.PairsToHalves(w, 1, 4);
        Assert.Equal(new float[] { 0, 1, 4, 5, 2, 3, 6, 7 }, p.data<float>().ToArray());
    }
}
