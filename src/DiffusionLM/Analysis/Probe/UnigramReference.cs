using System.Text;
using DiffusionLM.Models;
using DiffusionLM.Text;

namespace DiffusionLM.Analysis.Probe;

/// <summary>
/// The corpus unigram a far-away masked position should fall back to, and the token classes the probe
/// calls "structural". Built from the counts stored with a model (unigram.json), so the corpus is not needed.
/// </summary>
/// <remarks>
/// Smoothing: add-½ (Jeffreys / Krichevsky–Trofimov) over the whole vocabulary,
/// q(v) = (c(v) + ½) / (Σc + ½·V). Every token then has q &gt; 0, so KL(p ‖ q) is finite for any
/// prediction p, while a token seen c times keeps almost exactly its frequency. Tokens that never occur
/// in the corpus (the mask, pad, bos tokens; eos between files only) get q ≈ ½ / Σc: a model that puts
/// mass there pays for it in the KL, which is the point.
/// </remarks>
public sealed class UnigramReference
{
    public const double Pseudocount = 0.5;
    /// <summary>"The most frequent 1% of tokens": the ⌈1% · V⌉ ids with the highest counts.</summary>
    public const double FrequentShare = 0.01;

    /// <summary>Smoothed probabilities q(v), length V.</summary>
    public double[] Probabilities { get; }
    /// <summary>The most frequent ⌈1% · V⌉ ids, most frequent first.</summary>
    public int[] Frequent { get; }
    public long TotalCount { get; }

    public UnigramReference(long[] counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        if (counts.Length == 0) throw new DlmException("unigram counts are empty");
        if (counts.Any(c => c < 0)) throw new DlmException("unigram counts must not be negative");
        TotalCount = counts.Sum();
        double denominator = TotalCount + Pseudocount * counts.Length;
        Probabilities = counts.Select(c => (c + Pseudocount) / denominator).ToArray();
        int top = (int)Math.Ceiling(FrequentShare * counts.Length);
        Frequent = Enumerable.Range(0, counts.Length).Where(i => counts[i] > 0)
            .OrderByDescending(i => counts[i]).ThenBy(i => i).Take(top).ToArray();
    }

    /// <summary>Reads &lt;model&gt;/unigram.json; null when the model has none.</summary>
    public static UnigramReference? TryLoad(string modelFolder, int vocabSize)
    {
        string path = Path.Combine(modelFolder, Checkpoint.UnigramFile);
        var counts = UnigramCounts.TryLoad(path);
        if (counts is null) return null;
        if (counts.Length != vocabSize)
            throw new DlmException($"{path}: holds {counts.Length} counts but the model's vocabulary has {vocabSize} tokens");
        return new UnigramReference(counts);
    }

    /// <summary>
    /// Which ids are structural: eos, tokens made only of punctuation, symbols and whitespace (",", ".\n", "  "),
    /// and, when a unigram is given, the most frequent 1% of tokens ("the", " and", ...).
    /// </summary>
    public static bool[] StructuralTokens(ITokenizer tokenizer, int vocabSize, int eosId, UnigramReference? unigram)
    {
        var structural = new bool[vocabSize];
        var special = tokenizer.Special;
        for (int id = 0; id < vocabSize && id < tokenizer.VocabSize; id++)
        {
            if (id == special.MaskId || id == special.PadId || id == special.BosId) continue;
            structural[id] = IsPunctuationOrSpace(tokenizer.TokenText(id));
        }
        if (eosId >= 0 && eosId < vocabSize) structural[eosId] = true;
        if (unigram is not null) foreach (var id in unigram.Frequent) if (id < vocabSize) structural[id] = true;
        return structural;
    }

    public static bool IsPunctuationOrSpace(string text)
    {
        if (text.Length == 0) return false;
        foreach (var rune in text.EnumerateRunes())
            if (!(Rune.IsPunctuation(rune) || Rune.IsSymbol(rune) || Rune.IsWhiteSpace(rune))) return false;
        return true;
    }
}
