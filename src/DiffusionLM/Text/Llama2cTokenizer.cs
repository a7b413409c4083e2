using System.Text;

namespace DiffusionLM.Text;

/// <summary>
/// llama2.c's tokenizer (the tokenizer.bin / tok512.bin of karpathy/llama2.c, exported from a
/// SentencePiece BPE model): a list of pieces with scores, encoded by score-ordered merging.
/// <para>
/// Layout: id 0 <c>&lt;unk&gt;</c>, 1 <c>&lt;s&gt;</c> (bos), 2 <c>&lt;/s&gt;</c> (eos), 3..258 the byte
/// tokens <c>&lt;0x00&gt;</c>..<c>&lt;0xFF&gt;</c>, then merged pieces. Optionally one extra id after the
/// file's pieces, <c>&lt;mask&gt;</c>, for masked diffusion models built on the teacher's vocabulary: it is
/// never produced by <see cref="Encode"/> and the teacher itself has no row for it.
/// </para>
/// <para>
/// Encoding is run.c's encode() without bos/eos: a dummy-prefix " " when the text is non-empty (as
/// SentencePiece's add_dummy_prefix), each UTF-8 character looked up as a piece (else its bytes as byte
/// tokens, id = byte + 3), then repeatedly the adjacent pair whose concatenation is a piece with the
/// highest score is merged (leftmost on ties).
/// </para>
/// </summary>
public sealed class Llama2cTokenizer : ITokenizer
{
    public const int UnkId = 0, BosId = 1, EosId = 2, ByteOffset = 3;
    public const string MaskPiece = "<mask>";

    readonly byte[][] _pieces;          // the file's pieces, as bytes
    readonly float[] _scores;
    readonly Dictionary<string, int> _lookup; // piece (as a Latin-1 string of its bytes) → id, first id wins
    readonly byte[]?[] _surface;         // what a token decodes to (byte tokens → their byte); null for specials

    /// <summary>Pieces of the tokenizer file (excluding the optional mask).</summary>
    public int PieceCount => _pieces.Length;
    public int MaxTokenLength { get; }
    public bool HasMask { get; }
    public int VocabSize => _pieces.Length + (HasMask ? 1 : 0);
    public SpecialTokens Special { get; }

    public Llama2cTokenizer(IReadOnlyList<byte[]> pieces, IReadOnlyList<float> scores, int maxTokenLength, bool withMask = false)
    {
        if (pieces.Count != scores.Count) throw new ArgumentException("pieces and scores differ in count");
        if (pieces.Count < ByteOffset + 256)
            throw new DlmException($"llama2.c tokenizer: {pieces.Count} pieces, expected at least {ByteOffset + 256} (3 specials and 256 byte tokens)");
        _pieces = pieces.ToArray();
        _scores = scores.ToArray();
        MaxTokenLength = maxTokenLength;
        HasMask = withMask;
        _lookup = new Dictionary<string, int>(StringComparer.Ordinal);
        // run.c bsearches a sorted copy; with duplicate pieces which id it finds is unspecified. The
        // stories260K vocabulary has none (a test checks); first id wins here.
        for (int i = 0; i < _pieces.Length; i++) _lookup.TryAdd(Key(_pieces[i]), i);
        _surface = new byte[]?[VocabSize];
        for (int i = ByteOffset; i < _pieces.Length; i++)
            _surface[i] = ByteTokenValue(i) is int b ? [(byte)b] : _pieces[i];
        Special = new SpecialTokens(HasMask ? _pieces.Length : -1, EosId, UnkId, BosId);
    }

    /// <summary>The same tokenizer with one extra id, <c>&lt;mask&gt;</c>, after the file's pieces.</summary>
    public Llama2cTokenizer WithMask() => HasMask ? this : new Llama2cTokenizer(_pieces, _scores, MaxTokenLength, withMask: true);

    public IReadOnlyList<byte[]> Pieces => _pieces;
    public IReadOnlyList<float> Scores => _scores;

    static string Key(ReadOnlySpan<byte> bytes) => Encoding.Latin1.GetString(bytes);

