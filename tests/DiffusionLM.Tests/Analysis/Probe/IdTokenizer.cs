using DiffusionLM.Text;

namespace DiffusionLM.Tests.Analysis.Probe;

/// <summary>
/// A tokenizer for tests whose text is the ids themselves ("3 4 5"). Id 0 is ",", id 1 is "." (punctuation),
/// the last four ids are the special tokens.
/// </summary>
sealed class IdTokenizer(int vocabSize) : ITokenizer
{
    public int VocabSize => vocabSize;
    public SpecialTokens Special { get; } = new(MaskId: vocabSize - 1, EosId: vocabSize - 2, PadId: vocabSize - 3, BosId: vocabSize - 4);

    public int[] Encode(string text) =>
        text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToArray();

    public string Decode(IEnumerable<int> ids, bool skipSpecial = true) => string.Join(" ", ids.Select(i => i.ToString()));

    public string TokenText(int id) =>
        id == Special.MaskId ? "<|mask|>" : id == Special.EosId ? "<|eos|>" : id == Special.PadId ? "<|pad|>" : id == Special.BosId ? "<|bos|>"
        : id == 0 ? "," : id == 1 ? "." : $" w{id}";
}
