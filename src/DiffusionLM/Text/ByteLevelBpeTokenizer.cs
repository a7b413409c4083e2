using System.Collections.Concurrent;
using System.Text;

namespace DiffusionLM.Text;

/// <summary>A token matched verbatim in the input before any pre-tokenization (HF's "added token").</summary>
internal sealed record AddedToken(int Id, string Content, bool Special);

/// <summary>
/// GPT-2 style byte-level BPE, trainable here and stored as a Hugging Face tokenizer.json, so the same
/// file works with HF's tokenizers library and gives the same ids.
/// <para>
/// Special tokens (<c>&lt;|mask|&gt;</c>, <c>&lt;|eos|&gt;</c>, <c>&lt;|pad|&gt;</c>, <c>&lt;|bos|&gt;</c>) are
/// added tokens: <see cref="Encode"/> turns the exact string "&lt;|eos|&gt;" in the input into the eos id,
/// as HF does, and never produces a special id otherwise. Text such as "&lt;|eos" or "&lt;| eos |&gt;" is
/// ordinary text. Training ignores special strings found in the corpus.
/// </para>
/// <para>
/// Trained ids: 0..255 are the bytes (id = byte value), then one id per merge in merge order, then the
/// specials in the order mask, eos, pad, bos. Loaded files may lay ids out differently.
/// </para>
/// Round trip: <c>Decode(Encode(s)) == s</c> for every well-formed string; a lone UTF-16 surrogate
/// has no UTF-8 form and comes back as U+FFFD.
/// </summary>
public sealed class ByteLevelBpeTokenizer : ITokenizer
{
    public const string MaskToken = "<|mask|>";
    public const string EosToken = "<|eos|>";
    public const string PadToken = "<|pad|>";
    public const string BosToken = "<|bos|>";
    internal static readonly string[] SpecialContents = [MaskToken, EosToken, PadToken, BosToken];

    // Words longer than this are encoded but not cached, so one huge unbroken string can't bloat the cache.
    private const int MaxCachedWordLength = 256;
    private const int MaxCacheEntries = 200_000;

    private readonly Dictionary<string, int> _vocab;            // the BPE model's vocabulary
    private readonly List<(int Left, int Right, int Merged)> _merges;
    private readonly Dictionary<long, (int Rank, int Merged)> _mergeRanks = new();
    private readonly AddedToken[] _added;
    private readonly string?[] _idToToken;
    private readonly byte[]?[] _idToBytes;                     // null for added tokens and unused ids
    private readonly AddedToken?[] _idToAdded;
    private readonly int[] _byteToId = new int[256];
    private readonly bool _ignoreMerges;
    private readonly ConcurrentDictionary<string, int[]> _cache = new();
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _cacheLookup;

    public int VocabSize { get; }
    public SpecialTokens Special { get; }
    /// <summary>Number of merges (ranks), including merges that share a result token.</summary>
    public int MergeCount => _merges.Count;

