using DiffusionLM.Text;
using Xunit;

namespace DiffusionLM.Tests.Text;

/// <summary>
/// The real proof of tokenizer.json compatibility: Hugging Face's own tokenizers library (Rust, via
/// Tokenizers.DotNet) loads the file we write and must produce exactly our ids.
/// </summary>
public class HuggingFaceCompatibilityTests
{
    [Fact]
    public void HuggingFaceGivesTheSameIdsAsOurs()
    {
        using var dir = new TempDir();
        var tok = ByteLevelBpeTokenizer.Train([TokenizerTestData.PseudoCorpus(60_000, seed: 3)], 700);
        var path = dir.File("tokenizer.json");
        tok.Save(path);
        var hf = new Tokenizers.DotNet.Tokenizer(vocabPath: path);

        string[] texts =
        [
            TokenizerTestData.PseudoCorpus(10_000, seed: 11),
            "Hello   world\n\n  x", " \n x\t\tfoo  \n", "I'm you'll they'RE 's '''s",
            "héllo wörld — “quotes” ½ ٣", "emoji 😀👍🏽 and 𝐀𝐁𝐂 math", "日本語のテキスト",
            "x<|eos|>y <|mask|><|mask|> <|pad", "<|bos|>", "12345 3.14", "  trailing   ", "\r\n\r\n",
            "a\u00a0b\u2003c\u3000d\u0085e",
        ];
        foreach (var text in texts)
        {
            var ours = tok.Encode(text);
            var theirs = hf.Encode(text).Select(id => (int)id).ToArray();
            Assert.True(ours.SequenceEqual(theirs), $"ids differ on {text[..Math.Min(40, text.Length)]}");
            Assert.Equal(tok.Decode(ours), hf.Decode(theirs.Select(id => (uint)id).ToArray()));
        }
    }
}
