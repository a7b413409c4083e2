using DiffusionLM.Text;
using Xunit;

namespace DiffusionLM.Tests.Text;

public class ByteLevelBpeTokenizerTests
{
    public static TheoryData<string> Strings => new()
    {
        "", " ", "   ", "\n", "\t \r\n  \n", "Hello, world!", "  leading and trailing  ",
        "héllo wörld — “quotes” ½ ٣", "emoji 😀👍🏽 family 👨‍👩‍👧 𝐀𝐁𝐂", "日本語のテキスト", "Привет, мир",
        "I'll don't can't 's 'S", "12345 3.14 1,000,000", "a\u00a0b\u2003c\u3000d\u0085e", "\0\u0001\u007f",
        "<|eos|>", "x<|mask|>y <|pad <|bos|>", "tab\tnew\nline\r\nend",
    };

    [Theory]
    [MemberData(nameof(Strings))]
    public void DecodeOfEncodeGivesTheTextBack(string text)
    {
        var tok = TokenizerTestData.Shared;
        Assert.Equal(text, tok.Decode(tok.Encode(text), skipSpecial: false));
    }

    [Fact]
    public void RoundTripsALargeCorpus()
    {
        var tok = TokenizerTestData.Shared;
        var text = TokenizerTestData.PseudoCorpus(30_000, seed: 99);
        var ids = tok.Encode(text);
        Assert.True(ids.Length < text.Length / 2, $"{ids.Length} tokens for {text.Length} chars: merges barely used");
        Assert.Equal(text, tok.Decode(ids));
    }

    [Fact]
    public void VocabularySizeIsExactAndSpecialsComeLast()
    {
        var tok = ByteLevelBpeTokenizer.Train([TokenizerTestData.PseudoCorpus(20_000)], 300);
        Assert.Equal(300, tok.VocabSize);
        Assert.Equal(300 - 256 - 4, tok.MergeCount);
        Assert.Equal(new SpecialTokens(296, 297, 298, 299), tok.Special);
        for (int id = 0; id < 300; id++) Assert.NotNull(tok.IdToToken(id));
    }

    [Fact]
    public void TrainingIsDeterministic()
    {
        var corpus = TokenizerTestData.PseudoCorpus(30_000, seed: 7);
        var a = ByteLevelBpeTokenizer.Train([corpus], 500);
        var b = ByteLevelBpeTokenizer.Train([corpus], 500);
        Assert.Equal(a.Merges, b.Merges);
        Assert.Equal(a.Encode(corpus), b.Encode(corpus));
        // Splitting the corpus into texts at word boundaries gives the same word counts, so the same merges.
        var lines = corpus.Split('\n').Select((l, i) => i == 0 ? l : "\n" + l);
        Assert.Equal(a.Merges, ByteLevelBpeTokenizer.Train(lines, 500).Merges);
    }

    [Fact]
    public void FirstMergesOfATinyCorpusAreTheOnesWorkedOutByHand()
    {
        // Words: "ab" x1, " ab" x2, " cd" x1. Pair counts: (a,b)=3, (Ġ,a)=2, (Ġ,c)=1, (c,d)=1.
        // 1: a+b (3). Then (Ġ,ab)=2 -> 2: Ġ+ab. Then (Ġ,c) and (c,d) tie at 1; the smaller id pair
        // (Ġ=32, c=99) wins -> 3: Ġ+c, 4: Ġc+d. Then no pairs are left, so the vocabulary stops short.
        var tok = ByteLevelBpeTokenizer.Train(["ab ab ab cd"], 1000);
        Assert.Equal([("a", "b"), ("Ġ", "ab"), ("Ġ", "c"), ("Ġc", "d")], tok.Merges);
        Assert.Equal(256 + 4 + 4, tok.VocabSize);
        Assert.Equal([256, 257, 257, 259], tok.Encode("ab ab ab cd"));
    }

    [Fact]
    public void MinPairCountStopsRareMerges()
    {
        var tok = ByteLevelBpeTokenizer.Train(["ab ab ab cd"], 1000, minPairCount: 2);
        Assert.Equal([("a", "b"), ("Ġ", "ab")], tok.Merges);
    }

    [Fact]
    public void SpecialTokensAreProducedOnlyByTheirExactText()
    {
        var tok = TokenizerTestData.Shared;
        var s = tok.Special;
        int[] specials = [s.MaskId, s.EosId, s.PadId, s.BosId];
        var plain = tok.Encode(TokenizerTestData.PseudoCorpus(5000) + " <|eos <| mask |> <mask> |>");
        Assert.DoesNotContain(plain, specials.Contains);

        var ids = tok.Encode("a<|eos|>b<|mask|><|mask|>");
        Assert.Equal(new[] { s.EosId, s.MaskId, s.MaskId }, ids.Where(specials.Contains));
        Assert.Equal("ab", tok.Decode(ids));
        Assert.Equal("a<|eos|>b<|mask|><|mask|>", tok.Decode(ids, skipSpecial: false));
    }

    [Fact]
    public void SpecialStringsInTheCorpusDoNotBecomeMerges()
    {
        var tok = ByteLevelBpeTokenizer.Train([string.Concat(Enumerable.Repeat("<|eos|>hi", 50))], 400);
        Assert.Equal([("h", "i")], tok.Merges); // only "hi" is left once the specials are cut out
    }

    [Fact]
    public void InvalidUtf8DecodesToReplacementCharacters()
    {
        var tok = TokenizerTestData.Shared;
        var euro = tok.Encode("€"); // three byte tokens: E2 82 AC
        Assert.Equal(3, euro.Length);
        Assert.Equal("\uFFFD", tok.Decode(euro[..2]));
        Assert.Equal("x\uFFFD", tok.Decode([.. tok.Encode("x"), euro[2]]));
        Assert.Equal("€", tok.Decode(euro));
    }

    [Fact]
    public void TokenTextShowsSurfaceText()
    {
        var tok = ByteLevelBpeTokenizer.Train(["ab ab ab cd"], 1000);
        Assert.Equal(" ab", tok.TokenText(tok.TokenToId("Ġab")!.Value));
        Assert.Equal("\n", tok.TokenText('\n'));
        Assert.Equal("<0xE2>", tok.TokenText(0xE2));
        Assert.Equal("<|mask|>", tok.TokenText(tok.Special.MaskId));
        Assert.Equal("<|bos|>", tok.TokenText(tok.Special.BosId));
    }

    [Fact]
    public void UnknownIdsAreRejected()
    {
        var tok = TokenizerTestData.Shared;
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.Decode([tok.VocabSize]));
        Assert.Throws<ArgumentOutOfRangeException>(() => tok.TokenText(-1));
    }

    [Theory]
    [InlineData(259)]
    [InlineData(0)]
    public void TooSmallAVocabularyIsAnError(int size)
    {
        var e = Assert.Throws<DlmException>(() => ByteLevelBpeTokenizer.Train(["some text"], size));
        Assert.Contains("vocabulary size", e.Message);
        Assert.Contains("260", e.Message);
    }

    [Fact]
    public void EmptyCorpusIsAnError()
    {
        Assert.Contains("empty", Assert.Throws<DlmException>(() => ByteLevelBpeTokenizer.Train([], 300)).Message);
        Assert.Contains("empty", Assert.Throws<DlmException>(() => ByteLevelBpeTokenizer.Train(["", ""], 300)).Message);
    }
}