    /// <param name="vocab">Model vocabulary; must hold all 256 byte chars (checked by the callers).</param>
    /// <param name="merges">Merges in rank order, already resolved to ids.</param>
    internal ByteLevelBpeTokenizer(Dictionary<string, int> vocab, List<(int Left, int Right, int Merged)> merges,
        IReadOnlyList<AddedToken> added, bool ignoreMerges)
    {
        _vocab = vocab;
        _merges = merges;
        _added = [.. added];
        _ignoreMerges = ignoreMerges;
        for (int rank = 0; rank < merges.Count; rank++)
            _mergeRanks.TryAdd(Key(merges[rank].Left, merges[rank].Right), (rank, merges[rank].Merged));

        VocabSize = Math.Max(vocab.Count == 0 ? 0 : vocab.Values.Max() + 1, added.Count == 0 ? 0 : added.Max(a => a.Id) + 1);
        _idToToken = new string?[VocabSize];
        _idToBytes = new byte[]?[VocabSize];
        _idToAdded = new AddedToken?[VocabSize];
        foreach (var (token, id) in vocab)
        {
            _idToToken[id] = token;
            _idToBytes[id] = ByteLevelAlphabet.TryDecode(token);
        }
        foreach (var a in _added)
        {
            _idToToken[a.Id] = a.Content;
            _idToBytes[a.Id] = null;
            _idToAdded[a.Id] = a;
        }
        for (int b = 0; b < 256; b++) _byteToId[b] = vocab[ByteLevelAlphabet.ByteToChar[b].ToString()];

        int IdOf(string content) => _added.First(a => a.Content == content).Id;
        Special = new SpecialTokens(IdOf(MaskToken), IdOf(EosToken), IdOf(PadToken), IdOf(BosToken));
        _cacheLookup = _cache.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    internal IReadOnlyDictionary<string, int> Vocab => _vocab;
    internal IReadOnlyList<(int Left, int Right, int Merged)> MergeIds => _merges;
    internal IReadOnlyList<AddedToken> AddedTokens => _added;
    internal bool IgnoreMerges => _ignoreMerges;

    /// <summary>Merges in rank order, as byte-level token strings (the form tokenizer.json stores).</summary>
    public IReadOnlyList<(string Left, string Right)> Merges =>
        _merges.Select(m => (_idToToken[m.Left]!, _idToToken[m.Right]!)).ToList();

    /// <summary>The raw vocabulary string of an id (byte-level form, e.g. "Ġthe"), or null if unused.</summary>
    public string? IdToToken(int id) => id >= 0 && id < VocabSize ? _idToToken[id] : null;

    /// <summary>The id of a raw vocabulary string or added token, or null.</summary>
    public int? TokenToId(string token) =>
        _added.FirstOrDefault(a => a.Content == token)?.Id ?? (_vocab.TryGetValue(token, out int id) ? id : null);

    // ---- training ---------------------------------------------------------------------------

    /// <summary>
    /// Learns a vocabulary of <paramref name="vocabSize"/> ids in all: 256 bytes, the merges and the
    /// 4 specials. The result is a pure function of the texts and arguments. If the corpus runs out of
    /// pairs (occurring at least <paramref name="minPairCount"/> times) first, the vocabulary is smaller:
    /// check <see cref="VocabSize"/>.
    /// </summary>
    public static ByteLevelBpeTokenizer Train(IEnumerable<string> texts, int vocabSize, int minPairCount = 1)
    {
        int minimum = 256 + SpecialContents.Length;
        if (vocabSize < minimum)
            throw new DlmException($"tokenizer vocabulary size {vocabSize} is too small: it must be at least {minimum} (256 bytes + {SpecialContents.Length} special tokens)");

        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        var lookup = counts.GetAlternateLookup<ReadOnlySpan<char>>();
        var pieces = new List<(int Start, int Length)>();
        foreach (var text in texts)
        {
            // Specials are split out (and dropped) first, as when encoding, so no merge spans one.
            foreach (var (start, length, special) in SplitOnAdded(text, SpecialContents))
            {
                if (special != null) continue;
                pieces.Clear();
                ByteLevelPreTokenizer.Split(text.AsSpan(start, length), pieces);
                foreach (var (s, l) in pieces)
                {
                    var piece = text.AsSpan(start + s, l);
                    lookup[piece] = lookup.TryGetValue(piece, out long c) ? c + 1 : 1;
                }
            }
        }
        if (counts.Count == 0) throw new DlmException("cannot train a tokenizer on empty text: the corpus has no characters besides special tokens");

        // Sorted so that nothing downstream can depend on hash order.
        var words = counts.OrderBy(kv => kv.Key, StringComparer.Ordinal)
            .Select(kv => (Encoding.UTF8.GetBytes(kv.Key), kv.Value)).ToList();
        var result = BpeTrainer.Train(words, vocabSize - SpecialContents.Length, Math.Max(1, minPairCount));

        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int id = 0; id < result.Tokens.Count; id++) vocab[result.Tokens[id]] = id;
        var added = SpecialContents.Select((s, i) => new AddedToken(result.Tokens.Count + i, s, true)).ToList();
        // HF gives an added token the model's id when the model knows the string, so the specials go
        // into the model vocabulary too; that is also what HF's own trainer writes.
        foreach (var a in added) vocab[a.Content] = a.Id;
        return new ByteLevelBpeTokenizer(vocab, result.Merges, added, ignoreMerges: false);
    }

    // ---- encoding ---------------------------------------------------------------------------

