using System.Text.Json;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using Xunit;
using Xunit.Sdk;

namespace DiffusionLM.Tests.Cli;

/// <summary>
/// Bad input gets one clear line naming the problem and a non-zero exit: no stack trace, nothing half-written.
/// Each case states the whole line it expects, with the numbers in it worked out here from the input itself;
/// the mutation tests show that the check rejects a bad-input path that exits 0, crashes, or names nothing.
/// </summary>
[Collection("TorchGlobalState")]
public class BadInputTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    /// <summary>A user error: exit 2 (not 0, not the internal error's 3), exactly "error: {message}" on one line of stderr, nothing on stdout.</summary>
    static void AssertCleanError((int Code, string Out, string Err) r, string message)
    {
        Assert.Equal(2, r.Code);
        Assert.Equal($"error: {message}{Environment.NewLine}", r.Err);
        Assert.Equal("", r.Out);
    }

    static (int Code, string Out, string Err) Generate(string dir, params string[] extra) =>
        CliRunner.Run(["generate", "--model", dir, "--prompt", "hi", .. extra]);

    [Fact]
    public void GenerateWorksOnTheFixture()
    {
        var r = CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", "the cat", "--gen-length", "8", "--steps", "4", "--json");
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("", r.Err);
        // Four steps of two commits each fill the eight positions, each exactly once.
        using var doc = JsonDocument.Parse(r.Out);
        var root = doc.RootElement;
        Assert.Equal(4, root.GetProperty("nfe").GetInt32());
        Assert.Equal(8, root.GetProperty("ids").GetArrayLength());
        var steps = root.GetProperty("trace").EnumerateArray().ToList();
        Assert.Equal(4, steps.Count);
        Assert.All(steps, s => Assert.Equal(2, s.GetProperty("commits").GetArrayLength()));
        Assert.Equal(Enumerable.Range(0, 8), steps.SelectMany(s => s.GetProperty("commits").EnumerateArray().Select(c => c.GetProperty("position").GetInt32())).Order());
    }

    [Fact]
    public void MissingWeights()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        var path = Path.Combine(dir, Checkpoint.WeightsFile);
        File.Delete(path);
        AssertCleanError(Generate(dir, "--gen-length", "8", "--steps", "8"), $"{path}: file not found");
    }

    /// <summary>
    /// Half the file: the first tensor in the header's order whose data_offsets end past the bytes left is named, with
    /// its offsets and both sizes, all read here from the file (u64 header length, JSON header, then the data).
    /// </summary>
    [Fact]
    public void TruncatedWeights()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        var path = Path.Combine(dir, Checkpoint.WeightsFile);
        var bytes = File.ReadAllBytes(path);
        var half = bytes[..(bytes.Length / 2)];
        File.WriteAllBytes(path, half);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        long dataLength = half.Length - 8 - headerLength;
        using var header = JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        var (name, begin, end) = header.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__")
            .Select(p => (p.Name, Begin: p.Value.GetProperty("data_offsets")[0].GetInt64(), End: p.Value.GetProperty("data_offsets")[1].GetInt64()))
            .First(t => t.End > dataLength);
        AssertCleanError(Generate(dir, "--gen-length", "8", "--steps", "8"),
            $"{path}: tensor \"{name}\": data_offsets [{begin}, {end}] run past the end of the data buffer ({dataLength} bytes; file is {half.Length} bytes): the file is truncated");
    }

    (int Code, string Out, string Err) RunWithoutLayers(TempFolder tmp, out string configPath)
    {
        var dir = fixture.CopyTo(tmp);
        configPath = Path.Combine(dir, Checkpoint.ConfigFile);
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        node.Remove("n_layers");
        File.WriteAllText(configPath, node.ToJsonString());
        return Generate(dir, "--gen-length", "8", "--steps", "8");
    }

    [Fact]
    public void ConfigMissingAField()
    {
        using var tmp = new TempFolder();
        var r = RunWithoutLayers(tmp, out var config);
        AssertCleanError(r, $"{config}: missing required field \"n_layers\"");
    }

    /// <summary>
    /// Deliberately broken variants of the bad-input path, made from the real result of <see cref="ConfigMissingAField"/>:
    /// one that exits 0, one that exits 1, one that crashes (the internal error's exit 3 and its line), one whose
    /// message no longer names the field, one that adds a stack trace, one that half-writes stdout. The check rejects each.
    /// </summary>
    [Theory]
    [InlineData("exit 0")]
    [InlineData("exit 1")]
    [InlineData("crash")]
    [InlineData("field not named")]
    [InlineData("stack trace")]
    [InlineData("half-written stdout")]
    public void MutantBadInputPathIsRejected(string mutant)
    {
        using var tmp = new TempFolder();
        var r = RunWithoutLayers(tmp, out var config);
        var expected = $"{config}: missing required field \"n_layers\"";
        AssertCleanError(r, expected);
        var broken = mutant switch
        {
            "exit 0" => r with { Code = 0 },
            "exit 1" => r with { Code = 1 },
            "crash" => (3, "", $"error: NullReferenceException: Object reference not set to an instance of an object.{Environment.NewLine}(internal error; set DLM_DEBUG=1 for the stack trace){Environment.NewLine}"),
            "field not named" => r with { Err = r.Err.Replace("\"n_layers\"", "a field") },
            "stack trace" => r with { Err = r.Err + $"   at DiffusionLM.Models.ModelConfig.Load(String path){Environment.NewLine}" },
            _ => r with { Out = "the cat" },
        };
        Assert.ThrowsAny<XunitException>(() => AssertCleanError(broken, expected));
    }

    /// <summary>40 copies of a 23-character sentence: the prompt's token count from the model's own tokenizer, the context from its config.</summary>
    [Fact]
    public void PromptLongerThanTheContext()
    {
        var prompt = string.Join(" ", Enumerable.Repeat("the cat sat on the mat.", 40));
        var config = ModelConfig.Load(Path.Combine(fixture.ModelDir, Checkpoint.ConfigFile));
        int n = DiffusionLM.Text.ByteLevelBpeTokenizer.Load(Path.Combine(fixture.ModelDir, "tokenizer.json")).Encode(prompt).Length;
        Assert.True(n + 8 > config.MaxSequenceLength);
        AssertCleanError(CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", prompt, "--gen-length", "8", "--steps", "8"),
            $"the prompt is {n} tokens and --gen-length 8: {n + 8} in all, longer than the model's context of {config.MaxSequenceLength} tokens");
    }

    [Fact]
    public void StepsNotDivisibleByBlocks()
        => AssertCleanError(Generate(fixture.ModelDir, "--gen-length", "16", "--block-length", "4", "--steps", "6"),
            "--steps 6 must be divisible by the number of blocks 4 (--gen-length 16 / --block-length 4)");

    [Fact]
    public void GenLengthNotAMultipleOfBlockLength()
        => AssertCleanError(Generate(fixture.ModelDir, "--gen-length", "10", "--block-length", "4", "--steps", "10"),
            "--gen-length 10 must be a multiple of --block-length 4");

    [Fact]
    public void EmptyTrainingFileWritesNothing()
    {
        using var tmp = new TempFolder();
        File.WriteAllText(tmp["empty.txt"], "");
        AssertCleanError(CliRunner.Run("train", "--data", tmp["empty.txt"], "--out", tmp["out"], "--steps", "1"), $"{tmp["empty.txt"]}: training file is empty");
        Assert.False(Directory.Exists(tmp["out"]));
        Assert.Empty(Directory.GetDirectories(tmp.Path));
    }

    /// <summary>The message lists every sampler the registry knows, in its order.</summary>
    [Fact]
    public void UnknownSampler()
        => AssertCleanError(Generate(fixture.ModelDir, "--sampler", "nope"),
            $"unknown sampler \"nope\" (known: {string.Join(", ", SamplerRegistry.All.Select(e => e.Name))})");
}
