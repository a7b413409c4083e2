using System.Text;
using System.Text.Json;
using DiffusionLM.Text;

namespace DiffusionLM.Models.Gguf;

/// <summary>
/// A tokenizer as llama.cpp's vocabulary loader (llama-vocab.cpp) reads it from tokenizer.ggml.*:
/// the model ("gpt2": byte-level BPE with merges; "llama": SentencePiece-style pieces with scores and
/// &lt;0xXX&gt; byte tokens), one entry per id up to the model's vocabulary rows, the token types, and
/// the special ids. Ids the tokenizer does not use are written as "[PAD{id}]" of type UNUSED, as
/// llama.cpp's converter does for padded embedding tables.
/// </summary>
public sealed record GgufVocab(
    string Model, string? Pre, IReadOnlyList<byte[]> Tokens, IReadOnlyList<int> Types, IReadOnlyList<float>? Scores,
    IReadOnlyList<string>? Merges, SpecialTokens Special, int? UnknownId, bool AddSpacePrefix)
{
    // llama_token_type (llama.h / gguf-py TokenType).
    public const int Normal = 1, Unknown = 2, Control = 3, UserDefined = 4, Unused = 5, Byte = 6;

    /// <summary>SentencePiece's visible space, which llama.cpp's "llama" tokenizer looks pieces up with.</summary>
    const string SentencePieceSpace = "\u2581";

    public void WriteTo(GgufWriter w)
    {
        w.String("tokenizer.ggml.model", Model);
        if (Pre is not null) w.String("tokenizer.ggml.pre", Pre);
        w.ByteStrings("tokenizer.ggml.tokens", Tokens);
        w.Int32s("tokenizer.ggml.token_type", Types);
        if (Scores is not null) w.Float32s("tokenizer.ggml.scores", Scores);
        if (Merges is not null) w.Strings("tokenizer.ggml.merges", Merges);
        void Id(string key, int id) { if (id >= 0) w.UInt32(key, (uint)id); }
        Id("tokenizer.ggml.bos_token_id", Special.BosId);
        Id("tokenizer.ggml.eos_token_id", Special.EosId);
        Id("tokenizer.ggml.padding_token_id", Special.PadId);
        Id("tokenizer.ggml.mask_token_id", Special.MaskId);
        if (UnknownId is int unk) Id("tokenizer.ggml.unknown_token_id", unk);
        // Our models are trained on text encoded without bos/eos; llama.cpp must not add them either.
        w.Bool("tokenizer.ggml.add_bos_token", false);
        w.Bool("tokenizer.ggml.add_eos_token", false);
        if (Model == "llama") w.Bool("tokenizer.ggml.add_space_prefix", AddSpacePrefix);
    }

    /// <summary>The vocabulary of one of the project's tokenizers, padded to <paramref name="rows"/> ids.</summary>
    public static GgufVocab From(ITokenizer tokenizer, int rows, SpecialTokens special) => tokenizer switch
    {
        ByteLevelBpeTokenizer bpe => FromByteLevel(bpe, rows, special),
        Llama2cTokenizer l2c => FromLlama2c(l2c, rows, special),
        _ => throw new DlmException($"GGUF export: a {tokenizer.GetType().Name} cannot be written as a llama.cpp vocabulary (byte-level BPE and llama2.c tokenizers can)"),
    };

    static GgufVocab FromByteLevel(ByteLevelBpeTokenizer t, int rows, SpecialTokens special)
    {
        var added = t.AddedTokens.ToDictionary(a => a.Id);
        var tokens = new List<byte[]>(rows);
        var types = new List<int>(rows);
        for (int id = 0; id < rows; id++)
        {
            if (added.TryGetValue(id, out var a)) { tokens.Add(Encoding.UTF8.GetBytes(a.Content)); types.Add(a.Special ? Control : UserDefined); }
            else if (t.IdToToken(id) is string s) { tokens.Add(Encoding.UTF8.GetBytes(s)); types.Add(Normal); }
            else { tokens.Add(Encoding.UTF8.GetBytes($"[PAD{id}]")); types.Add(Unused); }
        }
        var merges = t.Merges.Select(m => $"{m.Left} {m.Right}").ToList();
        // Our pre-tokenizer is GPT-2's ByteLevel with its regex; llama.cpp calls that pre-tokenizer "gpt-2".
        return new GgufVocab("gpt2", "gpt-2", tokens, types, null, merges, special, null, AddSpacePrefix: false);
    }

    static GgufVocab FromLlama2c(Llama2cTokenizer t, int rows, SpecialTokens special)
    {
        var tokens = new List<byte[]>(rows);
        var types = new List<int>(rows);
        var scores = new List<float>(rows);
        var space = Encoding.UTF8.GetBytes(SentencePieceSpace);
        for (int id = 0; id < rows; id++)
        {
            if (id >= t.VocabSize) { tokens.Add(Encoding.UTF8.GetBytes($"[PAD{id}]")); types.Add(Unused); scores.Add(0); continue; }
            float score = id < t.PieceCount ? t.Scores[id] : 0f;
            scores.Add(score);
            if (id == Llama2cTokenizer.UnkId) { tokens.Add("<unk>"u8.ToArray()); types.Add(Unknown); }
            else if (id is Llama2cTokenizer.BosId) { tokens.Add("<s>"u8.ToArray()); types.Add(Control); }
            else if (id is Llama2cTokenizer.EosId) { tokens.Add("</s>"u8.ToArray()); types.Add(Control); }
            else if (id >= t.PieceCount) { tokens.Add(Encoding.ASCII.GetBytes(Llama2cTokenizer.MaskPiece)); types.Add(Control); }
            else if (t.ByteTokenValue(id) is not null) { tokens.Add(t.Pieces[id]); types.Add(Byte); }
            else
            {
                // llama2.c stores SentencePiece's "▁" as a plain space; llama.cpp escapes spaces to "▁" before lookup.
                var piece = new List<byte>();
                foreach (var b in t.Pieces[id]) { if (b == (byte)' ') piece.AddRange(space); else piece.Add(b); }
                tokens.Add(piece.ToArray()); types.Add(Normal);
            }
        }
        return new GgufVocab("llama", null, tokens, types, scores, null, special, Llama2cTokenizer.UnkId, AddSpacePrefix: true);
    }

    /// <summary>
    /// A Hugging Face byte-level BPE tokenizer.json (as LLaDA's), read from the file: vocab, merges and
    /// added tokens. <paramref name="pre"/> names llama.cpp's pre-tokenizer; when null it is inferred
    /// only for the plain GPT-2 ByteLevel pre-tokenizer (anything else must be named by the caller).
    /// </summary>
    public static GgufVocab FromHfTokenizerJson(string path, int rows, SpecialTokens special, string? pre)
    {
        if (!File.Exists(path)) throw new DlmException($"{path}: file not found (GGUF export needs the model's tokenizer.json)");
        using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
        var root = doc.RootElement;
        if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
            throw new DlmException($"{path}: not a tokenizer.json (no \"model\" object)");
        string type = model.TryGetProperty("type", out var ty) ? ty.GetString() ?? "" : "";
        if (type != "BPE") throw new DlmException($"{path}: model.type \"{type}\": GGUF export writes byte-level BPE tokenizers only");
        if (pre is null)
        {
            bool plainByteLevel = root.TryGetProperty("pre_tokenizer", out var p) && p.ValueKind == JsonValueKind.Object
                && p.TryGetProperty("type", out var pt) && pt.GetString() == "ByteLevel"
                && (!p.TryGetProperty("use_regex", out var re) || re.ValueKind == JsonValueKind.True);
            if (!plainByteLevel)
                throw new DlmException($"{path}: its pre_tokenizer is not GPT-2's plain ByteLevel; name llama.cpp's pre-tokenizer for it with --tokenizer-pre (e.g. llama3, qwen2)");
            pre = "gpt-2";
        }
        var byId = new Dictionary<int, (string Text, int Type)>();
        foreach (var v in model.GetProperty("vocab").EnumerateObject()) byId[v.Value.GetInt32()] = (v.Name, Normal);
        if (root.TryGetProperty("added_tokens", out var addedTokens) && addedTokens.ValueKind == JsonValueKind.Array)
            foreach (var a in addedTokens.EnumerateArray())
            {
                bool isSpecial = a.TryGetProperty("special", out var sp) && sp.ValueKind == JsonValueKind.True;
                byId[a.GetProperty("id").GetInt32()] = (a.GetProperty("content").GetString()!, isSpecial ? Control : UserDefined);
            }
        if (byId.Keys.Max() >= rows) throw new DlmException($"{path}: token id {byId.Keys.Max()} is beyond the model's {rows} embedding rows");
        var tokens = new List<byte[]>(rows);
        var types = new List<int>(rows);
        for (int id = 0; id < rows; id++)
        {
            if (byId.TryGetValue(id, out var e)) { tokens.Add(Encoding.UTF8.GetBytes(e.Text)); types.Add(e.Type); }
            else { tokens.Add(Encoding.UTF8.GetBytes($"[PAD{id}]")); types.Add(Unused); }
        }
        var merges = new List<string>();
        foreach (var m in model.GetProperty("merges").EnumerateArray())
            merges.Add(m.ValueKind == JsonValueKind.Array ? $"{m[0].GetString()} {m[1].GetString()}" : m.GetString()!);
        return new GgufVocab("gpt2", pre, tokens, types, null, merges, special, null, AddSpacePrefix: false);
    }
}
