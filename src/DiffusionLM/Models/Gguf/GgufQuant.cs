using System.Buffers.Binary;

namespace DiffusionLM.Models.Gguf;

/// <summary>
/// Encodes float32 rows in the ggml types the exporter writes, bit for bit as ggml's reference
/// quantizers (ggml-quants.c): F16 is IEEE half with round-to-nearest-even; Q8_0 cuts each row into
/// blocks of 32 values, each stored as a half scale d = max|x| / 127 and 32 signed bytes round(x / d)
/// (rounded half away from zero, as C's roundf), 34 bytes a block.
/// </summary>
public static class GgufQuant
{
    public const int Q8BlockSize = 32, Q8BlockBytes = 2 + Q8BlockSize;

    public static byte[] F32(ReadOnlySpan<float> x)
    {
        var bytes = new byte[x.Length * 4];
        for (int i = 0; i < x.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(4 * i), x[i]);
        return bytes;
    }

    public static byte[] F16(ReadOnlySpan<float> x)
    {
        var bytes = new byte[x.Length * 2];
        for (int i = 0; i < x.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(2 * i), (Half)x[i]);
        return bytes;
    }

    /// <summary>Q8_0 of a row-major matrix whose rows have <paramref name="rowLength"/> values (a multiple of 32, so blocks never span rows).</summary>
    public static byte[] Q8_0(ReadOnlySpan<float> x, long rowLength)
    {
        if (rowLength % Q8BlockSize != 0) throw new ArgumentException($"Q8_0 needs rows of a multiple of {Q8BlockSize} values, not {rowLength}");
        int blocks = x.Length / Q8BlockSize;
        var bytes = new byte[blocks * Q8BlockBytes];
        for (int b = 0; b < blocks; b++)
        {
            var block = x.Slice(b * Q8BlockSize, Q8BlockSize);
            float amax = 0;
            foreach (var v in block) amax = Math.Max(amax, Math.Abs(v));
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            var dst = bytes.AsSpan(b * Q8BlockBytes, Q8BlockBytes);
            BinaryPrimitives.WriteHalfLittleEndian(dst, (Half)d);
            for (int j = 0; j < Q8BlockSize; j++)
                dst[2 + j] = unchecked((byte)(sbyte)MathF.Round(block[j] * id, MidpointRounding.AwayFromZero));
        }
        return bytes;
    }

    /// <summary>Decodes Q8_0 back to float32 (the value ggml computes with), for tests and error bounds.</summary>
    public static float[] DequantizeQ8_0(ReadOnlySpan<byte> bytes)
    {
        int blocks = bytes.Length / Q8BlockBytes;
        var x = new float[blocks * Q8BlockSize];
        for (int b = 0; b < blocks; b++)
        {
            var src = bytes.Slice(b * Q8BlockBytes, Q8BlockBytes);
            float d = (float)BinaryPrimitives.ReadHalfLittleEndian(src);
            for (int j = 0; j < Q8BlockSize; j++) x[b * Q8BlockSize + j] = d * (sbyte)src[2 + j];
        }
        return x;
    }
}
