using System.Text.Json;
using DiffusionLM.IO;

namespace DiffusionLM.Text;

/// <summary>
/// Token counts of the training corpus, stored with a model (unigram.json) so that the instruments can
/// compare predictions with the corpus unigram without the corpus.
/// </summary>
public static class UnigramCounts
{
    sealed record Payload(long[] counts);

    public static void Save(string path, long[] counts)
        => AtomicFile.WriteAllText(path, JsonSerializer.Serialize(new Payload(counts)));

    public static long[]? TryLoad(string path)
    {
        if (!File.Exists(path)) return null;
        try { return JsonSerializer.Deserialize<Payload>(File.ReadAllText(path))?.counts; }
        catch (JsonException e) { throw new DlmException($"{path}: not a valid unigram file ({e.Message})"); }
    }
}
