using System.Text;

namespace DiffusionLM.Models.Gguf;

/// <summary>ggml tensor types this project writes (ggml.h's enum ggml_type values).</summary>
public enum GgmlType : uint { F32 = 0, F16 = 1, Q8_0 = 8 }

/// <summary>One tensor of a GGUF file: its ggml dimensions (ne0, the fastest-varying, first) and encoded bytes.</summary>
public sealed record GgufTensor(string Name, long[] Dims, GgmlType Type, byte[] Data);

/// <summary>
/// Writes GGUF version 3 (ggml's model container, as llama.cpp's gguf.h reads it): the magic "GGUF",
/// the version, the tensor and key/value counts, the key/values, the tensor infos (name, dimensions in
/// ggml order, type, offset into the data section), padding to <see cref="Alignment"/>, then the tensor
/// data, each tensor starting at a multiple of the alignment. Everything little-endian.
/// </summary>
public sealed class GgufWriter
{
    public const uint Version = 3;
    public const int Alignment = 32; // general.alignment's default; not written, so readers use it

    // gguf_type values.
    enum ValueType : uint { UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12 }

    readonly List<(string Key, Action<BinaryWriter> Write)> _kv = [];
    readonly List<GgufTensor> _tensors = [];
    readonly HashSet<string> _keys = new(StringComparer.Ordinal);

    void Add(string key, ValueType type, Action<BinaryWriter> value)
    {
        if (!_keys.Add(key)) throw new InvalidOperationException($"GGUF key \"{key}\" written twice");
        _kv.Add((key, w => { w.Write((uint)type); value(w); }));
    }

    public void UInt32(string key, uint v) => Add(key, ValueType.UInt32, w => w.Write(v));
    public void Int32(string key, int v) => Add(key, ValueType.Int32, w => w.Write(v));
    public void Float32(string key, float v) => Add(key, ValueType.Float32, w => w.Write(v));
    public void Bool(string key, bool v) => Add(key, ValueType.Bool, w => w.Write((byte)(v ? 1 : 0)));
    public void String(string key, string v) => Add(key, ValueType.String, w => WriteString(w, v));

    public void Strings(string key, IReadOnlyList<string> values) => Add(key, ValueType.Array, w =>
    {
        w.Write((uint)ValueType.String); w.Write((ulong)values.Count);
        foreach (var s in values) WriteString(w, s);
    });

    /// <summary>An array of strings given as raw bytes: a GGUF string is a length and bytes, and tokenizer pieces need not be valid UTF-8.</summary>
    public void ByteStrings(string key, IReadOnlyList<byte[]> values) => Add(key, ValueType.Array, w =>
    {
        w.Write((uint)ValueType.String); w.Write((ulong)values.Count);
        foreach (var s in values) { w.Write((ulong)s.Length); w.Write(s); }
    });

    public void Int32s(string key, IReadOnlyList<int> values) => Add(key, ValueType.Array, w =>
    {
        w.Write((uint)ValueType.Int32); w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    });

    public void Float32s(string key, IReadOnlyList<float> values) => Add(key, ValueType.Array, w =>
    {
        w.Write((uint)ValueType.Float32); w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    });

    public void Tensor(GgufTensor t)
    {
        if (_tensors.Any(x => x.Name == t.Name)) throw new InvalidOperationException($"GGUF tensor \"{t.Name}\" written twice");
        _tensors.Add(t);
    }

    public IReadOnlyList<GgufTensor> Tensors => _tensors;

    static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    static void Pad(BinaryWriter w)
    {
        long pad = (Alignment - w.BaseStream.Position % Alignment) % Alignment;
        for (long i = 0; i < pad; i++) w.Write((byte)0);
    }

    static long Aligned(long n) => (n + Alignment - 1) / Alignment * Alignment;

    public void WriteTo(Stream stream)
    {
        using var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        w.Write("GGUF"u8);
        w.Write(Version);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_kv.Count);
        foreach (var (key, write) in _kv) { WriteString(w, key); write(w); }
        long offset = 0;
        foreach (var t in _tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Dims.Length);
            foreach (var d in t.Dims) w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offset = Aligned(offset + t.Data.Length);
        }
        Pad(w);
        foreach (var t in _tensors)
        {
            w.Write(t.Data);
            Pad(w);
        }
    }
}
