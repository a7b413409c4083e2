using Xunit;
using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Models;

public class SafeTensorsTests
{
    /// <summary>Builds a .safetensors file byte by byte, independently of our writer.</summary>
    internal static byte[] HandWritten(string json, byte[] data, bool pad = true)
    {
        var header = Encoding.UTF8.GetBytes(json);
        if (pad && header.Length % 8 != 0)
            header = [.. header, .. Enumerable.Repeat((byte)' ', 8 - header.Length % 8)];
        var file = new byte[8 + header.Length + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)header.Length);
        header.CopyTo(file, 8);
        data.CopyTo(file, 8 + header.Length);
        return file;
    }

    static byte[] Floats(params float[] v) => v.SelectMany(f => BitConverter.GetBytes(f)).ToArray();

    /// <summary>A tensor whose bytes are exactly <paramref name="raw"/>.</summary>
    static Tensor FromBytes(long[] shape, ScalarType dtype, byte[] raw)
    {
        var t = torch.empty(shape, dtype);
        t.bytes = raw;
        return t;
    }

    internal static byte[] Bytes(Tensor t)
    {
        using var c = t.contiguous();
        return c.bytes.ToArray();
    }

    /// <summary>Same dtype, shape and bytes.</summary>
    internal static void AssertSame(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(Bytes(expected), Bytes(actual));
    }

    [Fact]
    public void F32_round_trip_is_bit_exact_including_nan_payloads_and_negative_zero()
    {
        using var dir = new TempFolder();
        uint[] bits = [0x7FC00000, 0x7FC00001, 0x7F800001, 0xFFC12345, 0x80000000, 0x00000000, 0x00000001, 0x7F800000, 0xFF800000, 0x3F800000, 0xC0490FDB, 0x7F7FFFFF];
        var raw = bits.SelectMany(b => BitConverter.GetBytes(b)).ToArray();
        using var t = FromBytes([3, 4], ScalarType.Float32, raw);
        var path = dir["a.safetensors"];
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["w"] = t });
        var loaded = SafeTensors.Load(path);
        using var w = loaded["w"];
        Assert.Equal(ScalarType.Float32, w.dtype);
        Assert.Equal([3L, 4L], w.shape);
        Assert.Equal(raw, Bytes(w));
    }

    [Theory]
    [InlineData(ScalarType.Float32, "F32")]
    [InlineData(ScalarType.BFloat16, "BF16")]
    [InlineData(ScalarType.Float16, "F16")]
    [InlineData(ScalarType.Int64, "I64")]
    [InlineData(ScalarType.Int32, "I32")]
    [InlineData(ScalarType.Float64, "F64")]
    [InlineData(ScalarType.Int16, "I16")]
    [InlineData(ScalarType.Int8, "I8")]
    [InlineData(ScalarType.Byte, "U8")]
    [InlineData(ScalarType.Bool, "BOOL")]
    public void Every_dtype_round_trips_bit_exact_and_keeps_its_dtype(ScalarType dtype, string name)
    {
        using var dir = new TempFolder();
        var rng = new Random(1234 + (int)dtype);
        long[] shape = [5, 7, 3];
        using var probe = torch.empty(shape, dtype);
        var raw = new byte[probe.numel() * probe.ElementSize];
        rng.NextBytes(raw); // arbitrary bit patterns: NaNs, subnormals, negative zeros
        if (dtype == ScalarType.Bool) for (int i = 0; i < raw.Length; i++) raw[i] &= 1;
        using var t = FromBytes(shape, dtype, raw);
        var path = dir["t.safetensors"];
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["x"] = t });

        Assert.Equal(name, SafeTensors.ReadHeader(path)["x"].DType);
        using var back = SafeTensors.Load(path)["x"];
        Assert.Equal(dtype, back.dtype);
        Assert.Equal(shape, back.shape);
        Assert.Equal(raw, Bytes(back));
    }

    [Fact]
    public void Tensors_larger_than_a_slice_are_read_and_written_in_slices()
    {
        using var dir = new TempFolder();
        var rng = new Random(99);
        var raw = new byte[4 * 1001];
        rng.NextBytes(raw);
        using var t = FromBytes([7, 11, 13], ScalarType.Float32, raw);
        using var odd = torch.arange(17, ScalarType.Int64);
        var path = dir["sliced.safetensors"];
        SafeTensors.ChunkBytesOverride = 24; // 6 floats / 3 longs per slice; 1001 floats leave a partial last slice
        try
        {
            SafeTensors.Save(path, new Dictionary<string, Tensor> { ["t"] = t, ["odd"] = odd });
            var d = SafeTensors.Load(path);
            AssertSame(t, d["t"]);
            AssertSame(odd, d["odd"]);
            foreach (var x in d.Values) x.Dispose();
        }
        finally { SafeTensors.ChunkBytesOverride = null; }
        using var back = SafeTensors.LoadTensor(path, "t"); // and the whole-tensor path reads the sliced writer's file
        Assert.Equal(raw, Bytes(back));
    }

    [Fact]
    public void Views_scalars_and_empty_tensors_round_trip()
    {
        using var dir = new TempFolder();
        var g = new torch.Generator(7);
        using var big = torch.randn([6, 8], generator: g);
        using var transposed = big.t();            // non-contiguous
        using var sliced = big.narrow(0, 2, 3);    // contiguous view with a storage offset
        using var scalar = torch.tensor(3.5f);
        using var empty = torch.empty([0, 4], ScalarType.Int64);
        var path = dir["v.safetensors"];
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["t"] = transposed, ["s"] = sliced, ["scalar"] = scalar, ["empty"] = empty });
        var d = SafeTensors.Load(path);
        AssertSame(transposed, d["t"]);
        AssertSame(sliced, d["s"]);
        Assert.Empty(d["scalar"].shape);
        Assert.Equal(3.5f, d["scalar"].item<float>());
        Assert.Equal([0L, 4L], d["empty"].shape);
        foreach (var t in d.Values) t.Dispose();
        Assert.False(transposed.IsInvalid); // the caller's tensors are not disposed by Save
    }

    [Fact]
    public void Writer_sorts_by_name_pads_the_header_and_stores_metadata()
    {
        using var dir = new TempFolder();
        using var a = torch.ones(3, ScalarType.Int32);
        using var b = torch.zeros(2, ScalarType.BFloat16);
        var path = dir["m.safetensors"];
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["zeta"] = a, ["alpha"] = b }, new Dictionary<string, string> { ["format"] = "pt" });

        var file = File.ReadAllBytes(path);
        var n = (long)BinaryPrimitives.ReadUInt64LittleEndian(file);
        Assert.Equal(0, n % 8);
        var json = Encoding.UTF8.GetString(file, 8, (int)n);
        using var doc = JsonDocument.Parse(json);
        var keys = doc.RootElement.EnumerateObject().Select(p => p.Name).ToList();
        Assert.Equal(["__metadata__", "alpha", "zeta"], keys);
        Assert.Equal([0L, 4L], doc.RootElement.GetProperty("alpha").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal([4L, 16L], doc.RootElement.GetProperty("zeta").GetProperty("data_offsets").EnumerateArray().Select(e => e.GetInt64()));
        Assert.Equal(8 + n + 16, file.Length);
        Assert.Equal("pt", SafeTensors.ReadMetadata(path)["format"]);
        Assert.Empty(Directory.GetFiles(dir.Path, ".*")); // no temp file left behind
    }

    [Fact]
    public void Reads_a_hand_written_file()
    {
        using var dir = new TempFolder();
        var data = Floats(1f, -2f, 3.25f, 4e-3f).Concat(BitConverter.GetBytes(-7L)).Concat(BitConverter.GetBytes(long.MaxValue)).ToArray();
        var json = """{"__metadata__":{"format":"pt","total":"2"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},"ids":{"dtype":"I64","shape":[2],"data_offsets":[16,32]}}""";
        var path = dir["h.safetensors"];
        File.WriteAllBytes(path, HandWritten(json, data));

        var header = SafeTensors.ReadHeader(path);
        Assert.Equal(2, header.Count);
        Assert.Equal("F32", header["w"].DType);
        Assert.Equal([2L, 2L], header["w"].Shape);
        Assert.Equal((0L, 16L), (header["w"].Begin, header["w"].End));
        Assert.Equal((16L, 32L), (header["ids"].Begin, header["ids"].End));

        var d = SafeTensors.Load(path);
        Assert.Equal([2L, 2L], d["w"].shape);
        Assert.Equal([1f, -2f, 3.25f, 4e-3f], d["w"].data<float>().ToArray());
        Assert.Equal([-7L, long.MaxValue], d["ids"].data<long>().ToArray());
        foreach (var t in d.Values) t.Dispose();

        // An unpadded header is read too (the format does not require padding).
        var unpadded = dir["u.safetensors"];
        File.WriteAllBytes(unpadded, HandWritten("""{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}}""", data[..16], pad: false));
        using var w = SafeTensors.LoadTensor(unpadded, "w");
        Assert.Equal(4e-3f, w[1, 1].item<float>());
    }

    [Fact]
    public void Loading_by_name_returns_only_that_tensor()
    {
        using var dir = new TempFolder();
        using var a = torch.arange(6, ScalarType.Int64);
        using var b = torch.arange(4, ScalarType.Float32);
        var path = dir["o.safetensors"];
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a"] = a, ["b"] = b });
        var d = SafeTensors.Load(path, ["b"]);
        Assert.Equal(["b"], d.Keys);
        Assert.Equal([0f, 1f, 2f, 3f], d["b"].data<float>().ToArray());
        d["b"].Dispose();
        var e = Assert.Throws<DlmException>(() => SafeTensors.Load(path, ["nope"]));
        Assert.Contains(path, e.Message);
        Assert.Contains("nope", e.Message);
    }

    [Fact]
    public void Truncated_file_names_the_file_and_the_tensor()
    {
        using var dir = new TempFolder();
        using var a = torch.ones(10, ScalarType.Float32);
        using var b = torch.ones(10, ScalarType.Float32);
        var path = dir["trunc.safetensors"];
        SafeTensors.Save(path, new Dictionary<string, Tensor> { ["a.weight"] = a, ["b.weight"] = b });
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..^5]);
        var e = Assert.Throws<DlmException>(() => SafeTensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("b.weight", e.Message);
        Assert.Contains("truncated", e.Message);
        e = Assert.Throws<DlmException>(() => SafeTensors.ReadHeader(path));
        Assert.Contains("b.weight", e.Message);
    }

    [Fact]
    public void Short_files_and_headers_past_the_end_are_errors()
    {
        using var dir = new TempFolder();
        var tiny = dir["tiny.safetensors"];
        File.WriteAllBytes(tiny, [1, 2, 3]);
        var e = Assert.Throws<DlmException>(() => SafeTensors.Load(tiny));
        Assert.Contains(tiny, e.Message);
        Assert.Contains("8-byte", e.Message);

        var cut = dir["cut.safetensors"];
        File.WriteAllBytes(cut, HandWritten("""{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}""", Floats(1f))[..20]);
        e = Assert.Throws<DlmException>(() => SafeTensors.ReadHeader(cut));
        Assert.Contains(cut, e.Message);
        Assert.Contains("truncated", e.Message);

        var missing = dir["missing.safetensors"];
        e = Assert.Throws<DlmException>(() => SafeTensors.Load(missing));
        Assert.Contains(missing, e.Message);
        Assert.Contains("not found", e.Message);
    }

    [Fact]
    public void Bad_json_is_an_error_naming_the_file()
    {
        using var dir = new TempFolder();
        var path = dir["bad.safetensors"];
        File.WriteAllBytes(path, HandWritten("""{"w":{"dtype":"F32",""", []));
        var e = Assert.Throws<DlmException>(() => SafeTensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("JSON", e.Message);
    }

    [Fact]
    public void Unknown_dtype_is_an_error_naming_file_tensor_and_dtype()
    {
        using var dir = new TempFolder();
        var path = dir["dt.safetensors"];
        File.WriteAllBytes(path, HandWritten("""{"emb":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}""", new byte[8]));
        var e = Assert.Throws<DlmException>(() => SafeTensors.ReadHeader(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("emb", e.Message);
        Assert.Contains("Q4", e.Message);
    }

    [Fact]
    public void Offsets_that_disagree_with_the_shape_are_an_error()
    {
        using var dir = new TempFolder();
        var path = dir["off.safetensors"];
        File.WriteAllBytes(path, HandWritten("""{"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}}""", new byte[16]));
        var e = Assert.Throws<DlmException>(() => SafeTensors.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("\"w\"", e.Message);
        Assert.Contains("16", e.Message);

        File.WriteAllBytes(path, HandWritten("""{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,4]}}""", new byte[16]));
        e = Assert.Throws<DlmException>(() => SafeTensors.Load(path));
        Assert.Contains("\"w\"", e.Message);
    }

    [Fact]
    public void PyBridge_reads_what_we_write_and_we_read_what_it_writes()
    {
        using var dir = new TempFolder();
        var g = new torch.Generator(42);
        using var f = torch.randn([4, 3], generator: g);
        using var h = torch.randn([5], generator: g).to(ScalarType.BFloat16);
        using var i = torch.randint(0, 1000, [2, 2], ScalarType.Int64, generator: g);
        var ours = dir["ours.safetensors"];
        SafeTensors.Save(ours, new Dictionary<string, Tensor> { ["f"] = f, ["h"] = h, ["i"] = i });
        var theirs = TorchSharp.PyBridge.Safetensors.LoadStateDict(ours);
        Assert.Equal(3, theirs.Count);
        foreach (var (name, orig) in new[] { ("f", f), ("h", h), ("i", i) })
        {
            Assert.Equal(orig.dtype, theirs[name].dtype);
            Assert.Equal(orig.shape, theirs[name].shape);
            Assert.Equal(Bytes(orig), Bytes(theirs[name]));
        }

        var written = dir["theirs.safetensors"];
        TorchSharp.PyBridge.Safetensors.SaveStateDict(written, theirs);
        var back = SafeTensors.Load(written);
        foreach (var (name, t) in theirs)
        {
            Assert.Equal(t.dtype, back[name].dtype);
            Assert.Equal(Bytes(t), Bytes(back[name]));
        }
        foreach (var t in theirs.Values.Concat(back.Values)) t.Dispose();
    }
}
