using System.Text.Json.Nodes;
using DiffusionLM.Tests.Text;
using DiffusionLM.Text;
using Xunit;

namespace DiffusionLM.Tests.Hf;

public class HfTokenizerTests
{
    /// <summary>A Llama/LLaDA-style BPE with byte_fallback: characters outside the vocabulary become &lt;0xXX&gt; byte tokens.</summary>
    [Fact]
    public void ByteFallbackAsHuggingFaceDefinesIt()
    {
        using var dir = new TempFolder();
        var vocab = new JsonObject { ["<unk>"] = 0, ["<s>"] = 1, ["</s>"] = 2 };
        for (int b = 0; b < 256; b++) vocab[$"<0x{b:X2}>"] = 3 + b;
        int next = 259;
        foreach (var t in new[] { "a", "b", "c", "h", "i", "▁", "ab", "hi", "▁hi" }) vocab[t] = next++;
        var json = new JsonObject
        {
            ["version"] = "1.0", ["truncation"] = null, ["padding"] = null,
            ["added_tokens"] = new JsonArray(
                new JsonObject { ["id"] = 0, ["content"] = "<unk>", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true },
                new JsonObject { ["id"] = 2, ["content"] = "</s>", ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true }),
            ["normalizer"] = new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = " " }, ["content"] = "▁" },
            ["pre_tokenizer"] = null, ["post_processor"] = null,
            ["decoder"] = new JsonObject
            {
                ["type"] = "Sequence",
                ["decoders"] = new JsonArray(
                    new JsonObject { ["type"] = "Replace", ["pattern"] = new JsonObject { ["String"] = "▁" }, ["content"] = " " },
                    new JsonObject { ["type"] = "ByteFallback" }, new JsonObject { ["type"] = "Fuse" }),
            },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["dropout"] = null, ["unk_token"] = "<unk>", ["continuing_subword_prefix"] = null, ["end_of_word_suffix"] = null,
                ["fuse_unk"] = true, ["byte_fallback"] = true, ["vocab"] = vocab,
                ["merges"] = new JsonArray("a b", "h i", "▁ hi"),
            },
        };
        var path = dir["tokenizer.json"];
        File.WriteAllText(path, json.ToJsonString());
        using var tok = HfTokenizer.Load(path, new SpecialTokens(MaskId: 300, EosId: 2, PadId: 2, BosId: 1));
        // "é" is not in the vocabulary: UTF-8 bytes C3 A9 as byte tokens.
        var ids = tok.Encode("ab hié");
        Assert.Equal(new[] { 265, 267, 3 + 0xC3, 3 + 0xA9 }, ids);
        Assert.Equal("ab hié", tok.Decode(ids));
        Assert.Equal("ab", tok.Decode([265, 2]));              // special </s> dropped
        Assert.Equal("ab</s>", tok.Decode([265, 2], skipSpecial: false));
        Assert.Equal("</s>", tok.TokenText(2));
        Assert.Equal("[MASK]", tok.TokenText(300));             // the mask id past the tokenizer (MDLM's case)
        Assert.Equal(2, tok.Find("</s>"));
        Assert.Equal(268, tok.VocabSize);
    }

    [Fact]
    public void ByteLevelBpeMatchesOurOwnTokenizer()
    {
        using var dir = new TempFolder();
        var ours = TokenizerTestData.Shared;
        ours.Save(dir["tokenizer.json"]);
        using var hf = HfTokenizer.Load(dir["tokenizer.json"], ours.Special);
        var text = TokenizerTestData.PseudoCorpus(2000, seed: 5) + " <|eos|> x";
        Assert.Equal(ours.Encode(text), hf.Encode(text));
        Assert.Equal(ours.Decode(ours.Encode(text)), hf.Decode(hf.Encode(text)));
        Assert.Equal(ours.VocabSize, hf.VocabSize);
    }
}
