using System.IO.Compression;
using System.Text;
using System.Text.Json;

namespace DiffusionLM.Text;

/// <summary>
/// Training text as token ids: every file is tokenized, the last <c>validationFraction</c> of each
/// file is held out (so every book is represented in both splits), and files are joined by eos.
/// A JSON Lines file (.jsonl, .jsonl.gz: one {"text": ...} per line, as `dlm teacher-corpus` writes) is a
/// file of documents: each document is &lt;bos&gt; + its tokens (llama2.c's story layout, where the teacher
/// learnt that &lt;s&gt; starts a story), and the last documents of the file are the held-out ones.
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

    /// <summary>True for JSON Lines files of documents (.jsonl, .jsonl.gz).</summary>
    public static bool IsDocumentFile(string path) =>
        path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".jsonl.gz", StringComparison.OrdinalIgnoreCase);

    /// <summary>Reads the files as UTF-8 text; an unreadable or empty file is an error that names it.</summary>
    public static IReadOnlyList<string> ReadTexts(IReadOnlyList<string> paths) => ReadDocuments(paths).Select(Joined).ToList();

    /// <summary>A file's documents as one text (a text file is its one document): what BPE training and the resume hash read.</summary>
    public static string Joined(string[] documents) => documents.Length == 1 ? documents[0] : string.Join("\n\n", documents);

    /// <summary>Every file's documents: a text file is one document, a JSON Lines file one per line's "text".</summary>
    public static IReadOnlyList<string[]> ReadDocuments(IReadOnlyList<string> paths)
    {
        if (paths.Count == 0) throw new DlmException("no training data: pass at least one --data FILE");
        var files = new List<string[]>();
        foreach (var p in paths)
        {
            if (!File.Exists(p)) throw new DlmException($"{p}: training file not found");
            string[] docs = IsDocumentFile(p) ? ReadJsonLines(p) : [File.ReadAllText(p)];
            if (docs.All(string.IsNullOrWhiteSpace)) throw new DlmException($"{p}: training file is empty");
            files.Add(docs);
        }
        return files;
    }

    static string[] ReadJsonLines(string path)
    {
        using var file = File.OpenRead(path);
        using var input = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
        using var reader = new StreamReader(input, Encoding.UTF8);
        var docs = new List<string>();
        int lineNo = 0;
        try
        {
            for (string? line; (line = reader.ReadLine()) is not null;)
            {
                lineNo++;
                if (line.Length == 0) continue;
                using var json = JsonDocument.Parse(line);
                if (json.RootElement.ValueKind != JsonValueKind.Object || !json.RootElement.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                    throw new DlmException($"{path}: line {lineNo} is not a JSON object with a string \"text\"");
                docs.Add(text.GetString()!);
            }
        }
        catch (JsonException e) { throw new DlmException($"{path}: line {lineNo} is not valid JSON ({e.Message})"); }
        catch (InvalidDataException e) { throw new DlmException($"{path}: not a valid gzip file ({e.Message})"); }
        return docs.ToArray();
    }

    public static TokenCorpus Build(ITokenizer tokenizer, IReadOnlyList<string> paths, IReadOnlyList<string> texts,
        int minTokens, double validationFraction = 0.05) =>
        Build(tokenizer, paths, texts.Select(t => new[] { t }).ToList(), minTokens, validationFraction);

    public static TokenCorpus Build(ITokenizer tokenizer, IReadOnlyList<string> paths, IReadOnlyList<string[]> files,
        int minTokens, double validationFraction = 0.05)
    {
        var train = new List<int>();
        var val = new List<int>();
        for (int f = 0; f < files.Count; f++)
        {
            if (files[f].Length == 1 && !IsDocumentFile(paths[f]))
            {
                var ids = tokenizer.Encode(files[f][0]);
                int cut = (int)Math.Round(ids.Length * (1 - validationFraction));
                if (train.Count > 0) train.Add(tokenizer.Special.EosId);
                train.AddRange(ids.AsSpan(0, cut));
                if (val.Count > 0) val.Add(tokenizer.Special.EosId);
                val.AddRange(ids.AsSpan(cut));
                continue;
            }
            // Documents: the last ones are held out whole, so no held-out story was seen in part.
            var docs = files[f];
            int held = Math.Max(1, (int)Math.Round(docs.Length * validationFraction));
            int separator = tokenizer.Special.BosId >= 0 ? tokenizer.Special.BosId : tokenizer.Special.EosId;
            for (int d = 0; d < docs.Length; d++)
            {
                var target = d < docs.Length - held ? train : val;
                target.Add(separator);
                target.AddRange(tokenizer.Encode(docs[d]));
            }
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
