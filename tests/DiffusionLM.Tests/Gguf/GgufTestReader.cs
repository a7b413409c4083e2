using System.Text;

namespace DiffusionLM.Tests.Gguf;

/// <summary>
/// A GGUF v3 reader written from the format description (independently of GgufWriter), so the tests
/// check the bytes on disk: metadata values by key, tensor infos and each tensor's raw data.
/// </summary>
public sealed class GgufTestReader
{
    public uint Version { get; }
    public Dictionary<string, object> Meta { get; } = new(StringComparer.Ordinal);
    public List<(string Name, long[] Dims, uint Type, long Offset)> Tensors { get; } = [];
    readonly byte[] _bytes;
    readonly long _dataStart;

    public GgufTestReader(string path)
    {
        _bytes = File.ReadAllBytes(path);
        using var r = new BinaryReader(new MemoryStream(_bytes));
        if (Encoding.ASCII.GetString(r.ReadBytes(4)) != "GGUF") throw new InvalidDataException("no GGUF magic");
        Version = r.ReadUInt32();
        long tensors = (long)r.ReadUInt64(), kvs = (long)r.ReadUInt64();
        for (long i = 0; i < kvs; i++)
        {
            string key = Str(r);
            Meta[key] = Value(r, r.ReadUInt32());
        }
        for (long i = 0; i < tensors; i++)
        {
            string name = Str(r);
            var dims = new long[r.ReadUInt32()];
            for (int d = 0; d < dims.Length; d++) dims[d] = (long)r.ReadUInt64();
            Tensors.Add((name, dims, r.ReadUInt32(), (long)r.ReadUInt64()));
        }
        long pos = r.BaseStream.Position;
        _dataStart = (pos + 31) / 32 * 32;
    }

    public ReadOnlySpan<byte> Data(string name, int length) => _bytes.AsSpan((int)(_dataStart + Tensors.Single(t => t.Name == name).Offset), length);

    public float[] F32(string name)
    {
        var t = Tensors.Single(x => x.Name == name);
        int n = (int)t.Dims.Aggregate(1L, (a, b) => a * b);
        var result = new float[n];
        Buffer.BlockCopy(_bytes, (int)(_dataStart + t.Offset), result, 0, n * 4);
        return result;
    }

    static string Str(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes((int)r.ReadUInt64()));

    static object Value(BinaryReader r, uint type) => type switch
    {
        4 => r.ReadUInt32(),
        5 => r.ReadInt32(),
        6 => r.ReadSingle(),
        7 => r.ReadByte() != 0,
        8 => Str(r),
        9 => Array(r),
        _ => throw new InvalidDataException($"GGUF value type {type} not expected in our files"),
    };

    static object Array(BinaryReader r)
    {
        uint type = r.ReadUInt32();
        long n = (long)r.ReadUInt64();
        var list = new List<object>();
        for (long i = 0; i < n; i++) list.Add(Value(r, type));
        return list;
    }
}
