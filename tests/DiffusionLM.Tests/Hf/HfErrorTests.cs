using System.Text.Json.Nodes;
using DiffusionLM.Models;
using DiffusionLM.Models.Llada;
using TorchSharp;
using Xunit;

namespace DiffusionLM.Tests.Hf;

/// <summary>Broken folders give errors that name the file and the tensor.</summary>
public class HfErrorTests
{
    static (TempFolder Dir, List<string> Names) Sharded()
    {
        var dir = new TempFolder();
        var cfg = HfFixtures.LladaConfig(HfFixtures.Tokenizer.VocabSize);
        var (_, dims) = LladaHfModel.ReadConfig(HfFixtures.Parse(cfg));
        var w = HfFixtures.Random(LladaHfModel.Spec(dims), 4);
        HfFixtures.Write(dir.Path, cfg, w, torch.ScalarType.BFloat16, shards: 2);
        return (dir, w.Keys.ToList());
    }

    static string Error(string dir) => Assert.Throws<DlmException>(() => { using var _ = ModelLoader.Load(dir); }).Message;

    [Fact]
    public void TruncatedShardNamesFileAndTensor()
    {
        var (dir, _) = Sharded();
        using var __ = dir;
        var shard = dir["model-00002-of-00002.safetensors"];
        var bytes = File.ReadAllBytes(shard);
        File.WriteAllBytes(shard, bytes[..(bytes.Length - 10)]);
        var msg = Error(dir.Path);
        Assert.Contains("model-00002-of-00002.safetensors", msg);
        Assert.Contains("truncated", msg);
        Assert.Contains("tensor \"model.transformer.", msg);
    }

    [Fact]
    public void MissingTensorNamesIndexAndTensor()
    {
        using var dir = new TempFolder();
        var cfg = HfFixtures.LladaConfig(HfFixtures.Tokenizer.VocabSize);
        var (_, dims) = LladaHfModel.ReadConfig(HfFixtures.Parse(cfg));
        var w = HfFixtures.Random(LladaHfModel.Spec(dims), 4);
        w.Remove("model.transformer.blocks.1.up_proj.weight");
        HfFixtures.Write(dir.Path, cfg, w, torch.ScalarType.Float32, shards: 2);
        var msg = Error(dir.Path);
        Assert.Contains("model.safetensors.index.json", msg);
        Assert.Contains("\"model.transformer.blocks.1.up_proj.weight\" is missing", msg);
    }

    [Fact]
    public void WrongShapeNamesShardAndTensor()
    {
        using var dir = new TempFolder();
        var cfg = HfFixtures.LladaConfig(HfFixtures.Tokenizer.VocabSize);
        var (_, dims) = LladaHfModel.ReadConfig(HfFixtures.Parse(cfg));
        var w = HfFixtures.Random(LladaHfModel.Spec(dims), 4);
        w["model.transformer.blocks.0.k_proj.weight"] = torch.zeros(32, 32); // GQA expects [16, 32]
        HfFixtures.Write(dir.Path, cfg, w, torch.ScalarType.Float32);
        var msg = Error(dir.Path);
        Assert.Contains("model.safetensors: tensor \"model.transformer.blocks.0.k_proj.weight\" has shape [32, 32], config.json expects [16, 32]", msg);
    }

    [Fact]
    public void IndexPointingToMissingShardNamesBoth()
    {
        var (dir, _) = Sharded();
        using var __ = dir;
        File.Delete(dir["model-00001-of-00002.safetensors"]);
        var msg = Error(dir.Path);
        Assert.Contains("model.safetensors.index.json", msg);
        Assert.Contains("model-00001-of-00002.safetensors", msg);
        Assert.Contains("missing", msg);
    }

    [Fact]
    public void TokenizerThatDoesNotParseNamesTheFile()
    {
        var (dir, _) = Sharded();
        using var __ = dir;
        File.WriteAllText(dir["tokenizer.json"], "{\"model\": {\"vocab\": {\"a\": 0,");
        var msg = Error(dir.Path);
        Assert.Contains(dir["tokenizer.json"], msg);
        Assert.Contains("does not parse", msg);
    }

    [Fact]
    public void UnsupportedConfigNamesTheField()
    {
        using var dir = new TempFolder();
        var cfg = HfFixtures.LladaConfig(HfFixtures.Tokenizer.VocabSize);
        cfg["block_type"] = "sequential";
        HfFixtures.Write(dir.Path, cfg, new(), torch.ScalarType.Float32);
        Assert.Contains("field \"block_type\" = \"sequential\" is not supported", Error(dir.Path));
    }
}
