using Xunit;
using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;
using static DiffusionLM.Tests.Models.SafeTensorsTests;

namespace DiffusionLM.Tests.Models;

public class SafeTensorsFolderTests
{
    static void WriteSharded(string folder, Dictionary<string, Tensor> shard1, Dictionary<string, Tensor> shard2, string? indexShard2Name = null)
    {
        const string s1 = "model-00001-of-00002.safetensors", s2 = "model-00002-of-00002.safetensors";
        SafeTensors.Save(Path.Combine(folder, s1), shard1);
        SafeTensors.Save(Path.Combine(folder, s2), shard2);
        var map = shard1.Keys.Select(k => $"\"{k}\": \"{s1}\"").Concat(shard2.Keys.Select(k => $"\"{k}\": \"{indexShard2Name ?? s2}\""));
        File.WriteAllText(Path.Combine(folder, SafeTensors.IndexFileName),
            """{"metadata": {"total_size": 1234, "format": "pt"}, "weight_map": {""" + string.Join(", ", map) + "}}");
    }

    [Fact]
    public void Two_shards_load_all_tensors_through_the_index()
    {
        using var dir = new TempFolder();
        var g = new torch.Generator(3);
        using var a = torch.randn([3, 2], generator: g);
        using var b = torch.randn([4], generator: g).to(ScalarType.BFloat16);
        using var c = torch.arange(5, ScalarType.Int64);
        WriteSharded(dir.Path, new() { ["a"] = a, ["b"] = b }, new() { ["c"] = c });

        var index = SafeTensors.ReadIndex(dir.Path);
        Assert.Equal("1234", index.Metadata["total_size"]);
        Assert.Equal("pt", index.Metadata["format"]);
        Assert.Equal(2, index.Shards.Count);

        var d = SafeTensors.LoadFolder(dir.Path);
        Assert.Equal(["a", "b", "c"], d.Keys.Order());
        AssertSame(a, d["a"]);
        Assert.Equal(ScalarType.BFloat16, d["b"].dtype);
        AssertSame(b, d["b"]);
        AssertSame(c, d["c"]);
        foreach (var t in d.Values) t.Dispose();

        var only = SafeTensors.LoadFolder(dir.Path, ["c"]);
        Assert.Equal(["c"], only.Keys);
        only["c"].Dispose();

        var list = SafeTensors.ListFolder(dir.Path);
        Assert.Equal(["a", "b", "c"], list.Keys);
        Assert.Equal("BF16", list["b"].DType);
        Assert.Equal([3L, 2L], list["a"].Shape);
        Assert.EndsWith("model-00002-of-00002.safetensors", list["c"].File);
    }

    [Fact]
    public void Index_pointing_to_a_missing_shard_names_the_missing_file()
    {
        using var dir = new TempFolder();
        using var a = torch.ones(2);
        using var c = torch.ones(2);
        WriteSharded(dir.Path, new() { ["a"] = a }, new() { ["c"] = c }, indexShard2Name: "model-00002-of-00009.safetensors");
        var e = Assert.Throws<DlmException>(() => SafeTensors.LoadFolder(dir.Path));
        Assert.Contains("model-00002-of-00009.safetensors", e.Message);
        Assert.Contains(SafeTensors.IndexFileName, e.Message);
        e = Assert.Throws<DlmException>(() => SafeTensors.ReadIndex(dir.Path));
        Assert.Contains("model-00002-of-00009.safetensors", e.Message);
    }

    [Fact]
    public void Index_mapping_a_tensor_to_the_wrong_shard_is_an_error()
    {
        using var dir = new TempFolder();
        using var a = torch.ones(2);
        using var c = torch.ones(2);
        WriteSharded(dir.Path, new() { ["a"] = a }, new() { ["c"] = c }, indexShard2Name: "model-00001-of-00002.safetensors");
        var e = Assert.Throws<DlmException>(() => SafeTensors.LoadFolder(dir.Path));
        Assert.Contains("\"c\"", e.Message);
        Assert.Contains("model-00001-of-00002.safetensors", e.Message);
        Assert.Throws<DlmException>(() => SafeTensors.ListFolder(dir.Path));
    }

    [Fact]
    public void Single_file_folder_loads_and_lists()
    {
        using var dir = new TempFolder();
        using var a = torch.ones([2, 3], ScalarType.Float16);
        SafeTensors.Save(dir[SafeTensors.SingleFileName], new Dictionary<string, Tensor> { ["a"] = a });
        var d = SafeTensors.LoadFolder(dir.Path);
        Assert.Equal(ScalarType.Float16, d["a"].dtype);
        d["a"].Dispose();
        var list = SafeTensors.ListFolder(dir.Path);
        Assert.Equal("F16", list["a"].DType);
        Assert.Equal(12, list["a"].ByteLength);
    }

    [Fact]
    public void Folder_without_weights_is_an_error()
    {
        using var dir = new TempFolder();
        var e = Assert.Throws<DlmException>(() => SafeTensors.LoadFolder(dir.Path));
        Assert.Contains(dir.Path, e.Message);
        Assert.Contains(SafeTensors.SingleFileName, e.Message);
        e = Assert.Throws<DlmException>(() => SafeTensors.LoadFolder(dir["nope"]));
        Assert.Contains("not found", e.Message);
    }
}
