using System.Text.Json;
using DiffusionLM.Text;
using Xunit;

namespace DiffusionLM.Tests.Text;

public class TokenizerJsonTests
{
    [Fact]
    public void SaveThenLoadEncodesIdentically()
    {
        using var dir = new TempDir();
        var tok = TokenizerTestData.Shared;
        var path = dir.File("sub/tokenizer.json");
        tok.Save(path);
        var loaded = ByteLevelBpeTokenizer.Load(path);

        Assert.Equal(tok.VocabSize, loaded.VocabSize);
        Assert.Equal(tok.Special, loaded.Special);
        Assert.Equal(tok.Merges, loaded.Merges);
        var text = TokenizerTestData.PseudoCorpus(20_000, seed: 5) + " <|eos|> 😀 \0";
        var ids = tok.Encode(text);
        Assert.Equal(ids, loaded.Encode(text));
        Assert.Equal(tok.Decode(ids, false), loaded.Decode(ids, false));
        for (int id = 0; id < tok.VocabSize; id++) Assert.Equal(tok.TokenText(id), loaded.TokenText(id));

        // Saving the loaded one gives the same file, and no temp file is left behind.
        var again = dir.File("again.json");
        loaded.Save(again);
        Assert.Equal(File.ReadAllText(path), File.ReadAllText(again));
        Assert.Equal(["tokenizer.json"], Directory.GetFiles(dir.File("sub")).Select(Path.GetFileName));
    }

    [Fact]
    public void SavedFileHasTheHuggingFaceLayout()
    {
        using var dir = new TempDir();
        var tok = ByteLevelBpeTokenizer.Train(["ab ab ab cd"], 1000);
        var path = dir.File("tokenizer.json");
        tok.Save(path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        Assert.Equal("1.0", root.GetProperty("version").GetString());
        Assert.Equal("ByteLevel", root.GetProperty("pre_tokenizer").GetProperty("type").GetString());
        Assert.False(root.GetProperty("pre_tokenizer").GetProperty("add_prefix_space").GetBoolean());
        Assert.Equal("ByteLevel", root.GetProperty("decoder").GetProperty("type").GetString());
        var model = root.GetProperty("model");
        Assert.Equal("BPE", model.GetProperty("type").GetString());
        Assert.Equal(JsonValueKind.Null, model.GetProperty("unk_token").ValueKind);
        Assert.Equal(32, model.GetProperty("vocab").GetProperty("Ġ").GetInt32());
        Assert.Equal(256, model.GetProperty("vocab").GetProperty("ab").GetInt32());
        Assert.Equal("[\"Ġ\",\"ab\"]", model.GetProperty("merges")[1].GetRawText());
        var added = root.GetProperty("added_tokens").EnumerateArray().ToList();
        Assert.Equal(["<|mask|>", "<|eos|>", "<|pad|>", "<|bos|>"], added.Select(a => a.GetProperty("content").GetString()));
        Assert.All(added, a => Assert.True(a.GetProperty("special").GetBoolean()));
        Assert.Equal(tok.Special.EosId, added[1].GetProperty("id").GetInt32());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void MergesApplyByRankNotByPosition(bool oldStringForm)
    {
        // "abc" can become "ab c" or "a bc"; whichever merge has the lower rank (comes first) wins,
        // even though "ab" is further left.
        using var dir = new TempDir();
        object M(string a, string b) => oldStringForm ? $"{a} {b}" : new[] { a, b };
        var bcFirst = ByteLevelBpeTokenizer.Load(TokenizerTestData.WriteJson(dir.Path, ["ab", "bc"], [M("b", "c"), M("a", "b")]));
        var abFirst = ByteLevelBpeTokenizer.Load(TokenizerTestData.WriteJson(dir.Path, ["ab", "bc"], [M("a", "b"), M("b", "c")]));
        int ab = 256, bc = 257;
        Assert.Equal(['a', bc], bcFirst.Encode("abc"));
        Assert.Equal([ab, 'c'], abFirst.Encode("abc"));
        // Equal ranks on one pair: leftmost first, non-overlapping.
        Assert.Equal([ab, ab, 'a'], abFirst.Encode("ababa"));
    }

    [Fact]
    public void MergesBuildOnEarlierMerges()
    {
        using var dir = new TempDir();
        var tok = ByteLevelBpeTokenizer.Load(TokenizerTestData.WriteJson(dir.Path, ["Ġt", "he", "Ġthe"],
            [new[] { "Ġ", "t" }, new[] { "h", "e" }, new[] { "Ġt", "he" }]));
        Assert.Equal(['x', 258, 258], tok.Encode("x the the"));
        Assert.Equal(" the", tok.TokenText(258));
    }

    [Fact]
    public void MissingFileIsAnError()
    {
        using var dir = new TempDir();
        var path = dir.File("nope.json");
        var e = Assert.Throws<DlmException>(() => ByteLevelBpeTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("does not exist", e.Message);
    }

    [Fact]
    public void InvalidJsonIsAnError()
    {
        using var dir = new TempDir();
        var path = dir.File("bad.json");
        File.WriteAllText(path, "{\"model\": {\"type\": \"BPE\",");
        var e = Assert.Throws<DlmException>(() => ByteLevelBpeTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not valid JSON", e.Message);
    }

    [Fact]
    public void OtherModelTypesAreAnError()
    {
        using var dir = new TempDir();
        var path = TokenizerTestData.WriteJson(dir.Path, [], [], modelType: "WordPiece");
        var e = Assert.Throws<DlmException>(() => ByteLevelBpeTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("'WordPiece'", e.Message);
        Assert.Contains("only BPE", e.Message);
    }

    [Fact]
    public void MergeOfAnUnknownTokenIsAnError()
    {
        using var dir = new TempDir();
        var path = TokenizerTestData.WriteJson(dir.Path, ["ab"], [new[] { "a", "b" }, new[] { "ab", "zz" }]);
        var e = Assert.Throws<DlmException>(() => ByteLevelBpeTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("merge 1", e.Message);
        Assert.Contains("unknown token 'zz'", e.Message);
    }

    [Fact]
    public void MissingSpecialTokensAreAnError()
    {
        using var dir = new TempDir();
        var path = TokenizerTestData.WriteJson(dir.Path, [], [], specials: [ByteLevelBpeTokenizer.EosToken, ByteLevelBpeTokenizer.BosToken]);
        var e = Assert.Throws<DlmException>(() => ByteLevelBpeTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("<|mask|>, <|pad|>", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public void NonByteLevelVocabularyIsAnError()
    {
        using var dir = new TempDir();
        var path = dir.File("wp.json");
        File.WriteAllText(path, """{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}""");
        var e = Assert.Throws<DlmException>(() => ByteLevelBpeTokenizer.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("not byte-level", e.Message);
    }
}
