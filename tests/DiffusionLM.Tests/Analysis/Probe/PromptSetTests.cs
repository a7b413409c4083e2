using Xunit;
using DiffusionLM.Analysis.Probe;

namespace DiffusionLM.Tests.Analysis.Probe;

public class PromptSetTests
{
    /// <summary>data/prompts of the repository, found from the test binaries upwards.</summary>
    public static string PromptsDir()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "data", "prompts");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("data/prompts not found above " + AppContext.BaseDirectory);
    }

    [Theory]
    [InlineData("vicuna_bench_question.jsonl", 80, "1", "How can I improve my time management skills?")]
    [InlineData("mt_bench_question.jsonl", 80, "81", "Compose an engaging travel blog post about a recent trip to Hawaii, highlighting cultural experiences and must-see attractions.")]
    [InlineData("self_instruct_seed_tasks.jsonl", 175, "seed_task_0", "Is there anything I can eat for a breakfast that doesn't include eggs, yet includes protein, and has roughly 700-1000 calories?")]
    [InlineData("self_instruct_user_oriented_252.jsonl", 252, "user_oriented_task_0", "The sentence you are given might be too wordy, complicated, or unclear.")]
    public void ReadsEveryBundledShape(string file, int count, string firstId, string firstTextStart)
    {
        var prompts = PromptSet.Load(Path.Combine(PromptsDir(), file));
        Assert.Equal(count, prompts.Count);
        Assert.Equal(firstId, prompts[0].Id);
        Assert.StartsWith(firstTextStart, prompts[0].Text);
        Assert.All(prompts, p => Assert.False(string.IsNullOrWhiteSpace(p.Text)));
        Assert.EndsWith($"{file}:1", prompts[0].Source);
    }

    [Fact]
    public void InstructionGetsTheFirstInstanceInputButNeverTheOutput()
    {
        var prompts = PromptSet.Load(Path.Combine(PromptsDir(), "self_instruct_seed_tasks.jsonl"), limit: 2);
        Assert.Equal(2, prompts.Count);
        Assert.Equal("What is the relation between the given pairs?\n\nNight : Day :: Right : Left", prompts[1].Text);
        // seed_task_0 has an empty input: the instruction alone.
        Assert.DoesNotContain("\n\n", prompts[0].Text);
        Assert.DoesNotContain("oatmeal", prompts[0].Text); // its output
    }

    [Fact]
    public void PlainTextIsOnePromptPerNonBlankLine()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["p.txt"], "first prompt\n\n  \nsecond {not json}\r\nthird\n");
        var prompts = PromptSet.Load(dir["p.txt"]);
        Assert.Equal(["first prompt", "second {not json}", "third"], prompts.Select(p => p.Text));
        Assert.Equal("line 4", prompts[1].Id);
        Assert.Equal(2, PromptSet.Load(dir["p.txt"], limit: 2).Count);
    }

    [Fact]
    public void BadFilesGiveClearErrors()
    {
        using var dir = new TempFolder();
        File.WriteAllText(dir["empty.jsonl"], "");
        File.WriteAllText(dir["blank.txt"], "\n \n");
        File.WriteAllText(dir["broken.jsonl"], "{\"turns\": [\"ok\"]}\n{\"turns\": [\"unterminated\"\n");
        File.WriteAllText(dir["shape.jsonl"], "{\"turns\": [\"ok\"]}\n\n{\"answer\": \"no prompt here\"}\n");
        File.WriteAllText(dir["emptyprompt.jsonl"], "{\"prompt\": \"  \"}\n");
        File.WriteAllText(dir["array.jsonl"], "[1, 2]\n");

        Assert.Contains("empty.jsonl: no prompts found", Assert.Throws<DlmException>(() => PromptSet.Load(dir["empty.jsonl"])).Message);
        Assert.Contains("blank.txt: no prompts found", Assert.Throws<DlmException>(() => PromptSet.Load(dir["blank.txt"])).Message);
        Assert.Contains("broken.jsonl:2: not valid JSON", Assert.Throws<DlmException>(() => PromptSet.Load(dir["broken.jsonl"])).Message);
        var shape = Assert.Throws<DlmException>(() => PromptSet.Load(dir["shape.jsonl"])).Message;
        Assert.Contains("shape.jsonl:3: no prompt in this object", shape);
        Assert.Contains("\"turns\"", shape);
        Assert.Contains("emptyprompt.jsonl:1: the prompt is empty", Assert.Throws<DlmException>(() => PromptSet.Load(dir["emptyprompt.jsonl"])).Message);
        Assert.Contains("array.jsonl:1: expected a JSON object", Assert.Throws<DlmException>(() => PromptSet.Load(dir["array.jsonl"])).Message);
        Assert.Contains("not found", Assert.Throws<DlmException>(() => PromptSet.Load(dir["missing.jsonl"])).Message);
        Assert.Contains("--limit must be positive", Assert.Throws<DlmException>(() => PromptSet.Load(dir["blank.txt"], limit: 0)).Message);
    }
}
