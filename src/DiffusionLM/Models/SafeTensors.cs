using DiffusionLM.IO;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// Our own reader and writer of the Hugging Face safetensors format: an 8-byte little-endian header
/// length N, N bytes of JSON header <c>{name: {"dtype", "shape", "data_offsets": [begin, end]},
/// "__metadata__": {...}}</c>, then the data buffer (offsets are relative to its start).
/// </summary>
/// <remarks>
/// Tensors are read one at a time with positioned reads straight into the tensor's own memory, so a
/// large file is never held in one managed array and loading one tensor by name reads only its bytes.
/// BF16 and F16 load as bfloat16 / float16 tensors; the caller converts. Byte order is little-endian,
/// as the format and every supported host are.
/// </remarks>
public static partial class SafeTensors
{
    /// <summary>Tensors larger than this are read and written in slices of this many bytes (a Span is limited to 2 GiB).</summary>
    static long ChunkBytes => ChunkBytesOverride ?? (1L << 30);

    /// <summary>Tests set a small slice size to exercise the sliced path on small tensors (per thread).</summary>
    [ThreadStatic] internal static long? ChunkBytesOverride;

    /// <summary>
    /// Loads the tensors of a .safetensors file (all, or the names in <paramref name="only"/>) as CPU
    /// tensors in the file's dtypes. The caller owns (and disposes) the returned tensors.
    /// </summary>
    public static Dictionary<string, Tensor> Load(string path, IEnumerable<string>? only = null)
    {
        CheckHost();
        if (!File.Exists(path))
            throw new DlmException(Directory.Exists(path) ? $"{path}: is a folder, expected a .safetensors file" : $"{path}: file not found");
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        var (infos, _) = ParseHeader(path, handle);

        List<TensorInfo> wanted;
        if (only is null) wanted = infos.Values.OrderBy(i => i.Begin).ToList();
        else
        {
            wanted = [];
            foreach (var name in only.Distinct(StringComparer.Ordinal))
            {
                if (!infos.TryGetValue(name, out var info))
                    throw new DlmException($"{path}: no tensor named \"{name}\" (the file holds {infos.Count} tensors)");
                wanted.Add(info);
            }
            wanted.Sort((a, b) => a.Begin.CompareTo(b.Begin));
        }

        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var info in wanted) result[info.Name] = ReadTensor(handle, info);
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>Loads one tensor by name, reading only its bytes.</summary>
    public static Tensor LoadTensor(string path, string name) => Load(path, [name])[name];

    static Tensor ReadTensor(SafeFileHandle handle, TensorInfo info)
    {
        string where = $"{info.File}: tensor \"{info.Name}\"";
        var t = torch.empty(info.Shape, info.ScalarType);
        try
        {
            if (info.ByteLength == 0) return t;
            if (info.ByteLength <= ChunkBytes)
            {
                ReadExactly(where, handle, t.bytes, info.FileOffset);
                return t;
            }
            long size = t.ElementSize, perChunk = Math.Max(1, ChunkBytes / size), n = info.NumElements;
            using var flat = t.view(-1);
            for (long start = 0; start < n; start += perChunk)
            {
                long len = Math.Min(perChunk, n - start);
                using var part = flat.narrow(0, start, len);
                ReadExactly(where, handle, part.bytes, info.FileOffset + start * size);
            }
            return t;
        }
        catch
        {
            t.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Writes <paramref name="tensors"/> (any device, any layout; written as contiguous CPU data,
    /// bit-exact) sorted by name, with optional string <paramref name="metadata"/>. The file is written
    /// atomically: a temporary file beside it, flushed to disk, then renamed over <paramref name="path"/>.
    /// </summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        CheckHost();
        ArgumentNullException.ThrowIfNull(tensors);
        var names = tensors.Keys.Order(StringComparer.Ordinal).ToList();
        var entries = new List<(string Name, string DType, long[] Shape, long Begin, long End)>(names.Count);
        long offset = 0;
        foreach (var name in names)
        {
            if (name.Length == 0) throw new DlmException($"{path}: a tensor name is empty");
            if (name == "__metadata__") throw new DlmException($"{path}: \"__metadata__\" is reserved and cannot name a tensor");
            var t = tensors[name] ?? throw new DlmException($"{path}: tensor \"{name}\" is null");
            string dtype;
            try { dtype = ToDTypeName(t.dtype); }
            catch (DlmException e) { throw new DlmException($"{path}: tensor \"{name}\": {e.Message}"); }
            long bytes = t.numel() * t.ElementSize;
            entries.Add((name, dtype, t.shape, offset, offset + bytes));
            offset += bytes;
        }
        var header = BuildHeader(entries, metadata);

        AtomicFile.Write(path, stream =>
        {
            Span<byte> len = stackalloc byte[8];
            System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
            stream.Write(len);
            stream.Write(header);
            foreach (var name in names) WriteTensor(stream, tensors[name]);
        });
    }

    static void WriteTensor(Stream stream, Tensor t)
    {
        // Own every intermediate (detach always makes a new handle), so the caller's tensor is never disposed.
        var owned = new List<Tensor>(3);
        try
        {
            var c = t.detach();
            owned.Add(c);
            if (c.device_type != DeviceType.CPU) { c = c.cpu(); owned.Add(c); }
            if (!c.is_contiguous()) { c = c.contiguous(); owned.Add(c); }
            long n = c.numel(), size = c.ElementSize;
            if (n == 0) return;
            if (n * size <= ChunkBytes) { stream.Write(c.bytes); return; }
            long perChunk = Math.Max(1, ChunkBytes / size);
            using var flat = c.view(-1);
            for (long start = 0; start < n; start += perChunk)
            {
                using var part = flat.narrow(0, start, Math.Min(perChunk, n - start));
                stream.Write(part.bytes);
            }
        }
        finally
        {
            foreach (var o in owned.Distinct(ReferenceEqualityComparer.Instance)) ((Tensor)o!).Dispose();
        }
    }

    static void CheckHost()
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("safetensors I/O needs a little-endian host");
    }
}
