using DiffusionLM.Text;
using Xunit;

namespace DiffusionLM.Tests.Text;

public class ByteLevelPreTokenizerTests
{
    private static string[] Split(string text)
    {
        var pieces = new List<(int Start, int Length)>();
        ByteLevelPreTokenizer.Split(text, pieces);
        return pieces.Select(p => text.Substring(p.Start, p.Length)).ToArray();
    }

    [Theory]
    [InlineData("Hello world", new[] { "Hello", " world" })]
    [InlineData("Hello, world!", new[] { "Hello", ",", " world", "!" })]
    [InlineData("I'm they'll we'RE", new[] { "I", "'m", " they", "'ll", " we", "'", "RE" })]
    [InlineData("a   b", new[] { "a", "  ", " b" })]                   // the last space joins the word
    [InlineData("a\n\n b", new[] { "a", "\n\n", " b" })]
    [InlineData("a \nb", new[] { "a", " ", "\n", "b" })]                // "\s+(?!\S)" backs off, then "\s+"
    [InlineData("end  ", new[] { "end", "  " })]                        // trailing run kept whole
    [InlineData("abc123 45", new[] { "abc", "123", " 45" })]
    [InlineData(" ...!? x", new[] { " ...!?", " x" })]
    [InlineData("𝐀𝐁 😀", new[] { "𝐀𝐁", " 😀" })]                      // astral letters are letters
    [InlineData("", new string[0])]
    public void SplitsLikeGpt2(string text, string[] expected) => Assert.Equal(expected, Split(text));

    [Fact]
    public void PiecesCoverTheText()
    {
        var text = TokenizerTestData.PseudoCorpus(5000);
        Assert.Equal(text, string.Concat(Split(text)));
    }
}
