using System.Text.Json;
using DiffusionLM.Tests.Cli;
using Xunit;

namespace DiffusionLM.Tests.Serving;

/// <summary>`dlm generate --prompts`: one JSON line per sample, the same file for the same seed, batches that give
/// what one-at-a-time generation gives, and bad rows named by file, line and field.</summary>
public class BatchGenerateTests
{
    static string DefaultModel => Path.Combine(RepoPaths.Root, "models", "shakespeare");

    static (int Code, string Out, string Err) Generate(params string[] args) => CliRunner.Run(["generate", "--model", DefaultModel, .. args]);

    [Fact]
    public void SameSeedWritesTheSameFileByteForByte()
    {
        using var tmp = new TempFolder();
        File.WriteAllText(tmp["p.jsonl"], "{\"prompt\": \"Once upon a time\"}\n\n{\"prompt\": \"The cat\", \"gen_length\": 8, \"steps\": 4}\n");
        string[] args = ["--prompts", tmp["p.jsonl"], "--num-samples", "3", "--batch-size", "2", "--gen-length", "12", "--steps", "12", "--temperature", "1", "--seed", "9"];
        var first = Generate([.. args, "--out", tmp["a.jsonl"]]);
        Assert.True(first.Code == 0, first.Err);
        Assert.Equal(0, Generate([.. args, "--out", tmp["b.jsonl"]]).Code);
        Assert.Equal(File.ReadAllBytes(tmp["a.jsonl"]), File.ReadAllBytes(tmp["b.jsonl"]));
        // Another seed draws other samples (the file is not the same whatever the seed).
        Assert.Equal(0, Generate([.. args.Take(args.Length - 1), "10", "--out", tmp["c.jsonl"]]).Code);
        Assert.NotEqual(File.ReadAllBytes(tmp["a.jsonl"]), File.ReadAllBytes(tmp["c.jsonl"]));

        var lines = File.ReadAllLines(tmp["a.jsonl"]).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(6, lines.Length);
        Assert.Equal([0, 0, 0, 1, 1, 1], lines.Select(l => l.GetProperty("prompt_index").GetInt32()));
        Assert.Equal([0, 1, 2, 0, 1, 2], lines.Select(l => l.GetProperty("sample").GetInt32()));
        Assert.All(lines.Take(3), l => Assert.Equal(12, l.GetProperty("ids").GetArrayLength()));
        // The row's own settings override the command line's.
        Assert.All(lines.Skip(3), l => Assert.Equal(8, l.GetProperty("ids").GetArrayLength()));
        Assert.All(lines.Skip(3), l => Assert.Equal(4, l.GetProperty("settings").GetProperty("steps").GetInt32()));
        Assert.All(lines, l => Assert.Equal("llada", l.GetProperty("settings").GetProperty("sampler").GetString()));
        Assert.All(lines, l => Assert.True(l.GetProperty("nfe").GetInt32() > 0));
        Assert.All(lines, l => Assert.False(l.TryGetProperty("seconds", out _)));
        // Temperature 1: the samples of a prompt differ from one another.
        Assert.True(lines.Take(3).Select(l => l.GetProperty("text").GetString()).Distinct().Count() > 1, "three samples at temperature 1 were identical");
    }

    [Fact]
    public void BatchedGreedyRowsEqualOneAtATimeGeneration()
    {
        using var tmp = new TempFolder();
        string[] prompts = ["Once upon a time", "The little dog ran"];
        File.WriteAllText(tmp["p.txt"], string.Join("\n", prompts) + "\n");
        // Two prompts of different lengths in one batch: the shorter is left-padded under an attention mask.
        var r = Generate("--prompts", tmp["p.txt"], "--num-samples", "2", "--batch-size", "4", "--gen-length", "10", "--steps", "10", "--block-length", "5", "--timings");
        Assert.True(r.Code == 0, r.Err);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonDocument.Parse(l).RootElement).ToArray();
        Assert.Equal(4, lines.Length);
        Assert.All(lines, l => Assert.True(l.GetProperty("seconds").GetDouble() > 0));
        for (int i = 0; i < prompts.Length; i++)
        {
            var single = Generate("--prompt", prompts[i], "--gen-length", "10", "--steps", "10", "--block-length", "5", "--json");
            var ids = JsonDocument.Parse(single.Out).RootElement.GetProperty("ids").EnumerateArray().Select(x => x.GetInt64()).ToArray();
            foreach (var line in lines.Where(l => l.GetProperty("prompt_index").GetInt32() == i))
                Assert.Equal(ids, line.GetProperty("ids").EnumerateArray().Select(x => x.GetInt64()));
        }
    }

    [Theory]
    [InlineData("{\"prompt\": \"a\", \"steps\": \"four\"}\n", "p.jsonl:1: steps must be an integer")]
    [InlineData("{\"prompt\": \"a\"}\n{\"text\": \"b\"}\n", "p.jsonl:2: unknown field \"text\"")]
    [InlineData("{\"prompt\": 3}\n", "p.jsonl:1: \"prompt\" must be a string")]
    [InlineData("{\"prompt\": \"a\", \"sampler\": \"nope\"}\n", "prompt 1: sampler: unknown sampler \"nope\"")]
    [InlineData("{\"prompt\": \"a\"\n", "p.jsonl:1: not valid JSON")]
    public void BadRowsAreNamedAndNothingIsWritten(string content, string expected)
    {
        using var tmp = new TempFolder();
        File.WriteAllText(tmp["p.jsonl"], content);
        var r = Generate("--prompts", tmp["p.jsonl"], "--gen-length", "4", "--steps", "4", "--out", tmp["out.jsonl"]);
        Assert.Equal(2, r.Code);
        Assert.Contains(expected, r.Err);
        Assert.False(File.Exists(tmp["out.jsonl"]));
    }

    [Fact]
    public void BatchOptionsNeedPrompts()
    {
        var r = Generate("--prompt", "hi", "--num-samples", "4");
        Assert.Equal(2, r.Code);
        Assert.Contains("--num-samples applies to --prompts FILE only", r.Err);
        Assert.Contains("--prompt TEXT (or --prompts FILE) is required", Generate("--gen-length", "4").Err);
    }
}
