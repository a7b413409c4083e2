using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Text;

/// <summary>
/// Training text as token ids: every file is tokenized, the last <c>validationFraction</c> of each
/// file is held out (so every book is represented in both splits), and files are joined by eos.
/// </summary>
public sealed class TokenCorpus
{
    public int[] Train { get; }
    public int[] Validation { get; }
    public IReadOnlyList<string> Files { get; }

    TokenCorpus(int[] train, int[] validation, IReadOnlyList<string> files)
    {
        Train = train; Validation = validation; Files = files;
    }

    /// <summary>Reads the files as UTF-8 text; an unreadable or empty file is an error that names it.</summary>
    public static IReadOnlyList<string> ReadTexts(IReadOnlyList<string> paths)
    {
        if (paths.Count == 0) throw new DlmException("no training data: pass at least one --data FILE");
        var texts = new List<string>();
        foreach (var p in paths)
        {
            if (!File.Exists(p)) throw new DlmException($"{p}: training file not found");
            var text = File.ReadAllText(p);
            if (string.IsNullOrWhiteSpace(text)) throw new DlmException($"{p}: training file is empty");
            texts.Add(text);
        }
        return texts;
    }

    public static TokenCorpus Build(ITokenizer tokenizer, IReadOnlyList<string> paths, IReadOnlyList<string> texts,
        int minTokens, double validationFraction = 0.05)
    {
        var train = new List<int>();
        var val = new List<int>();
        for (int f = 0; f < texts.Count; f++)
        {
            var ids = tokenizer.Encode(texts[f]);
            int cut = (int)Math.Round(ids.Length * (1 - validationFraction));
            if (train.Count > 0) train.Add(tokenizer.Special.EosId);
            train.AddRange(ids.AsSpan(0, cut));
            if (val.Count > 0) val.Add(tokenizer.Special.EosId);
            val.AddRange(ids.AsSpan(cut));
        }
        if (train.Count < minTokens || val.Count < minTokens)
            throw new DlmException(
                $"training data too small: {train.Count} training and {val.Count} held-out tokens, " +
                $"need at least {minTokens} of each (one context window); add text or lower --seq-len");
        return new TokenCorpus(train.ToArray(), val.ToArray(), paths);
    }

    /// <summary>Counts of every token id in the training split (the corpus unigram, stored with a model).</summary>
    public long[] UnigramCounts(int vocabSize)
    {
        var counts = new long[vocabSize];
        foreach (var id in Train) counts[id]++;
        return counts;
    }
}
