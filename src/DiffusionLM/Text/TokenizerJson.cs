using System.Text.Encodings.Web;
using System.Text.Json;

namespace DiffusionLM.Text;

/// <summary>
/// Reads and writes Hugging Face's tokenizer.json for <see cref="ByteLevelBpeTokenizer"/>. The file
/// states the GPT-2 pipeline explicitly (ByteLevel pre-tokenizer and decoder, BPE model) so that HF's
/// library rebuilds exactly the tokenizer we use.
/// </summary>
internal static class TokenizerJson
{
    public static void Save(ByteLevelBpeTokenizer tokenizer, string path)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        // Same folder, so the rename is atomic and a crash never leaves a half-written tokenizer.json.
        var temp = Path.Combine(dir, $".{Path.GetFileName(full)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = File.Create(temp))
            using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions
                   {
                       Indented = true,
                       // Keep 'Ġ' and friends readable instead of \u0120.
                       Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
                   }))
            {
                Write(tokenizer, w);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(temp);
            throw new DlmException($"cannot write tokenizer file {path}: {e.Message}");
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static void Write(ByteLevelBpeTokenizer t, Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("version", "1.0");
        w.WriteNull("truncation");
        w.WriteNull("padding");
        w.WriteStartArray("added_tokens");
        foreach (var a in t.AddedTokens.OrderBy(a => a.Id))
        {
            w.WriteStartObject();
            w.WriteNumber("id", a.Id);
            w.WriteString("content", a.Content);
            w.WriteBoolean("single_word", false);
            w.WriteBoolean("lstrip", false);
            w.WriteBoolean("rstrip", false);
            w.WriteBoolean("normalized", false);
            w.WriteBoolean("special", a.Special);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteNull("normalizer");
        w.WritePropertyName("pre_tokenizer");
        WriteByteLevel(w);
        w.WriteNull("post_processor");
        w.WritePropertyName("decoder");
        WriteByteLevel(w);

        w.WriteStartObject("model");
        w.WriteString("type", "BPE");
        w.WriteNull("dropout");
        w.WriteNull("unk_token");
        w.WriteNull("continuing_subword_prefix");
        w.WriteNull("end_of_word_suffix");
        w.WriteBoolean("fuse_unk", false);
        w.WriteBoolean("byte_fallback", false);
        if (t.IgnoreMerges) w.WriteBoolean("ignore_merges", true); // only for loaded files that said so
        w.WriteStartObject("vocab");
        foreach (var (token, id) in t.Vocab.OrderBy(kv => kv.Value)) w.WriteNumber(token, id);
        w.WriteEndObject();
        w.WriteStartArray("merges");
        foreach (var (left, right, _) in t.MergeIds)
        {
            // One compact ["a","b"] per line rather than the writer's four lines per merge.
            var pair = JsonSerializer.Serialize(new[] { t.IdToToken(left), t.IdToToken(right) }, CompactOptions);
            w.WriteRawValue("\n      " + pair, skipInputValidation: true);
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static readonly JsonSerializerOptions CompactOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private static void WriteByteLevel(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", true);
        w.WriteBoolean("use_regex", true);
        w.WriteEndObject();
    }

    public static ByteLevelBpeTokenizer Load(string path)
    {
        if (!File.Exists(path)) throw new DlmException($"tokenizer file {path} does not exist");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new DlmException($"tokenizer file {path} is not valid JSON: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DlmException($"cannot read tokenizer file {path}: {e.Message}");
        }
        using (doc)
        {
            try
            {
                return Read(doc.RootElement);
            }
            catch (FormatException e)
            {
                throw new DlmException($"tokenizer file {path}: {e.Message}");
            }
        }
    }

    /// <summary>Problems are thrown as FormatException and given the file name by <see cref="Load"/>.</summary>
    private static ByteLevelBpeTokenizer Read(JsonElement root)
    {
        if (root.ValueKind != JsonValueKind.Object) throw new FormatException("the top level is not a JSON object");
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new FormatException("no \"model\" object");
        string? type = model.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
        if (type != "BPE") throw new FormatException($"model type is {(type == null ? "missing" : $"'{type}'")}, but only BPE is supported");
        foreach (var name in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (model.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null)
                throw new FormatException($"model.{name} is set, which a byte-level BPE does not support");
        bool ignoreMerges = model.TryGetProperty("ignore_merges", out var im) && im.ValueKind == JsonValueKind.True;

        if (!model.TryGetProperty("vocab", out var vocabJson) || vocabJson.ValueKind != JsonValueKind.Object)
            throw new FormatException("no model.vocab object");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        var ids = new HashSet<int>();
        foreach (var entry in vocabJson.EnumerateObject())
        {
            if (entry.Value.ValueKind != JsonValueKind.Number || !entry.Value.TryGetInt32(out int id) || id < 0)
                throw new FormatException($"vocab entry '{entry.Name}' has no valid id");
            if (!ids.Add(id)) throw new FormatException($"vocab id {id} is used twice");
            vocab[entry.Name] = id;
        }
        for (int b = 0; b < 256; b++)
        {
            var c = ByteLevelAlphabet.ByteToChar[b].ToString();
            if (!vocab.ContainsKey(c))
                throw new FormatException($"the vocabulary is not byte-level: byte 0x{b:X2} ('{c}') is missing");
        }

        var merges = new List<(int, int, int)>();
        if (!model.TryGetProperty("merges", out var mergesJson) || mergesJson.ValueKind != JsonValueKind.Array)
            throw new FormatException("no model.merges array");
        int index = 0;
        foreach (var m in mergesJson.EnumerateArray())
        {
            var (left, right) = ReadMerge(m, index);
            int Lookup(string token) => vocab.TryGetValue(token, out int id) ? id
                : throw new FormatException($"merge {index} ({left} {right}) refers to unknown token '{token}'");
            merges.Add((Lookup(left), Lookup(right), Lookup(left + right)));
            index++;
        }

        var added = new List<AddedToken>();
        if (root.TryGetProperty("added_tokens", out var addedJson) && addedJson.ValueKind == JsonValueKind.Array)
        {
            foreach (var a in addedJson.EnumerateArray())
            {
                if (a.ValueKind != JsonValueKind.Object || !a.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String
                    || !a.TryGetProperty("id", out var idJson) || !idJson.TryGetInt32(out int id) || id < 0)
                    throw new FormatException("an added_tokens entry lacks a content string or an id");
                var text = content.GetString()!;
                bool special = a.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True;
                // As HF: an added token that the model knows takes the model's id.
                added.Add(new AddedToken(vocab.TryGetValue(text, out int modelId) ? modelId : id, text, special));
            }
        }
        var missing = ByteLevelBpeTokenizer.SpecialContents.Where(s => added.All(a => a.Content != s)).ToList();
        if (missing.Count > 0)
            throw new FormatException($"special token{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing)} missing from added_tokens");
        // Ids index arrays the size of the vocabulary: a file's "id": 100000000 must not allocate them.
        if (vocab.Values.Concat(added.Select(a => a.Id)).DefaultIfEmpty(0).Max() >= Models.ModelConfig.MaxVocab)
            throw new DlmException($"a token id is at least {Models.ModelConfig.MaxVocab}: far above any vocabulary this project reads");
        return new ByteLevelBpeTokenizer(vocab, merges, added, ignoreMerges);
    }

    private static (string Left, string Right) ReadMerge(JsonElement m, int index)
    {
        if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2
            && m[0].ValueKind == JsonValueKind.String && m[1].ValueKind == JsonValueKind.String)
            return (m[0].GetString()!, m[1].GetString()!);
        if (m.ValueKind == JsonValueKind.String)
        {
            // The older form "a b": byte-level tokens never contain a real space (it is 'Ġ').
            var parts = m.GetString()!.Split(' ');
            if (parts.Length == 2) return (parts[0], parts[1]);
        }
        throw new FormatException($"merge {index} is neither [\"a\", \"b\"] nor \"a b\": {m.GetRawText()}");
    }
}
