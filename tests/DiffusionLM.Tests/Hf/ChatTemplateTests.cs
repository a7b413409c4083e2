using System.Text.Json.Nodes;
using DiffusionLM.Text.Chat;
using Xunit;

namespace DiffusionLM.Tests.Hf;

/// <summary>
/// The real chat templates render as transformers' apply_chat_template(tokenize=False) does: every
/// expected string in Hf/Goldens/chat_renderings.json was produced by Python's Jinja2 configured as
/// transformers configures it (tools/goldens/chat_renderings.py; its command is in the file), never typed by hand.
/// </summary>
public class ChatTemplateTests
{
    static readonly Lazy<JsonObject> Doc = new(() => JsonNode.Parse(File.ReadAllText(
        Path.Combine(RepoPaths.Root, "tests", "DiffusionLM.Tests", "Hf", "Goldens", "chat_renderings.json")))!.AsObject());

    public static TheoryData<string, string, bool> Cases()
    {
        var d = new TheoryData<string, string, bool>();
        foreach (var c in Doc.Value["cases"]!.AsArray())
            d.Add((string)c!["template"]!, (string)c["conversation"]!, (bool)c["add_generation_prompt"]!);
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RendersAsJinja2(string template, string conversation, bool addGenerationPrompt)
    {
        var expected = (string)Doc.Value["cases"]!.AsArray().Single(c => (string)c!["template"]! == template
            && (string)c["conversation"]! == conversation && (bool)c["add_generation_prompt"]! == addGenerationPrompt)!["rendered"]!;
        Assert.Equal(expected, Render(template, conversation, addGenerationPrompt));
    }

    [Fact]
    public void GoldenFileSaysHowItWasMadeAndCoversTheReleasedTemplates()
    {
        Assert.Equal("tools/goldens/chat_renderings.py", (string)Doc.Value["made_by"]!);
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "tools", "goldens", "chat_renderings.py")));
        var names = Doc.Value["cases"]!.AsArray().Select(c => (string)c!["template"]!).ToHashSet();
        Assert.Superset(new HashSet<string> { "llada", "qwen25" }, names);
    }

    /// <summary>Mutation: the comparison tells renderings apart that differ in one whitespace rule (no | trim on the content).</summary>
    [Fact]
    public void ComparisonRejectsATemplateWithoutTrim()
    {
        var t = (string)Doc.Value["templates"]!["llada"]!["text"]!;
        Assert.Contains("| trim", t);
        var expected = (string)Doc.Value["cases"]!.AsArray().Single(c => (string)c!["template"]! == "llada"
            && (string)c["conversation"]! == "padded_user" && (bool)c["add_generation_prompt"]!)!["rendered"]!;
        Assert.NotEqual(expected, Render("llada", "padded_user", true, text => text.Replace("| trim", "")));
    }

    [Fact]
    public void RaiseExceptionFails() =>
        Assert.Throws<JinjaException>(() => JinjaTemplate.Parse("{{ raise_exception('bad role') }}").Render(new Dictionary<string, object?>()));

    static string Render(string template, string conversation, bool addGenerationPrompt, Func<string, string>? edit = null)
    {
        var t = Doc.Value["templates"]![template]!;
        var text = (edit ?? (s => s))((string)t["text"]!);
        var tokens = t["special_tokens"]!.AsObject().ToDictionary(kv => kv.Key, kv => (string)kv.Value!);
        var messages = Doc.Value["conversations"]![conversation]!.AsArray()
            .Select(m => new ChatMessage((string)m!["role"]!, (string)m["content"]!)).ToList();
        var extra = Doc.Value["extra_context"]![template];
        if (extra is null) return new ChatTemplate(text, tokens).Render(messages, addGenerationPrompt);
        // A template that needs more context than a conversation: the interpreter directly, same variables.
        var vars = new Dictionary<string, object?>(tokens.ToDictionary(kv => kv.Key, kv => (object?)kv.Value))
        {
            ["messages"] = messages.Select(m => (object?)new OrderedDictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        foreach (var (k, v) in extra.AsObject()) vars[k] = v!.AsArray().Select(x => (object?)(long)x!).ToList();
        return JinjaTemplate.Parse(text).Render(vars);
    }
}
