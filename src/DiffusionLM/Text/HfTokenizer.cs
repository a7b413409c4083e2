using System.Text.Json;

namespace DiffusionLM.Text;

/// <summary>
/// A Hugging Face tokenizer.json of any kind (byte-level BPE as Qwen2/Dream and GPT-2, BPE with byte
/// fallback, ...) run by Hugging Face's own Rust tokenizers library (through Tokenizers.DotNet), so
/// pre-tokenisation, merges, byte fallback, normalisers and added tokens behave exactly as in Python.
/// The id ↔ token table and the special tokens are read from the file itself.
/// </summary>
public sealed class HfTokenizer : ITokenizer, IDisposable
{
    readonly Tokenizers.DotNet.Tokenizer _rust;
    readonly string[] _tokens;
    readonly HashSet<int> _special;
    readonly Dictionary<string, int> _byContent;

    public string Path { get; }
    public int VocabSize => _tokens.Length;
    public SpecialTokens Special { get; }

    HfTokenizer(string path, Tokenizers.DotNet.Tokenizer rust, string[] tokens, HashSet<int> special, Dictionary<string, int> byContent, SpecialTokens ids)
    {
        Path = path; _rust = rust; _tokens = tokens; _special = special; _byContent = byContent; Special = ids;
    }

    /// <param name="special">the model's mask/eos/pad/bos ids (from its config.json).</param>
    public static HfTokenizer Load(string path, SpecialTokens special)
    {
        if (!File.Exists(path)) throw new DlmException($"{path}: file not found (a Hugging Face model folder needs tokenizer.json)");
        IO.RegularFile.Require(path);
        TokenizerPatterns.Check(path);
        var byContent = new Dictionary<string, int>(StringComparer.Ordinal);
        var specials = new HashSet<int>();
        int maxId = -1;
        try
        {
            using var doc = JsonDocument.Parse(File.ReadAllBytes(path));
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new DlmException($"{path}: not a tokenizer.json (expected a JSON object)");
            if (!root.TryGetProperty("model", out var model) || model.ValueKind != JsonValueKind.Object)
                throw new DlmException($"{path}: not a tokenizer.json (no \"model\" object)");
            if (model.TryGetProperty("vocab", out var vocab))
            {
                if (vocab.ValueKind == JsonValueKind.Object)
                    foreach (var e in vocab.EnumerateObject()) { int id = e.Value.GetInt32(); byContent[e.Name] = id; maxId = Math.Max(maxId, id); }
                else if (vocab.ValueKind == JsonValueKind.Array)
                {
                    int id = 0; // Unigram: [[piece, score], ...], id = index.
                    foreach (var e in vocab.EnumerateArray()) { byContent[e[0].GetString()!] = id; maxId = Math.Max(maxId, id++); }
                }
            }
            if (root.TryGetProperty("added_tokens", out var added) && added.ValueKind == JsonValueKind.Array)
                foreach (var a in added.EnumerateArray())
                {
                    int id = a.GetProperty("id").GetInt32();
                    byContent[a.GetProperty("content").GetString()!] = id;
                    maxId = Math.Max(maxId, id);
                    if (a.TryGetProperty("special", out var s) && s.ValueKind == JsonValueKind.True) specials.Add(id);
                }
        }
        catch (JsonException e) { throw new DlmException($"{path}: tokenizer.json does not parse ({e.Message})"); }
        catch (Exception e) when (e is InvalidOperationException or KeyNotFoundException or FormatException)
        { throw new DlmException($"{path}: tokenizer.json has an unexpected structure ({e.Message})"); }
        if (maxId < 0) throw new DlmException($"{path}: tokenizer.json holds no vocabulary");

        var tokens = new string[maxId + 1];
        foreach (var (content, id) in byContent) tokens[id] = content;
        Tokenizers.DotNet.Tokenizer rust;
        try { rust = new Tokenizers.DotNet.Tokenizer(vocabPath: path); }
        catch (Exception e) { throw new DlmException($"{path}: Hugging Face tokenizers cannot load it ({e.Message})"); }
        return new HfTokenizer(path, rust, tokens, specials, byContent, special);
    }

    /// <summary>The strings of the special added tokens (what a user's text must not turn into; see <see cref="PromptEncoder"/>).</summary>
    internal IEnumerable<string> SpecialContents =>
        _special.Append(Special.MaskId).Where(i => i >= 0 && i < _tokens.Length && !string.IsNullOrEmpty(_tokens[i])).Select(i => _tokens[i]).Distinct();

    public int[] Encode(string text) => _rust.Encode(text).Select(id => (int)id).ToArray();

    public string Decode(IEnumerable<int> ids, bool skipSpecial = true)
    {
        // Ids past the tokenizer (MDLM's mask row) have no text. The Rust decoder always drops special
        // tokens, so when they are kept, runs of ordinary ids are decoded and the specials' text put between.
        var sb = new System.Text.StringBuilder();
        var run = new List<uint>();
        void Flush() { if (run.Count > 0) { sb.Append(_rust.Decode(run.ToArray())); run.Clear(); } }
        foreach (var id in ids)
        {
            if (id < 0 || id >= _tokens.Length || _tokens[id] is null) continue;
            if (IsSpecial(id)) { if (!skipSpecial) { Flush(); sb.Append(_tokens[id]); } continue; }
            run.Add((uint)id);
        }
        Flush();
        return sb.ToString();
    }

    bool IsSpecial(int id) => _special.Contains(id) || id == Special.MaskId;

    public string TokenText(int id)
    {
        if (id == Special.MaskId && (id >= _tokens.Length || _tokens[id] is null)) return "[MASK]";
        if (id < 0 || id >= _tokens.Length || _tokens[id] is null) return $"<{id}>";
        if (_special.Contains(id)) return _tokens[id];
        var text = _rust.Decode([(uint)id]);
        return text.Length > 0 ? text : _tokens[id];
    }

    /// <summary>The id of a token by its exact content ("&lt;|eot_id|&gt;"), or null.</summary>
    public int? Find(string content) => _byContent.TryGetValue(content, out var id) ? id : null;

    public void Dispose() => _rust.Dispose();
}
