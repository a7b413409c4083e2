using System.Text;

namespace DiffusionLM.Fuzzing;

/// <summary>
/// A seeded mutator of byte strings, in the spirit of libFuzzer's: bit flips, interesting bytes and integers,
/// insertions, deletions, duplicated and spliced ranges, truncation, and for text formats whole tokens (JSON numbers
/// replaced by boundary values, template tags, brackets repeated). One <see cref="Random"/> seeded by the caller
/// draws everything, so a run is reproduced by its seed.
/// </summary>
public sealed class Mutator(Random rng, IReadOnlyList<byte[]> corpus, IReadOnlyList<string> dictionary)
{
    static readonly byte[] InterestingBytes = [0, 1, 0x7F, 0x80, 0xFF, (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)'"', (byte)',', (byte)':', (byte)'-', (byte)'9', (byte)'\\', (byte)'%', (byte)'('];
    static readonly long[] InterestingInts = [0, 1, -1, 2, 7, 8, 255, 256, 65535, 65536, int.MaxValue, int.MinValue, uint.MaxValue, long.MaxValue, long.MinValue, 1L << 31, 1L << 40];
    static readonly string[] InterestingNumbers = ["0", "-1", "1", "2147483647", "-2147483648", "4294967296", "9223372036854775807", "1e308", "-1e308", "1e-320", "0.5", "-0", "100000000", "1.5", "NaN", "Infinity"];

    /// <summary>A mutant of a random corpus entry: 1 to 4 stacked mutations.</summary>
    public byte[] Next()
    {
        var data = new List<byte>(corpus[rng.Next(corpus.Count)]);
        int n = 1 + rng.Next(4);
        for (int k = 0; k < n; k++) MutateOnce(data);
        return [.. data];
    }

    void MutateOnce(List<byte> d)
    {
        switch (rng.Next(d.Count == 0 ? 1 : 12))
        {
            case 0: d.InsertRange(Pos(d, true), RandomBytes(1 + rng.Next(8))); break;
            case 1: { int i = Pos(d); d[i] ^= (byte)(1 << rng.Next(8)); break; }
            case 2: { int i = Pos(d); d[i] = InterestingBytes[rng.Next(InterestingBytes.Length)]; break; }
            case 3: { int i = Pos(d), len = Math.Min(d.Count - i, 1 + rng.Next(16)); d.RemoveRange(i, len); break; }
            case 4: { int i = Pos(d), len = Math.Min(d.Count - i, 1 + rng.Next(64)); var copy = d.GetRange(i, len); d.InsertRange(Pos(d, true), copy); break; }
            case 5: { int i = Pos(d); d.RemoveRange(i, d.Count - i); break; } // truncation
            case 6: WriteInt(d); break;
            case 7: ReplaceNumber(d); break;
            case 8: InsertWord(d); break;
            case 9: Splice(d); break;
            case 10: { int i = Pos(d); byte b = d[i]; int times = 1 + rng.Next(rng.Next(2) == 0 ? 8 : 2000); d.InsertRange(i, Enumerable.Repeat(b, times)); break; }
            default: { int i = Pos(d); d[i] = (byte)rng.Next(256); break; }
        }
        if (d.Count > 1 << 20) d.RemoveRange(1 << 20, d.Count - (1 << 20)); // keep inputs small
    }

    int Pos(List<byte> d, bool end = false) => d.Count == 0 ? 0 : rng.Next(d.Count + (end ? 1 : 0));

    byte[] RandomBytes(int n) { var b = new byte[n]; rng.NextBytes(b); return b; }

    /// <summary>A boundary integer written little-endian over 4 or 8 bytes (binary headers).</summary>
    void WriteInt(List<byte> d)
    {
        long v = InterestingInts[rng.Next(InterestingInts.Length)];
        int width = rng.Next(2) == 0 ? 4 : 8, at = Pos(d);
        var bytes = width == 4 ? BitConverter.GetBytes((int)v) : BitConverter.GetBytes(v);
        for (int k = 0; k < width && at + k < d.Count; k++) d[at + k] = bytes[k];
    }

    /// <summary>A decimal number in the text replaced by a boundary value (JSON fields).</summary>
    void ReplaceNumber(List<byte> d)
    {
        int start = Pos(d);
        while (start < d.Count && !(d[start] >= '0' && d[start] <= '9')) start++;
        if (start >= d.Count) return;
        int end = start;
        while (end < d.Count && (d[end] is >= (byte)'0' and <= (byte)'9' or (byte)'.' or (byte)'e' or (byte)'-')) end++;
        d.RemoveRange(start, end - start);
        d.InsertRange(start, Encoding.ASCII.GetBytes(InterestingNumbers[rng.Next(InterestingNumbers.Length)]));
    }

    void InsertWord(List<byte> d)
    {
        if (dictionary.Count == 0) return;
        var word = Encoding.UTF8.GetBytes(dictionary[rng.Next(dictionary.Count)]);
        int times = rng.Next(10) == 0 ? 1 + rng.Next(500) : 1;
        int at = Pos(d, true);
        for (int k = 0; k < times; k++) d.InsertRange(at, word);
    }

    /// <summary>The head of this input with the tail of another corpus entry.</summary>
    void Splice(List<byte> d)
    {
        var other = corpus[rng.Next(corpus.Count)];
        if (other.Length == 0) return;
        int cut = Pos(d), from = rng.Next(other.Length);
        d.RemoveRange(cut, d.Count - cut);
        d.AddRange(other.AsSpan(from).ToArray());
    }
}