    public int[] Encode(string text)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        var pieces = new List<(int Start, int Length)>();
        var contents = _added.Select(a => a.Content).ToArray();
        foreach (var (start, length, added) in SplitOnAdded(text, contents))
        {
            if (added != null) { ids.Add(_added.First(a => a.Content == added).Id); continue; }
            pieces.Clear();
            ByteLevelPreTokenizer.Split(text.AsSpan(start, length), pieces);
            foreach (var (s, l) in pieces) ids.AddRange(EncodeWord(text.AsSpan(start + s, l)));
        }
        return [.. ids];
    }

    private int[] EncodeWord(ReadOnlySpan<char> word)
    {
        if (_cacheLookup.TryGetValue(word, out var cached)) return cached;
        var ids = Bpe(Encoding.UTF8.GetBytes(word.ToArray()));
        if (word.Length <= MaxCachedWordLength)
        {
            if (_cache.Count >= MaxCacheEntries) _cache.Clear();
            _cacheLookup.TryAdd(word, ids);
        }
        return ids;
    }

    /// <summary>
    /// HF's <c>Word::merge_all</c>: repeatedly merge the adjacent pair of lowest rank, leftmost first
    /// on ties, until no adjacent pair has a merge. A heap over a linked list keeps long words linear-ish.
    /// </summary>
    private int[] Bpe(byte[] bytes)
    {
        int n = bytes.Length;
        if (n == 0) return [];
        var id = new int[n];
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++) { id[i] = _byteToId[bytes[i]]; prev[i] = i - 1; next[i] = i + 1 < n ? i + 1 : -1; }
        if (_ignoreMerges && n > 1 && _vocab.TryGetValue(ByteLevelAlphabet.ToByteLevel(bytes), out int whole)) return [whole];

        var queue = new PriorityQueue<(int Pos, int Merged), long>();
        void Push(int pos)
        {
            if (next[pos] >= 0 && _mergeRanks.TryGetValue(Key(id[pos], id[next[pos]]), out var m))
                queue.Enqueue((pos, m.Merged), ((long)m.Rank << 32) | (uint)pos);
        }
        for (int i = 0; i + 1 < n; i++) Push(i);

        while (queue.TryDequeue(out var top, out _))
        {
            int pos = top.Pos, right = next[pos];
            if (id[pos] < 0 || right < 0) continue;
            // The entry is stale if either symbol changed since it was queued.
            if (!_mergeRanks.TryGetValue(Key(id[pos], id[right]), out var m) || m.Merged != top.Merged) continue;
            id[pos] = m.Merged;
            id[right] = -1;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;
            if (prev[pos] >= 0) Push(prev[pos]);
            Push(pos);
        }

        var result = new List<int>(n);
        for (int i = 0; i >= 0; i = next[i]) result.Add(id[i]);
        return [.. result];
    }

    /// <summary>
    /// Cuts text at every occurrence of an added token (leftmost, longest on ties, as HF's matcher),
    /// yielding plain stretches with a null token and matches with their content.
    /// </summary>
    private static IEnumerable<(int Start, int Length, string? Token)> SplitOnAdded(string text, string[] tokens)
    {
        int pos = 0;
        var nextAt = new int[tokens.Length];
        for (int t = 0; t < tokens.Length; t++) nextAt[t] = -2; // not searched yet
        while (pos < text.Length)
        {
            int best = -1, bestAt = int.MaxValue;
            for (int t = 0; t < tokens.Length; t++)
            {
                if (nextAt[t] == -2 || (nextAt[t] >= 0 && nextAt[t] < pos))
                    nextAt[t] = tokens[t].Length == 0 ? -1 : text.IndexOf(tokens[t], pos, StringComparison.Ordinal);
                int at = nextAt[t];
                if (at >= 0 && (at < bestAt || (at == bestAt && tokens[t].Length > tokens[best].Length)))
                {
                    best = t;
                    bestAt = at;
                }
            }
            if (best < 0) { yield return (pos, text.Length - pos, null); yield break; }
            if (bestAt > pos) yield return (pos, bestAt - pos, null);
            yield return (bestAt, tokens[best].Length, tokens[best]);
            pos = bestAt + tokens[best].Length;
        }
    }

    // ---- decoding ---------------------------------------------------------------------------

    /// <summary>
    /// Bytes of consecutive ids are joined before UTF-8 decoding, since one character often spans
    /// several tokens; invalid sequences become U+FFFD, as in HF's lossy decoder.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecial = true)
    {
        var sb = new StringBuilder();
        var bytes = new List<byte>();
        void Flush()
        {
            if (bytes.Count == 0) return;
            sb.Append(Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes)));
            bytes.Clear();
        }
        foreach (int id in ids)
        {
            CheckId(id);
            if (_idToAdded[id] is { } added)
            {
                if (skipSpecial && added.Special) continue;
                Flush();
                sb.Append(added.Content);
            }
            else bytes.AddRange(_idToBytes[id]!);
        }
        Flush();
        return sb.ToString();
    }

    /// <summary>
    /// For figures: the token's text with bytes decoded (so 'Ġ' is a space), specials by content, and
    /// bytes that are only part of a UTF-8 character shown as &lt;0xE2&gt;.
    /// </summary>
    public string TokenText(int id)
    {
        CheckId(id);
        if (_idToAdded[id] is { } added) return added.Content;
        var bytes = _idToBytes[id]!.AsSpan();
        var sb = new StringBuilder();
        while (!bytes.IsEmpty)
        {
            var status = Rune.DecodeFromUtf8(bytes, out var rune, out int used);
            if (status == System.Buffers.OperationStatus.Done) sb.Append(rune.ToString());
            else foreach (var b in bytes[..used]) sb.Append($"<0x{b:X2}>");
            bytes = bytes[used..];
        }
        return sb.ToString();
    }

    private void CheckId(int id)
    {
        if (id < 0 || id >= VocabSize || _idToToken[id] == null || (_idToAdded[id] == null && _idToBytes[id] == null))
            throw new ArgumentOutOfRangeException(nameof(id), id, $"not a token id of this tokenizer (vocabulary size {VocabSize})");
    }

    // ---- files ------------------------------------------------------------------------------

    /// <summary>Writes a Hugging Face tokenizer.json, atomically (temp file + rename).</summary>
    public void Save(string path) => TokenizerJson.Save(this, path);

    /// <summary>Reads a tokenizer.json holding a byte-level BPE with the four special tokens.</summary>
    public static ByteLevelBpeTokenizer Load(string path) => TokenizerJson.Load(path);

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;
}