    /// <summary>The byte a byte token stands for (ids 3..258 whose piece reads &lt;0xXX&gt;), else null.</summary>
    public int? ByteTokenValue(int id)
    {
        if (id < 0 || id >= _pieces.Length) return null;
        var p = _pieces[id];
        if (p.Length != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') return null;
        return int.TryParse(Encoding.ASCII.GetString(p, 3, 2), System.Globalization.NumberStyles.HexNumber, null, out int v) ? v : null;
    }

    public int[] Encode(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var tokens = new List<int>(bytes.Length + 1);
        if (bytes.Length > 0)
        {
            if (!_lookup.TryGetValue(" ", out int space))
                throw new DlmException("llama2.c tokenizer: the vocabulary has no \" \" piece for the dummy prefix");
            tokens.Add(space);
        }
        // One UTF-8 character at a time: a start byte and up to 3 continuation bytes, as run.c groups them.
        for (int i = 0; i < bytes.Length;)
        {
            int len = 1;
            while (i + len < bytes.Length && (bytes[i + len] & 0xC0) == 0x80 && len < 4) len++;
            var ch = bytes.AsSpan(i, len);
            if (_lookup.TryGetValue(Key(ch), out int id)) tokens.Add(id);
            else foreach (var b in ch) tokens.Add(b + ByteOffset);
            i += len;
        }
        Merge(tokens);
        return tokens.ToArray();
    }

    readonly System.Collections.Concurrent.ConcurrentDictionary<(int, int), int> _pairCache = new();

    /// <summary>The piece id of the concatenation of two tokens' pieces, or -1.</summary>
    int PairId(int a, int b) => _pairCache.GetOrAdd((a, b), k =>
        _lookup.TryGetValue(Key(_pieces[k.Item1]) + Key(_pieces[k.Item2]), out int id) ? id : -1);

    /// <summary>
    /// run.c's merge loop — repeatedly merge the adjacent pair whose joined piece has the highest score,
    /// the leftmost of equal scores — in O(n log n): candidate pairs wait in a heap ordered by
    /// (score desc, left position asc); a popped pair whose tokens changed since it was pushed is stale.
    /// Positions are original indices; merging keeps the left one, so their order is the sequence order.
    /// </summary>
    void Merge(List<int> tokens)
    {
        int n = tokens.Count;
        if (n < 2) return;
        var tok = tokens.ToArray();
        var next = new int[n];
        var prev = new int[n];
        var version = new int[n];
        for (int i = 0; i < n; i++) { next[i] = i + 1 < n ? i + 1 : -1; prev[i] = i - 1; }
        var heap = new PriorityQueue<(int Left, int Right, int VerL, int VerR, int Id), (float NegScore, int Left)>();
        void Push(int left)
        {
            if (left < 0) return;
            int right = next[left];
            if (right < 0) return;
            int id = PairId(tok[left], tok[right]);
            if (id >= 0) heap.Enqueue((left, right, version[left], version[right], id), (-_scores[id], left));
        }
        for (int i = 0; i + 1 < n; i++) Push(i);
        while (heap.TryDequeue(out var c, out _))
        {
            if (version[c.Left] != c.VerL || version[c.Right] != c.VerR || next[c.Left] != c.Right) continue;
            tok[c.Left] = c.Id;
            version[c.Left]++;
            version[c.Right] = -1; // removed
            next[c.Left] = next[c.Right];
            if (next[c.Right] >= 0) prev[next[c.Right]] = c.Left;
            Push(prev[c.Left]);
            Push(c.Left);
        }
        tokens.Clear();
        for (int i = 0; i >= 0; i = next[i]) tokens.Add(tok[i]);
    }

    /// <summary>
    /// SentencePiece-style decoding: pieces concatenated (byte tokens as their byte), the dummy-prefix
    /// space of the first piece dropped, so that Decode(Encode(s)) == s. Special tokens are dropped when
    /// <paramref name="skipSpecial"/>, else written by name.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecial = true)
    {
        var buffer = new List<byte>();
        bool first = true;
        foreach (var id in ids)
        {
            var s = id >= 0 && id < VocabSize ? _surface[id] : null;
            if (s is null)
            {
                if (!skipSpecial) buffer.AddRange(Encoding.UTF8.GetBytes(TokenText(id)));
                continue;
            }
            int start = first && s.Length > 0 && s[0] == ' ' ? 1 : 0;
            for (int j = start; j < s.Length; j++) buffer.Add(s[j]);
            first = false;
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    /// <summary>
    /// What run.c's decode() + safe_printf() print for <paramref name="token"/> after <paramref name="prev"/>:
    /// after bos a leading space is stripped; a byte token is its raw byte; a lone byte that is neither
    /// printable nor whitespace prints nothing.
    /// </summary>
    public byte[] RunCPiece(int prev, int token)
    {
        if (token == MaskId()) return Encoding.ASCII.GetBytes(MaskPiece);
        if (token < 0 || token >= _pieces.Length) throw new DlmException($"token id {token} is outside the vocabulary ({_pieces.Length})");
        byte[] piece = _pieces[token];
        if (prev == BosId && piece.Length > 0 && piece[0] == ' ') piece = piece[1..];
        if (ParseByteToken(piece) is byte b) piece = [b];
        if (piece.Length == 1 && !(IsPrint(piece[0]) || IsSpace(piece[0]))) return [];
        return piece;
    }

    /// <summary>run.c's output for a run that starts after <paramref name="prev"/>: its pieces, as text.</summary>
    public string DecodeRunC(int prev, IEnumerable<int> tokens)
    {
        var buffer = new List<byte>();
        foreach (var t in tokens) { buffer.AddRange(RunCPiece(prev, t)); prev = t; }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    int MaskId() => HasMask ? _pieces.Length : -1;

    // run.c: sscanf(piece, "<0x%02hhX>", &byte_val) — applies to any piece of that form.
    static byte? ParseByteToken(byte[] p)
    {
        if (p.Length != 6 || p[0] != '<' || p[1] != '0' || p[2] != 'x' || p[5] != '>') return null;
        return byte.TryParse(Encoding.ASCII.GetString(p, 3, 2), System.Globalization.NumberStyles.HexNumber, null, out var v) ? v : null;
    }

    static bool IsPrint(byte c) => c >= 0x20 && c < 0x7F;
    static bool IsSpace(byte c) => c == ' ' || (c >= 0x09 && c <= 0x0D);

    public string TokenText(int id)
    {
        if (id == MaskId()) return MaskPiece;
        if (id < 0 || id >= _pieces.Length) return $"<unused:{id}>";
        if (id < ByteOffset) return id switch { UnkId => "<unk>", BosId => "<s>", _ => "</s>" };
        return Encoding.UTF8.GetString(_pieces[id]);
    }

    // ---- files ---------------------------------------------------------------------------------

    /// <summary>
    /// Reads a llama2.c tokenizer file: int32 max_token_length, then per token float32 score, int32
    /// length, the bytes. <paramref name="vocabSize"/> comes from the model's header: a file with fewer
    /// or more tokens than that is the tokenizer of another model, and says so.
    /// </summary>
    public static Llama2cTokenizer ReadBin(string path, int vocabSize)
    {
        if (!File.Exists(path)) throw new DlmException($"{path}: tokenizer file not found");
        IO.RegularFile.Require(path, "llama2.c tokenizer");
        if (vocabSize < ByteOffset + 256)
            throw new DlmException($"{path}: a vocabulary of {vocabSize} tokens cannot hold llama2.c's {ByteOffset} special and 256 byte tokens (the checkpoint's vocab_size is wrong)");
        var data = File.ReadAllBytes(path);
        if (data.Length < 4) throw new DlmException($"{path}: {data.Length} bytes, too short for a llama2.c tokenizer (expected a 4-byte header and {vocabSize} tokens)");
        int maxLen = BitConverter.ToInt32(data, 0);
        if (maxLen <= 0 || maxLen > 1 << 16) throw new DlmException($"{path}: max_token_length {maxLen} is not plausible; not a llama2.c tokenizer file?");
        int offset = 4;
        var pieces = new List<byte[]>(vocabSize);
        var scores = new List<float>(vocabSize);
        for (int i = 0; i < vocabSize; i++)
        {
            if (offset + 8 > data.Length)
                throw new DlmException($"{path}: ends after {i} tokens ({data.Length} bytes), expected {vocabSize} tokens (the model's vocab_size): truncated, or the tokenizer of a smaller model");
            float score = BitConverter.ToSingle(data, offset);
            // A NaN or infinite score has no place in a merge order, and tokenizer.json could not even store it.
            if (!float.IsFinite(score)) throw new DlmException($"{path}: token {i} has the score {score}, not a finite number: corrupt");
            int len = BitConverter.ToInt32(data, offset + 4);
            offset += 8;
            if (len < 0 || len > maxLen || offset + len > data.Length)
                throw new DlmException($"{path}: token {i} claims {len} bytes at byte {offset - 4} (max_token_length {maxLen}, {data.Length - offset} bytes left): corrupt or truncated; expected {vocabSize} tokens (the model's vocab_size)");
            pieces.Add(data[offset..(offset + len)]);
            scores.Add(score);
            offset += len;
        }
        if (offset != data.Length)
            throw new DlmException($"{path}: {data.Length - offset} bytes left after {vocabSize} tokens (the model's vocab_size): the tokenizer of a model with a larger vocabulary?");
        for (int b = 0; b < 256; b++)
        {
            var expected = $"<0x{b:X2}>";
            if (Encoding.ASCII.GetString(pieces[b + ByteOffset]) != expected)
                throw new DlmException($"{path}: token {b + ByteOffset} is \"{Encoding.UTF8.GetString(pieces[b + ByteOffset])}\", expected the byte token {expected}");
        }
        return new Llama2cTokenizer(pieces, scores, maxLen);
    }

    public void Save(string path) => Llama2cTokenizerJson.Save(this, path);
    public static Llama2cTokenizer Load(string path) => Llama2cTokenizerJson.Load(path);
}
