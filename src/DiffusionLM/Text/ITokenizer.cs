namespace DiffusionLM.Text;

/// <summary>Ids of the special tokens every diffusion LM in the project needs.</summary>
public sealed record SpecialTokens(int MaskId, int EosId, int PadId, int BosId);

/// <summary>
/// A tokenizer: text to ids and back. Implementations: the trainable byte-level BPE
/// (saved as a Hugging Face tokenizer.json) and, later, llama2.c's score-ordered BPE.
/// </summary>
public interface ITokenizer
{
    int VocabSize { get; }
    SpecialTokens Special { get; }
    /// <summary>Encodes text without adding any special token.</summary>
    int[] Encode(string text);
    /// <summary>Decodes ids; special tokens are dropped when <paramref name="skipSpecial"/> is true.</summary>
    string Decode(IEnumerable<int> ids, bool skipSpecial = true);
    /// <summary>The token's surface text, for figures and traces (special tokens by name).</summary>
    string TokenText(int id);
}
