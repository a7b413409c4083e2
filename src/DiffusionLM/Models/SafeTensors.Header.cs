using System.Text.Json;
using TorchSharp;

namespace DiffusionLM.Models;

// Header parsing and validation, and the dtype table.
public static partial class SafeTensors
{
    /// <summary>Headers larger than this are refused (the Hugging Face reader's limit is the same).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    static readonly (string Name, torch.ScalarType Type, int Size)[] DTypes =
    [
        ("F64", torch.ScalarType.Float64, 8),
        ("F32", torch.ScalarType.Float32, 4),
        ("F16", torch.ScalarType.Float16, 2),
        ("BF16", torch.ScalarType.BFloat16, 2),
        ("I64", torch.ScalarType.Int64, 8),
        ("I32", torch.ScalarType.Int32, 4),
        ("I16", torch.ScalarType.Int16, 2),
        ("I8", torch.ScalarType.Int8, 1),
        ("U8", torch.ScalarType.Byte, 1),
        ("BOOL", torch.ScalarType.Bool, 1),
    ];

    static string SupportedDTypes => string.Join(", ", DTypes.Select(d => d.Name));

    /// <summary>The torch dtype of a safetensors dtype name; throws <see cref="DlmException"/> for an unknown name.</summary>
    public static torch.ScalarType ToScalarType(string dtype)
    {
        foreach (var d in DTypes) if (d.Name == dtype) return d.Type;
        throw new DlmException($"unknown safetensors dtype \"{dtype}\" (supported: {SupportedDTypes})");
    }

    /// <summary>The safetensors dtype name of a torch dtype; throws <see cref="DlmException"/> for one the format lacks here.</summary>
    public static string ToDTypeName(torch.ScalarType type)
    {
        foreach (var d in DTypes) if (d.Type == type) return d.Name;
        throw new DlmException($"dtype {type} cannot be stored in safetensors here (supported: {SupportedDTypes})");
    }

    static int? ElementSize(string dtype)
    {
        foreach (var d in DTypes) if (d.Name == dtype) return d.Size;
        return null;
    }

    /// <summary>
    /// Reads and validates the header of a .safetensors file without reading any tensor data. Every
    /// problem (missing or truncated file, bad JSON, unknown dtype, offsets that disagree with the
    /// shape, offsets past the end of the file) is a <see cref="DlmException"/> naming the file and tensor.
    /// </summary>
    public static Dictionary<string, TensorInfo> ReadHeader(string path) => ReadHeaderAndMetadata(path).Tensors;

    /// <summary>The header's "__metadata__" (empty when absent); every value a string, as the format says.</summary>
    public static Dictionary<string, string> ReadMetadata(string path) => ReadHeaderAndMetadata(path).Metadata;

    static (Dictionary<string, TensorInfo> Tensors, Dictionary<string, string> Metadata) ReadHeaderAndMetadata(string path)
    {
        if (!File.Exists(path))
            throw new DlmException(Directory.Exists(path)
                ? $"{path}: is a folder, expected a .safetensors file"
                : $"{path}: file not found");
        IO.RegularFile.Require(path);
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        return ParseHeader(path, handle);
    }

