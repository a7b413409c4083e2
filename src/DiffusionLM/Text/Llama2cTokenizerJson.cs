using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionLM.IO;

namespace DiffusionLM.Text;

/// <summary>
/// tokenizer.json for <see cref="Llama2cTokenizer"/>: a Hugging Face-shaped file whose model type is
/// "llama2c", holding every piece with its score, so that the folder needs no .bin. Pieces that are not
/// valid UTF-8 (none in tok512) are stored as hex. <see cref="IsLlama2c"/> lets the checkpoint loader
/// dispatch on content.
/// </summary>
public static class Llama2cTokenizerJson
{
    public const string ModelType = "llama2c";

    static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

    public static void Save(Llama2cTokenizer t, string path)
    {
        var vocab = new JsonArray();
        for (int i = 0; i < t.PieceCount; i++)
        {
            var entry = new JsonObject { ["id"] = i, ["score"] = t.Scores[i] };
            try { entry["piece"] = Strict.GetString(t.Pieces[i]); }
            catch (DecoderFallbackException) { entry["piece_hex"] = Convert.ToHexString(t.Pieces[i]); }
            vocab.Add(entry);
        }
        var root = new JsonObject
        {
            ["version"] = "1.0",
            ["model"] = new JsonObject
            {
                ["type"] = ModelType,
                ["max_token_length"] = t.MaxTokenLength,
                ["unk_id"] = Llama2cTokenizer.UnkId, ["bos_id"] = Llama2cTokenizer.BosId, ["eos_id"] = Llama2cTokenizer.EosId,
                ["mask_id"] = t.HasMask ? t.PieceCount : null,
                ["add_dummy_prefix"] = true,
                ["byte_fallback"] = true,
                ["vocab"] = vocab,
            },
        };
        var options = new JsonSerializerOptions { WriteIndented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        AtomicFile.WriteAllText(path, root.ToJsonString(options) + "\n");
    }

    /// <summary>True when the file is a tokenizer.json of model type "llama2c" (cheap: parses the JSON once).</summary>
    public static bool IsLlama2c(JsonNode? root) =>
        root is JsonObject o && o["model"] is JsonObject m && m["type"] is JsonValue v && v.TryGetValue<string>(out var type) && type == ModelType;

    public static Llama2cTokenizer Load(string path)
    {
        if (!File.Exists(path)) throw new DlmException($"{path}: tokenizer file not found");
        JsonNode? root;
        try { root = JsonNode.Parse(File.ReadAllText(path)); }
        catch (JsonException e) { throw new DlmException($"{path}: not valid JSON ({e.Message})"); }
        return FromJson(root, path);
    }

    public static Llama2cTokenizer FromJson(JsonNode? root, string path)
    {
        if (!IsLlama2c(root)) throw new DlmException($"{path}: not a llama2c tokenizer.json (model.type must be \"{ModelType}\")");
        var model = root!["model"]!;
        try
        {
            int maxLen = model["max_token_length"]!.GetValue<int>();
            var vocab = model["vocab"] as JsonArray ?? throw new DlmException($"{path}: model.vocab must be an array");
            var pieces = new List<byte[]>(vocab.Count);
            var scores = new List<float>(vocab.Count);
            for (int i = 0; i < vocab.Count; i++)
            {
                var e = vocab[i] ?? throw new DlmException($"{path}: model.vocab[{i}] is null");
                if (e["id"]?.GetValue<int>() != i) throw new DlmException($"{path}: model.vocab[{i}] has id {e["id"]}, expected {i} (entries in id order)");
                scores.Add(e["score"]!.GetValue<float>());
                pieces.Add(e["piece"] is JsonNode p ? Encoding.UTF8.GetBytes(p.GetValue<string>())
                    : e["piece_hex"] is JsonNode h ? Convert.FromHexString(h.GetValue<string>())
                    : throw new DlmException($"{path}: model.vocab[{i}] has neither \"piece\" nor \"piece_hex\""));
            }
            var maskNode = model["mask_id"];
            if (maskNode is not null && maskNode.GetValue<int>() != vocab.Count)
                throw new DlmException($"{path}: model.mask_id is {maskNode}, expected {vocab.Count} (the id after the pieces) or null");
            return new Llama2cTokenizer(pieces, scores, maxLen, withMask: maskNode is not null);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or NullReferenceException)
        {
            throw new DlmException($"{path}: malformed llama2c tokenizer.json ({e.Message})");
        }
    }
}
