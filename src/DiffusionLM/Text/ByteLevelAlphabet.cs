namespace DiffusionLM.Text;

/// <summary>
/// GPT-2's <c>bytes_to_unicode</c>: every byte gets a printable character so that a byte-level
/// vocabulary can be stored as ordinary JSON strings. Printable Latin-1 bytes stand for themselves;
/// the others (control characters, space, ...) are shifted to U+0100 onwards in byte order, which is
/// why a space shows up as 'Ġ' (U+0120). Must match GPT-2 exactly for tokenizer.json compatibility.
/// </summary>
internal static class ByteLevelAlphabet
{
    public static readonly char[] ByteToChar = Build();

    private static readonly Dictionary<char, byte> CharToByteMap =
        Enumerable.Range(0, 256).ToDictionary(b => ByteToChar[b], b => (byte)b);

    private static char[] Build()
    {
        var map = new char[256];
        var printable = new bool[256];
        foreach (var (lo, hi) in new[] { ('!', '~'), ('¡', '¬'), ('®', 'ÿ') })
            for (int b = lo; b <= hi; b++) { map[b] = (char)b; printable[b] = true; }
        int shifted = 0;
        for (int b = 0; b < 256; b++)
            if (!printable[b]) map[b] = (char)(256 + shifted++);
        return map;
    }

    public static bool TryGetByte(char c, out byte b) => CharToByteMap.TryGetValue(c, out b);

    /// <summary>The byte-level spelling of some bytes, one char per byte.</summary>
    public static string ToByteLevel(byte[] bytes) =>
        string.Create(bytes.Length, bytes, static (dst, src) =>
        {
            for (int i = 0; i < src.Length; i++) dst[i] = ByteToChar[src[i]];
        });

    /// <summary>Bytes of a byte-level token string; null if some char is outside the alphabet.</summary>
    public static byte[]? TryDecode(string token)
    {
        var bytes = new byte[token.Length];
        for (int i = 0; i < token.Length; i++)
            if (!TryGetByte(token[i], out bytes[i])) return null;
        return bytes;
    }
}
