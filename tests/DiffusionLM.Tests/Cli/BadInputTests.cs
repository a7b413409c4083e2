using DiffusionLM.Models;
using Xunit;

namespace DiffusionLM.Tests.Cli;

/// <summary>
/// Bad input gets one clear line naming the problem and a non-zero exit: no stack trace, nothing half-written.
/// </summary>
[Collection("TorchGlobalState")]
public class BadInputTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    static void AssertCleanError((int Code, string Out, string Err) r, string expected)
    {
        Assert.NotEqual(0, r.Code);
        Assert.StartsWith("error: ", r.Err);
        Assert.Contains(expected, r.Err);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void GenerateWorksOnTheFixture()
    {
        var r = CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", "the cat", "--gen-length", "8", "--steps", "4");
        Assert.Equal(0, r.Code);
        // Nothing on stderr but, at most, the hint that the answer ended at once.
        Assert.True(r.Err == "" || r.Err.StartsWith("(the model ended the answer at once"), r.Err);
    }

    [Fact]
    public void MissingWeights()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        File.Delete(Path.Combine(dir, Checkpoint.WeightsFile));
        AssertCleanError(CliRunner.Run("generate", "--model", dir, "--prompt", "hi", "--gen-length", "8", "--steps", "8"), "model.safetensors");
    }

    [Fact]
    public void TruncatedWeights()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        var path = Path.Combine(dir, Checkpoint.WeightsFile);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        AssertCleanError(CliRunner.Run("generate", "--model", dir, "--prompt", "hi", "--gen-length", "8", "--steps", "8"), "truncated");
    }

    [Fact]
    public void ConfigMissingAField()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        var path = Path.Combine(dir, Checkpoint.ConfigFile);
        var node = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        node.Remove("n_layers");
        File.WriteAllText(path, node.ToJsonString());
        AssertCleanError(CliRunner.Run("generate", "--model", dir, "--prompt", "hi", "--gen-length", "8", "--steps", "8"), "\"n_layers\"");
    }

    [Fact]
    public void PromptLongerThanTheContext()
    {
        var prompt = string.Join(" ", Enumerable.Repeat("the cat sat on the mat.", 40));
        AssertCleanError(CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", prompt, "--gen-length", "8", "--steps", "8"), "context");
    }

    [Fact]
    public void StepsNotDivisibleByBlocks()
        => AssertCleanError(CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", "hi", "--gen-length", "16", "--block-length", "4", "--steps", "6"), "divisible");

    [Fact]
    public void GenLengthNotAMultipleOfBlockLength()
        => AssertCleanError(CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", "hi", "--gen-length", "10", "--block-length", "4", "--steps", "10"), "multiple");

    [Fact]
    public void EmptyTrainingFileWritesNothing()
    {
        using var tmp = new TempFolder();
        File.WriteAllText(tmp["empty.txt"], "");
        AssertCleanError(CliRunner.Run("train", "--data", tmp["empty.txt"], "--out", tmp["out"], "--steps", "1"), "empty");
        Assert.False(Directory.Exists(tmp["out"]));
        Assert.Empty(Directory.GetDirectories(tmp.Path));
    }

    [Fact]
    public void UnknownSampler()
        => AssertCleanError(CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", "hi", "--sampler", "nope"), "unknown sampler");
}
