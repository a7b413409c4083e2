using System.Text;
using DiffusionLM.Models;
using DiffusionLM.Text;
using Xunit;

namespace DiffusionLM.Tests.Text;

public class Llama2cTokenizerTests
{
    static Llama2cTokenizer T => Stories260K.Tokenizer;

    /// <summary>
    /// run.c's encode() written out again, independently of the tokenizer's heap-based merge: byte strings,
    /// a full rescan of all pairs at every merge, strict > so the leftmost best pair wins.
    /// </summary>
    static List<int> ReferenceEncode(Llama2cTokenizer t, string text)
    {
        var pieces = t.Pieces.Select(p => Convert.ToHexString(p)).ToList();
        int Lookup(string hex) => pieces.IndexOf(hex);
        var tokens = new List<int>();
        var bytes = Encoding.UTF8.GetBytes(text);
        if (bytes.Length > 0) tokens.Add(Lookup(Convert.ToHexString(" "u8.ToArray())));
        int i = 0;
        while (i < bytes.Length)
        {
            int len = 1;
            while (i + len < bytes.Length && (bytes[i + len] & 0xC0) == 0x80 && len < 4) len++;
            int id = Lookup(Convert.ToHexString(bytes, i, len));
            if (id >= 0) tokens.Add(id); else for (int k = 0; k < len; k++) tokens.Add(bytes[i + k] + 3);
            i += len;
        }
        while (true)
        {
            float best = -1e10f; int bestId = -1, bestIdx = -1;
            for (int k = 0; k + 1 < tokens.Count; k++)
            {
                int id = Lookup(pieces[tokens[k]] + pieces[tokens[k + 1]]);
                if (id >= 0 && t.Scores[id] > best) { best = t.Scores[id]; bestId = id; bestIdx = k; }
            }
            if (bestIdx < 0) break;
            tokens[bestIdx] = bestId;
            tokens.RemoveAt(bestIdx + 1);
        }
        return tokens;
    }

    public static readonly string[] Samples =
    [
        "Once upon a time, there was a little girl named Lily.",
        "Lily's mom said, \"Don't worry, Lily. We can help you.\"",
        "a", "  two  spaces ", "line one\nline two\n\nend", "The cat sat. The dog ran! Why? Because.",
        "caf\u00e9 na\u00efve \u20ac5 \u2122 \u00e2", "emoji \U0001F600 and \u4e2d\u6587", "<s> </s> <unk> <0x41>", "tab\there",
    ];

    [Fact]
    public void EncodeMatchesAnIndependentRunCEncoder()
    {
        foreach (var s in Samples.Concat(File.ReadAllLines(Stories260K.Golden)))
            Assert.Equal(ReferenceEncode(T, s), T.Encode(s));
    }

    [Fact]
    public void KnownIdsFromTheVocabulary()
    {
        int Id(string piece) => T.Pieces.Select((p, i) => (p, i)).First(x => Encoding.UTF8.GetString(x.p) == piece).i;
        Assert.Empty(T.Encode(""));
        // The dummy prefix makes "a" the piece " a" (id 261, score -2 in tok512).
        Assert.Equal([261], T.Encode("a"));
        Assert.Equal(" a", Encoding.UTF8.GetString(T.Pieces[261]));
        // " the" is a single piece (265); " t" + "he" must merge into it.
        Assert.Equal([265], T.Encode("the"));
        // A character with no piece falls back to its UTF-8 bytes, id = byte + 3.
        Assert.Equal([Id(" "), 0xF0 + 3, 0x9F + 3, 0x98 + 3, 0x80 + 3], T.Encode("\U0001F600"));
        // Newline has no piece of its own: the byte token <0x0A>.
        Assert.Contains(0x0A + 3, T.Encode("a\nb"));
    }

    [Fact]
    public void DecodeInvertsEncode()
    {
        foreach (var s in Samples) Assert.Equal(s, T.Decode(T.Encode(s)));
    }

    [Fact]
    public void RunCPiecesStripTheSpaceAfterBosAndTurnByteTokensIntoBytes()
    {
        Assert.Equal("a", Encoding.UTF8.GetString(T.RunCPiece(Llama2cTokenizer.BosId, 261)));
        Assert.Equal(" a", Encoding.UTF8.GetString(T.RunCPiece(261, 261)));
        Assert.Equal("\n", Encoding.UTF8.GetString(T.RunCPiece(261, 0x0A + 3)));
        // A lone non-printable byte prints nothing (run.c's safe_printf).
        Assert.Empty(T.RunCPiece(261, 0x01 + 3));
    }

    [Fact]
    public void VocabularyHasNoDuplicatePieces()
    {
        Assert.Equal(T.PieceCount, T.Pieces.Select(Convert.ToHexString).Distinct().Count());
    }

    [Fact]
    public void JsonRoundTripAndLoaderDispatch()
    {
        using var tmp = new TempFolder();
        var masked = T.WithMask();
        masked.Save(tmp["tokenizer.json"]);
        var back = Assert.IsType<Llama2cTokenizer>(Checkpoint.LoadTokenizer(tmp["tokenizer.json"]));
        Assert.Equal(513, back.VocabSize);
        Assert.Equal(512, back.Special.MaskId);
        Assert.Equal(T.Scores, back.Scores);
        Assert.True(T.Pieces.Zip(back.Pieces).All(p => p.First.SequenceEqual(p.Second)));
        foreach (var s in Samples) Assert.Equal(T.Encode(s), back.Encode(s));

        var bpe = ByteLevelBpeTokenizer.Train(["hello world, hello there"], 270);
        bpe.Save(tmp["bpe.json"]);
        Assert.IsType<ByteLevelBpeTokenizer>(Checkpoint.LoadTokenizer(tmp["bpe.json"]));
    }

    [Fact]
    public void TokenizerFileOfTheWrongSizeIsAClearError()
    {
        using var tmp = new TempFolder();
        var bytes = File.ReadAllBytes(Stories260K.Tok);
        File.WriteAllBytes(tmp["short.bin"], bytes[..(bytes.Length - 40)]);
        var e = Assert.Throws<DlmException>(() => Llama2cTokenizer.ReadBin(tmp["short.bin"], 512));
        Assert.Contains("short.bin", e.Message);
        Assert.Contains("expected 512 tokens", e.Message);
        // The right file read for a model with a smaller vocabulary: bytes left over.
        e = Assert.Throws<DlmException>(() => Llama2cTokenizer.ReadBin(Stories260K.Tok, 300));
        Assert.Contains("bytes left after 300 tokens", e.Message);
        // ... and for a larger one: it ends early.
        e = Assert.Throws<DlmException>(() => Llama2cTokenizer.ReadBin(Stories260K.Tok, 600));
        Assert.Contains("ends after 512 tokens", e.Message);
    }
}
