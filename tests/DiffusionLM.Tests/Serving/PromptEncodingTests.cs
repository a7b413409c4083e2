using System.Text.Json;
using DiffusionLM.Serving;
using DiffusionLM.Tests.Cli;
using Xunit;

namespace DiffusionLM.Tests.Serving;

/// <summary>
/// The server (<see cref="GenerationSession.Encode"/>) and <c>dlm generate</c> turn the same text into the same prompt
/// ids: both call PromptEncoder.ForGeneration. The default model's llama2.c tokenizer is the case that differed (the
/// server left out &lt;s&gt;, which the story model learnt opens a story); shakespeare's has a chat template.
/// </summary>
public class PromptEncodingTests
{
    static string Model(string name) => Path.Combine(RepoPaths.Root, "models", name);

    /// <summary>The prompt ids `dlm generate --json` reports for <paramref name="prompt"/> (one token generated: only the prompt matters).</summary>
    static int[] GenerateIds(string model, string prompt, bool chat)
    {
        string[] args = ["generate", "--model", model, "--prompt", prompt, "--gen-length", "1", "--steps", "1", "--json", .. chat ? new[] { "--chat" } : []];
        var (code, output, err) = CliRunner.Run(args);
        Assert.True(code == 0, err);
        using var json = JsonDocument.Parse(output);
        return json.RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    [Theory]
    [InlineData("default", "Once upon a time", false)]
    [InlineData("default", "", false)]
    [InlineData("shakespeare", "ROMEO:", false)]
    [InlineData("shakespeare", "Where did the dog go?", true)]
    [InlineData("shakespeare", "a <|mask|> in the text", false)] // a special string typed by the user stays text in both
    public void ServerAndGenerateEncodeAPromptAlike(string model, string prompt, bool chat)
    {
        using var session = GenerationSession.Open(Model(model));
        var served = session.Encode(prompt, chat);
        Assert.Equal(GenerateIds(Model(model), prompt, chat), served);
        Assert.DoesNotContain(session.Config.MaskTokenId, served);
    }

    [Fact]
    public void DefaultModelsPromptOpensWithBos()
    {
        // Not vacuous: the default model's tokenizer is llama2.c's, so both paths must have put <s> first.
        using var session = GenerationSession.Open(Model("default"));
        var ids = session.Encode("Once upon a time", chat: false);
        Assert.IsType<DiffusionLM.Text.Llama2cTokenizer>(session.Tokenizer);
        Assert.Equal(session.Tokenizer.Special.BosId, ids[0]);
        Assert.Equal(session.Tokenizer.Encode("Once upon a time"), ids[1..]);
    }
}
