using System.Text;
using System.Text.Json;
using DiffusionLM.Text;

namespace DiffusionLM.Tests.Text;

/// <summary>Corpora and hand-made tokenizer.json files shared by the tokenizer tests.</summary>
internal static class TokenizerTestData
{
    /// <summary>
    /// A deterministic pseudo-English corpus (Zipf-ish word choice, punctuation, newlines, some
    /// non-ASCII) standing in for Tiny Shakespeare, which CI does not have.
    /// </summary>
    public static string PseudoCorpus(int chars, int seed = 1234)
    {
        var rng = new Random(seed);
        string[] syllables = ["the", "and", "or", "ing", "er", "qu", "th", "ou", "st", "re", "ly", "an", "é", "ö", "king", "lord", "x", "z"];
        var words = Enumerable.Range(0, 400).Select(_ =>
            string.Concat(Enumerable.Range(0, 1 + rng.Next(3)).Select(_ => syllables[rng.Next(syllables.Length)]))).ToArray();
        string[] extras = ["I'll", "don't", "1599", "3.14", "日本", "😀", "--", "“so”"];
        var sb = new StringBuilder();
        while (sb.Length < chars)
        {
            int n = 3 + rng.Next(12);
            for (int i = 0; i < n; i++)
            {
                // Squaring skews the choice towards the first words, so some are frequent.
                double u = rng.NextDouble();
                var word = rng.Next(20) == 0 ? extras[rng.Next(extras.Length)] : words[(int)(u * u * words.Length)];
                if (i == 0) word = char.ToUpperInvariant(word[0]) + word[1..];
                sb.Append(i == 0 ? "" : " ").Append(word);
            }
            sb.Append(".,;:!?"[rng.Next(6)]).Append(rng.Next(4) == 0 ? "\n\n" : "\n");
        }
        return sb.ToString();
    }

    private static ByteLevelBpeTokenizer? _shared;

    /// <summary>One tokenizer trained once for the tests that only use it.</summary>
    public static ByteLevelBpeTokenizer Shared => _shared ??= ByteLevelBpeTokenizer.Train([PseudoCorpus(60_000)], 600);

    /// <summary>
    /// Writes a minimal byte-level tokenizer.json: the 256 byte chars (ids 0..255), then
    /// <paramref name="extraTokens"/>, then the four specials, with the given merges as JSON values.
    /// </summary>
    public static string WriteJson(string dir, string[] extraTokens, object[] merges, string modelType = "BPE",
        string[]? specials = null)
    {
        var vocab = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++) vocab[ByteLevelAlphabet.ByteToChar[b].ToString()] = b;
        foreach (var t in extraTokens) vocab[t] = vocab.Count;
        specials ??= [ByteLevelBpeTokenizer.MaskToken, ByteLevelBpeTokenizer.EosToken, ByteLevelBpeTokenizer.PadToken, ByteLevelBpeTokenizer.BosToken];
        var added = specials.Select(s =>
        {
            int id = vocab.Count;
            vocab[s] = id;
            return new Dictionary<string, object> { ["id"] = id, ["content"] = s, ["special"] = true, ["normalized"] = false };
        }).ToList();
        var json = new Dictionary<string, object?>
        {
            ["version"] = "1.0",
            ["added_tokens"] = added,
            ["model"] = new Dictionary<string, object?> { ["type"] = modelType, ["vocab"] = vocab, ["merges"] = merges },
        };
        var path = Path.Combine(dir, $"tok-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, JsonSerializer.Serialize(json));
        return path;
    }
}

/// <summary>A scratch folder deleted after the test.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("dlm-tok-").FullName;
    public string File(string name) => System.IO.Path.Combine(Path, name);
    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { }
    }
}