    static (Dictionary<string, TensorInfo> Tensors, Dictionary<string, string> Metadata) ParseHeader(
        string path, Microsoft.Win32.SafeHandles.SafeFileHandle handle)
    {
        long fileLength = RandomAccess.GetLength(handle);
        if (fileLength < 8)
            throw new DlmException($"{path}: not a safetensors file ({fileLength} bytes, shorter than the 8-byte header length)");
        Span<byte> lengthBytes = stackalloc byte[8];
        ReadExactly(path, handle, lengthBytes, 0);
        ulong n = System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (n > MaxHeaderBytes)
            throw new DlmException($"{path}: header length {n} exceeds the {MaxHeaderBytes}-byte limit (not a safetensors file, or corrupt)");
        if (8 + (long)n > fileLength)
            throw new DlmException($"{path}: file is truncated: header says {n} bytes of JSON but the file has only {fileLength - 8} after the length");
        var headerBytes = new byte[n];
        ReadExactly(path, handle, headerBytes, 8);
        long dataStart = 8 + (long)n;
        long dataLength = fileLength - dataStart;

        // The Hugging Face reader requires UTF-8 JSON; invalid bytes in a name would otherwise fail deep inside.
        try { _ = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetCharCount(headerBytes); }
        catch (System.Text.DecoderFallbackException) { throw new DlmException($"{path}: header is not valid UTF-8"); }
        JsonDocument doc;
        try { doc = JsonDocument.Parse(headerBytes, new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw new DlmException($"{path}: header is not valid JSON ({e.Message})"); }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new DlmException($"{path}: header must be a JSON object, found {doc.RootElement.ValueKind}");
            var tensors = new Dictionary<string, TensorInfo>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (prop.Name == "__metadata__")
                {
                    if (prop.Value.ValueKind != JsonValueKind.Object)
                        throw new DlmException($"{path}: \"__metadata__\" must be a JSON object");
                    // The format's metadata is a map of strings: Hugging Face's reader refuses anything else, and so does this one.
                    foreach (var m in prop.Value.EnumerateObject())
                        metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()!
                            : throw new DlmException($"{path}: \"__metadata__\" value \"{m.Name}\" must be a string (got {m.Value.ValueKind.ToString().ToLowerInvariant()})");
                    continue;
                }
                if (tensors.ContainsKey(prop.Name))
                    throw new DlmException($"{path}: tensor \"{prop.Name}\" appears twice in the header");
                tensors[prop.Name] = ParseEntry(path, prop.Name, prop.Value, dataStart, dataLength, fileLength);
            }
            CheckLayout(path, tensors.Values, dataLength);
            return (tensors, metadata);
        }
    }

    static TensorInfo ParseEntry(string path, string name, JsonElement e, long dataStart, long dataLength, long fileLength)
    {
        string where = $"{path}: tensor \"{name}\"";
        if (e.ValueKind != JsonValueKind.Object) throw new DlmException($"{where}: entry must be a JSON object");
        if (!e.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new DlmException($"{where}: missing or non-string \"dtype\"");
        string dtype = dt.GetString()!;
        int size = ElementSize(dtype)
            ?? throw new DlmException($"{where}: unknown dtype \"{dtype}\" (supported: {SupportedDTypes})");

        if (!e.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new DlmException($"{where}: missing or non-array \"shape\"");
        var shape = new long[sh.GetArrayLength()];
        int i = 0;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0)
                throw new DlmException($"{where}: shape {sh.GetRawText()} must hold non-negative integers");
            shape[i++] = v;
        }

        if (!e.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new DlmException($"{where}: missing \"data_offsets\" [begin, end]");
        var o = new long[2];
        i = 0;
        foreach (var d in off.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var v) || v < 0)
                throw new DlmException($"{where}: data_offsets {off.GetRawText()} must be non-negative integers");
            o[i++] = v;
        }
        long begin = o[0], end = o[1];
        if (end < begin) throw new DlmException($"{where}: data_offsets [{begin}, {end}] end before they begin");

        long expected;
        try { expected = checked(shape.Aggregate(1L, (a, b) => checked(a * b)) * size); }
        catch (OverflowException) { throw new DlmException($"{where}: shape [{string.Join(", ", shape)}] is too large"); }
        if (end - begin != expected)
            throw new DlmException(
                $"{where}: data_offsets [{begin}, {end}] span {end - begin} bytes but {dtype}[{string.Join(", ", shape)}] needs {expected}");
        if (end > dataLength)
            throw new DlmException(
                $"{where}: data_offsets [{begin}, {end}] run past the end of the data buffer ({dataLength} bytes; file is {fileLength} bytes): the file is truncated");
        return new TensorInfo(name, dtype, shape, begin, end, path, dataStart);
    }

    /// <summary>
    /// The data buffer must be exactly the tensors, back to back, as the Hugging Face reader requires: sorted by
    /// offset, each begins where the previous ended (no overlap, which would alias two tensors' bytes, and no gap),
    /// the first at 0 and the last ending at the end of the file (no trailing bytes).
    /// </summary>
    static void CheckLayout(string path, IEnumerable<TensorInfo> tensors, long dataLength)
    {
        long next = 0;
        foreach (var t in tensors.OrderBy(t => t.Begin).ThenBy(t => t.End))
        {
            if (t.Begin != next)
                throw new DlmException(t.Begin < next
                    ? $"{path}: tensor \"{t.Name}\": data_offsets [{t.Begin}, {t.End}] overlap the previous tensor's bytes (which end at {next})"
                    : $"{path}: tensor \"{t.Name}\": data_offsets [{t.Begin}, {t.End}] leave a gap after byte {next} of the data buffer");
            next = t.End;
        }
        if (next != dataLength)
            throw new DlmException($"{path}: {dataLength - next} trailing bytes after the last tensor (the data buffer is {dataLength} bytes, the tensors end at {next})");
    }

    /// <summary>Builds the JSON header, padded with spaces to a multiple of 8 bytes as the Hugging Face writer does.</summary>
    static byte[] BuildHeader(IEnumerable<(string Name, string DType, long[] Shape, long Begin, long End)> entries,
        IReadOnlyDictionary<string, string>? metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata is { Count: > 0 })
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata.OrderBy(kv => kv.Key, StringComparer.Ordinal)) w.WriteString(k, v);
                w.WriteEndObject();
            }
            foreach (var (name, dtype, shape, begin, end) in entries)
            {
                w.WriteStartObject(name);
                w.WriteString("dtype", dtype);
                w.WriteStartArray("shape");
                foreach (var d in shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(begin);
                w.WriteNumberValue(end);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        int pad = (int)((8 - ms.Length % 8) % 8);
        for (int k = 0; k < pad; k++) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }

    /// <param name="where">The file (and tensor) named in the error if the file ends early.</param>
    static void ReadExactly(string where, Microsoft.Win32.SafeHandles.SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        while (buffer.Length > 0)
        {
            int got = RandomAccess.Read(handle, buffer, offset);
            if (got <= 0) throw new DlmException($"{where}: unexpected end of file at byte {offset}: the file is truncated");
            buffer = buffer[got..];
            offset += got;
        }
    }
}
