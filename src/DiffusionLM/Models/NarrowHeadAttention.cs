using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// Inference attention for heads too narrow for a matrix product to pay. With heads 8 wide (the bundled default:
/// 16 heads × 8), libtorch's CPU attention runs at the speed of its softmax, not of its arithmetic: measured on the
/// Zen 5 EPYC at one thread, 16 heads × 272 × 272 scores took 1.86–1.93 ms a layer (1.6 ns a score), and a
/// bmm–softmax–bmm was no faster; this kernel takes 0.75–0.80 ms (1.18 ms at 256-bit vectors only). One query row at
/// a time, with keys and values transposed so that 8 (or 16) keys share one vector, it runs the scores (D multiply-adds
/// per vector of keys), their exponentials (a polynomial, relative error 2.2e-7) and the weighted sum of values (D
/// multiply-adds per vector). The scores of a row stay in a buffer the size of the sequence, so nothing L × S is ever
/// written. Grouped-query heads read their shared key/value head directly (no repeat).
/// <para>Each query row is computed alone, in the same order, whatever the batch, the window or the other rows: a
/// cached window's rows equal the same rows of a full forward bit for bit when their keys do. It matches
/// <c>scaled_dot_product_attention</c> to float rounding (a test holds it to 1e-5); training keeps libtorch's kernel,
/// which has a backward.</para>
/// </summary>
public static class NarrowHeadAttention
{
    /// <summary>Widest head this kernel takes; wider heads make a matrix product worthwhile.</summary>
    public const int MaxHeadDim = 32;
    /// <summary>Keys are padded to a multiple of 16: whole vectors at both widths.</summary>
    const int KeyPadding = 16;
    const int Lanes = 8;

    /// <summary>
    /// Whether <see cref="Forward"/> takes this call: CPU float32, no gradient wanted, no causal mask, heads a
    /// multiple of 8 wide and at most <see cref="MaxHeadDim"/>, and the mask (if any) a bool [B, 1, L, S].
    /// </summary>
    public static bool Applies(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal)
    {
        if (causal || !Vector256.IsHardwareAccelerated || !Enabled) return false;
        if (q.device_type != TorchSharp.DeviceType.CPU || q.dtype != ScalarType.Float32 || k.dtype != ScalarType.Float32 || v.dtype != ScalarType.Float32) return false;
        if (is_grad_enabled() && (q.requires_grad || k.requires_grad || v.requires_grad)) return false;
        // Each shape read is a native call: read them once.
        long[] qs = q.shape, ks = k.shape, vs = v.shape;
        long d = qs[3];
        if (d % Lanes != 0 || d > MaxHeadDim || ks[3] != d || vs[3] != d || qs[1] % ks[1] != 0) return false;
        if (mask is null) return true;
        var ms = mask.shape;
        return mask.dtype == ScalarType.Bool && ms.Length == 4 && ms[0] == qs[0] && ms[1] == 1 && ms[2] == qs[2] && ms[3] == ks[2];
    }

    /// <summary>Off switch for side-by-side measurement (the benchmark's "libtorch attention" row); on by default.</summary>
    public static bool Enabled { get; set; } = true;

    /// <summary>libtorch's attention until the scope is disposed, then the setting from before (process-wide).</summary>
    public static IDisposable SwitchedOff() => new OffScope();

    sealed class OffScope : IDisposable
    {
        readonly bool _before = Enabled;
        public OffScope() => Enabled = false;
        public void Dispose() => Enabled = _before;
    }

    /// <param name="q">[B, H, L, D] queries.</param>
    /// <param name="k">[B, Hkv, S, D] keys; query head h reads key/value head h / (H / Hkv).</param>
    /// <param name="v">[B, Hkv, S, D] values.</param>
    /// <param name="mask">null, or bool [B, 1, L, S], true where a query may attend a key.</param>
    /// <returns>[B, L, H·D], the layout the output projection reads. A row whose keys are all masked is zero.</returns>
    public static Tensor Forward(Tensor q, Tensor k, Tensor v, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        long[] qs = q.shape;
        long b = qs[0], h = qs[1], l = qs[2], d = qs[3], hkv = k.shape[1], s = k.shape[2];
        long sPadded = (s + KeyPadding - 1) / KeyPadding * KeyPadding;
        // Keys and values as [B, Hkv, D, S'] with S' a multiple of the vector width; the padded keys are masked below.
        var kt = nn.functional.pad(k.transpose(-1, -2), [0, sPadded - s]).contiguous();
        var vt = nn.functional.pad(v.transpose(-1, -2), [0, sPadded - s]).contiguous();
        var qc = q.contiguous();
        var maskC = mask?.contiguous();
        var output = empty([b, l, h * d], dtype: ScalarType.Float32);
        var shape = new Shape((int)b, (int)h, (int)l, (int)d, (int)hkv, (int)s, (int)sPadded, 1f / MathF.Sqrt(d));
        int threads = Math.Max(1, get_num_threads());
        int work = (int)(b * h);
        if (threads == 1 || work == 1)
        {
            // One thread: the tensors' memory is looked up once (each lookup is a few native calls).
            var views = new Views(qc, kt, vt, maskC, output);
            for (int item = 0; item < work; item++) Head(item, shape, views);
        }
        else
            Parallel.For(0, work, new ParallelOptions { MaxDegreeOfParallelism = threads }, item => Head(item, shape, new Views(qc, kt, vt, maskC, output)));
        return output.MoveToOuterDisposeScope();
    }

    readonly record struct Shape(int B, int H, int L, int D, int Hkv, int S, int SPadded, float Scale);

    [ThreadStatic] static float[]? _scores;

    /// <summary>The float32 (and bool) memory of the call's contiguous CPU tensors.</summary>
    readonly ref struct Views(Tensor q, Tensor kt, Tensor vt, Tensor? mask, Tensor output)
    {
        public readonly ReadOnlySpan<float> Q = MemoryMarshal.Cast<byte, float>(q.bytes);
        public readonly ReadOnlySpan<float> Kt = MemoryMarshal.Cast<byte, float>(kt.bytes);
        public readonly ReadOnlySpan<float> Vt = MemoryMarshal.Cast<byte, float>(vt.bytes);
        public readonly ReadOnlySpan<bool> Mask = mask is null ? default : MemoryMarshal.Cast<byte, bool>(mask.bytes);
        public readonly Span<float> Output = MemoryMarshal.Cast<byte, float>(output.bytes);
        public readonly bool Masked = mask is not null;
    }

    /// <summary>Every query row of one (batch row, head).</summary>
    static void Head(int item, Shape sh, Views t)
    {
        int bi = item / sh.H, hi = item % sh.H, kvh = hi / (sh.H / sh.Hkv);
        var qs = t.Q;
        var ks = t.Kt.Slice((bi * sh.Hkv + kvh) * sh.D * sh.SPadded, sh.D * sh.SPadded);
        var vs = t.Vt.Slice((bi * sh.Hkv + kvh) * sh.D * sh.SPadded, sh.D * sh.SPadded);
        var os = t.Output;
        var ms = t.Mask;
        var scores = _scores is { } buffer && buffer.Length >= sh.SPadded ? buffer : (_scores = new float[Math.Max(sh.SPadded, 512)]);
        Span<Vector256<float>> qv = stackalloc Vector256<float>[sh.D];
        for (int i = 0; i < sh.L; i++)
        {
            var qi = qs.Slice(((bi * sh.H + hi) * sh.L + i) * sh.D, sh.D);
            if (sh.D != Lanes) for (int j = 0; j < sh.D; j++) qv[j] = Vector256.Create(qi[j] * sh.Scale);
            var allowed = !t.Masked ? default : ms.Slice((bi * sh.L + i) * sh.S, sh.S);
            var row = os.Slice(((bi * sh.L + i) * sh.H + hi) * sh.D, sh.D);
            if (sh.D == Lanes && Vector512.IsHardwareAccelerated) Row8Wide(qi, sh.Scale, ks, vs, sh.S, sh.SPadded, allowed, scores, row);
            else if (sh.D == Lanes) Row8(qi, sh.Scale, ks, vs, sh.S, sh.SPadded, allowed, scores, row);
            else Row(qv, ks, vs, sh.S, sh.SPadded, allowed, scores, row);
        }
    }

    /// <summary>softmax(q·Kᵀ) V for one query row (q already scaled), keys and values transposed and padded.</summary>
    static void Row(ReadOnlySpan<Vector256<float>> q, ReadOnlySpan<float> kt, ReadOnlySpan<float> vt, int s, int sPadded,
        ReadOnlySpan<bool> allowed, float[] scoreBuffer, Span<float> output)
    {
        int d = q.Length;
        ref float k0 = ref MemoryMarshal.GetReference(kt);
        ref float v0 = ref MemoryMarshal.GetReference(vt);
        ref float sc = ref MemoryMarshal.GetArrayDataReference(scoreBuffer);
        // Pass 1: scores, with the padded and masked keys at −∞.
        var max = Vector256.Create(float.NegativeInfinity);
        for (int j = 0; j < sPadded; j += Lanes)
        {
            var acc = q[0] * Vector256.LoadUnsafe(ref k0, (nuint)j);
            for (int c = 1; c < d; c++) acc = Vector256.FusedMultiplyAdd(q[c], Vector256.LoadUnsafe(ref k0, (nuint)(c * sPadded + j)), acc);
            acc.StoreUnsafe(ref sc, (nuint)j);
        }
        MaskScores(scoreBuffer, s, sPadded, allowed);
        for (int j = 0; j < sPadded; j += Lanes) max = Vector256.Max(max, Vector256.LoadUnsafe(ref sc, (nuint)j));
        float m = HorizontalMax(max);
        if (float.IsNegativeInfinity(m)) { output.Clear(); return; }
        // Pass 2: the exponentials, kept in place of the scores, and their sum.
        var mv = Vector256.Create(m);
        var sum = Vector256<float>.Zero;
        for (int j = 0; j < sPadded; j += Lanes)
        {
            var p = Exp(Vector256.LoadUnsafe(ref sc, (nuint)j) - mv);
            p.StoreUnsafe(ref sc, (nuint)j);
            sum += p;
        }
        float inverse = 1f / Vector256.Sum(sum);
        // Pass 3: Σ_j p_j v_j, eight dimensions at a time (eight independent accumulators).
        for (int c = 0; c < d; c += Lanes)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
            ref float r = ref Unsafe.Add(ref v0, c * sPadded);
            for (int j = 0; j < sPadded; j += Lanes)
            {
                var p = Vector256.LoadUnsafe(ref sc, (nuint)j);
                a0 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref r, (nuint)j), a0);
                a1 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref r, (nuint)(sPadded + j)), a1);
                a2 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref r, (nuint)(2 * sPadded + j)), a2);
                a3 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref r, (nuint)(3 * sPadded + j)), a3);
                a4 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref r, (nuint)(4 * sPadded + j)), a4);
                a5 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref r, (nuint)(5 * sPadded + j)), a5);
                a6 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref r, (nuint)(6 * sPadded + j)), a6);
                a7 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref r, (nuint)(7 * sPadded + j)), a7);
            }
            output[c] = Vector256.Sum(a0) * inverse; output[c + 1] = Vector256.Sum(a1) * inverse;
            output[c + 2] = Vector256.Sum(a2) * inverse; output[c + 3] = Vector256.Sum(a3) * inverse;
            output[c + 4] = Vector256.Sum(a4) * inverse; output[c + 5] = Vector256.Sum(a5) * inverse;
            output[c + 6] = Vector256.Sum(a6) * inverse; output[c + 7] = Vector256.Sum(a7) * inverse;
        }
    }

    /// <summary>The padded keys, and those the mask forbids, at −∞: their weight comes out exactly 0.</summary>
    static void MaskScores(float[] scores, int s, int sPadded, ReadOnlySpan<bool> allowed)
    {
        scores.AsSpan(s, sPadded - s).Fill(float.NegativeInfinity);
        if (!allowed.IsEmpty)
            for (int j = 0; j < s; j++) if (!allowed[j]) scores[j] = float.NegativeInfinity;
    }

    /// <summary>
    /// <see cref="Row"/> for heads 8 wide, 8 keys a vector: the exponentials and the weighted sum share one pass, and
    /// the eight query components stay in registers.
    /// </summary>
    static void Row8(ReadOnlySpan<float> qi, float scale, ReadOnlySpan<float> kt, ReadOnlySpan<float> vt, int s, int sp,
        ReadOnlySpan<bool> allowed, float[] scoreBuffer, Span<float> output)
    {
        ref float k = ref MemoryMarshal.GetReference(kt);
        ref float v = ref MemoryMarshal.GetReference(vt);
        ref float sc = ref MemoryMarshal.GetArrayDataReference(scoreBuffer);
        Vector256<float> q0 = Vector256.Create(qi[0] * scale), q1 = Vector256.Create(qi[1] * scale), q2 = Vector256.Create(qi[2] * scale),
            q3 = Vector256.Create(qi[3] * scale), q4 = Vector256.Create(qi[4] * scale), q5 = Vector256.Create(qi[5] * scale),
            q6 = Vector256.Create(qi[6] * scale), q7 = Vector256.Create(qi[7] * scale);
        for (int j = 0; j < sp; j += 8)
        {
            var acc = q0 * Vector256.LoadUnsafe(ref k, (nuint)j);
            acc = Vector256.FusedMultiplyAdd(q1, Vector256.LoadUnsafe(ref k, (nuint)(sp + j)), acc);
            acc = Vector256.FusedMultiplyAdd(q2, Vector256.LoadUnsafe(ref k, (nuint)(2 * sp + j)), acc);
            acc = Vector256.FusedMultiplyAdd(q3, Vector256.LoadUnsafe(ref k, (nuint)(3 * sp + j)), acc);
            acc = Vector256.FusedMultiplyAdd(q4, Vector256.LoadUnsafe(ref k, (nuint)(4 * sp + j)), acc);
            acc = Vector256.FusedMultiplyAdd(q5, Vector256.LoadUnsafe(ref k, (nuint)(5 * sp + j)), acc);
            acc = Vector256.FusedMultiplyAdd(q6, Vector256.LoadUnsafe(ref k, (nuint)(6 * sp + j)), acc);
            acc = Vector256.FusedMultiplyAdd(q7, Vector256.LoadUnsafe(ref k, (nuint)(7 * sp + j)), acc);
            acc.StoreUnsafe(ref sc, (nuint)j);
        }
        MaskScores(scoreBuffer, s, sp, allowed);
        var max = Vector256.Create(float.NegativeInfinity);
        for (int j = 0; j < sp; j += 8) max = Vector256.Max(max, Vector256.LoadUnsafe(ref sc, (nuint)j));
        float m = HorizontalMax(max);
        if (float.IsNegativeInfinity(m)) { output.Clear(); return; }
        var mv = Vector256.Create(m);
        Vector256<float> sum = default, a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int j = 0; j < sp; j += 8)
        {
            var p = Exp(Vector256.LoadUnsafe(ref sc, (nuint)j) - mv);
            sum += p;
            a0 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref v, (nuint)j), a0);
            a1 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref v, (nuint)(sp + j)), a1);
            a2 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref v, (nuint)(2 * sp + j)), a2);
            a3 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref v, (nuint)(3 * sp + j)), a3);
            a4 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref v, (nuint)(4 * sp + j)), a4);
            a5 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref v, (nuint)(5 * sp + j)), a5);
            a6 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref v, (nuint)(6 * sp + j)), a6);
            a7 = Vector256.FusedMultiplyAdd(p, Vector256.LoadUnsafe(ref v, (nuint)(7 * sp + j)), a7);
        }
        float inverse = 1f / Vector256.Sum(sum);
        output[0] = Vector256.Sum(a0) * inverse; output[1] = Vector256.Sum(a1) * inverse; output[2] = Vector256.Sum(a2) * inverse;
        output[3] = Vector256.Sum(a3) * inverse; output[4] = Vector256.Sum(a4) * inverse; output[5] = Vector256.Sum(a5) * inverse;
        output[6] = Vector256.Sum(a6) * inverse; output[7] = Vector256.Sum(a7) * inverse;
    }

    /// <summary>
    /// <see cref="Row8"/> at 16 keys a vector, where 512-bit vectors run natively (AVX-512). The same code at twice the
    /// width: measured on the Zen 5 EPYC at one thread, 0.74 against Row8's 1.18 ms for 16 heads × 272 × 272 scores.
    /// </summary>
    static void Row8Wide(ReadOnlySpan<float> qi, float scale, ReadOnlySpan<float> kt, ReadOnlySpan<float> vt, int s, int sp,
        ReadOnlySpan<bool> allowed, float[] scoreBuffer, Span<float> output)
    {
        ref float k = ref MemoryMarshal.GetReference(kt);
        ref float v = ref MemoryMarshal.GetReference(vt);
        ref float sc = ref MemoryMarshal.GetArrayDataReference(scoreBuffer);
        Vector512<float> q0 = Vector512.Create(qi[0] * scale), q1 = Vector512.Create(qi[1] * scale), q2 = Vector512.Create(qi[2] * scale),
            q3 = Vector512.Create(qi[3] * scale), q4 = Vector512.Create(qi[4] * scale), q5 = Vector512.Create(qi[5] * scale),
            q6 = Vector512.Create(qi[6] * scale), q7 = Vector512.Create(qi[7] * scale);
        for (int j = 0; j < sp; j += 16)
        {
            var acc = q0 * Vector512.LoadUnsafe(ref k, (nuint)j);
            acc = Vector512.FusedMultiplyAdd(q1, Vector512.LoadUnsafe(ref k, (nuint)(sp + j)), acc);
            acc = Vector512.FusedMultiplyAdd(q2, Vector512.LoadUnsafe(ref k, (nuint)(2 * sp + j)), acc);
            acc = Vector512.FusedMultiplyAdd(q3, Vector512.LoadUnsafe(ref k, (nuint)(3 * sp + j)), acc);
            acc = Vector512.FusedMultiplyAdd(q4, Vector512.LoadUnsafe(ref k, (nuint)(4 * sp + j)), acc);
            acc = Vector512.FusedMultiplyAdd(q5, Vector512.LoadUnsafe(ref k, (nuint)(5 * sp + j)), acc);
            acc = Vector512.FusedMultiplyAdd(q6, Vector512.LoadUnsafe(ref k, (nuint)(6 * sp + j)), acc);
            acc = Vector512.FusedMultiplyAdd(q7, Vector512.LoadUnsafe(ref k, (nuint)(7 * sp + j)), acc);
            acc.StoreUnsafe(ref sc, (nuint)j);
        }
        MaskScores(scoreBuffer, s, sp, allowed);
        var max = Vector512.Create(float.NegativeInfinity);
        for (int j = 0; j < sp; j += 16) max = Vector512.Max(max, Vector512.LoadUnsafe(ref sc, (nuint)j));
        float m = HorizontalMax(Vector256.Max(max.GetLower(), max.GetUpper()));
        if (float.IsNegativeInfinity(m)) { output.Clear(); return; }
        var mv = Vector512.Create(m);
        Vector512<float> sum = default, a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int j = 0; j < sp; j += 16)
        {
            var p = Exp(Vector512.LoadUnsafe(ref sc, (nuint)j) - mv);
            sum += p;
            a0 = Vector512.FusedMultiplyAdd(p, Vector512.LoadUnsafe(ref v, (nuint)j), a0);
            a1 = Vector512.FusedMultiplyAdd(p, Vector512.LoadUnsafe(ref v, (nuint)(sp + j)), a1);
            a2 = Vector512.FusedMultiplyAdd(p, Vector512.LoadUnsafe(ref v, (nuint)(2 * sp + j)), a2);
            a3 = Vector512.FusedMultiplyAdd(p, Vector512.LoadUnsafe(ref v, (nuint)(3 * sp + j)), a3);
            a4 = Vector512.FusedMultiplyAdd(p, Vector512.LoadUnsafe(ref v, (nuint)(4 * sp + j)), a4);
            a5 = Vector512.FusedMultiplyAdd(p, Vector512.LoadUnsafe(ref v, (nuint)(5 * sp + j)), a5);
            a6 = Vector512.FusedMultiplyAdd(p, Vector512.LoadUnsafe(ref v, (nuint)(6 * sp + j)), a6);
            a7 = Vector512.FusedMultiplyAdd(p, Vector512.LoadUnsafe(ref v, (nuint)(7 * sp + j)), a7);
        }
        float inverse = 1f / Vector512.Sum(sum);
        output[0] = Vector512.Sum(a0) * inverse; output[1] = Vector512.Sum(a1) * inverse; output[2] = Vector512.Sum(a2) * inverse;
        output[3] = Vector512.Sum(a3) * inverse; output[4] = Vector512.Sum(a4) * inverse; output[5] = Vector512.Sum(a5) * inverse;
        output[6] = Vector512.Sum(a6) * inverse; output[7] = Vector512.Sum(a7) * inverse;
    }

    static float HorizontalMax(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        float r = m[0];
        for (int i = 1; i < Vector128<float>.Count; i++) r = MathF.Max(r, m[i]);
        return r;
    }

    /// <summary>
    /// e^x for x ≤ 0: x = n·ln 2 + r with n an integer and |r| ≤ ln 2 / 2, e^r by its degree-6 Taylor polynomial
    /// (truncation 1.2e-7), 2^n by the exponent bits: relative error 2.2e-7 at worst over [−87, 0] (the test holds it
    /// under 1e-6). Below −87 (where e^x leaves float's normal range) it is 0, so a masked key (−∞) weighs exactly nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> x)
    {
        var inRange = Vector256.GreaterThanOrEqual(x, Vector256.Create(-87f));
        x = Vector256.Max(x, Vector256.Create(-87f));
        var n = Vector256.Round(x * Vector256.Create(1.44269504f));
        // r = x − n·ln 2 in two parts (Cody–Waite): ln 2's high part has few bits, so n·high is exact.
        var r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-0.693145751953125f), x);
        r = Vector256.FusedMultiplyAdd(n, Vector256.Create(-1.42860677e-6f), r);
        var p = Vector256.Create(1f / 720);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 120));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 24));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f / 6));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(0.5f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1f));
        var scale = ((Vector256.ConvertToInt32(n) + Vector256.Create(127)) << 23).AsSingle();
        return Vector256.ConditionalSelect(inRange, p * scale, Vector256<float>.Zero);
    }

    /// <summary><see cref="Exp(Vector256{float})"/> at 16 lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        var inRange = Vector512.GreaterThanOrEqual(x, Vector512.Create(-87f));
        x = Vector512.Max(x, Vector512.Create(-87f));
        var n = Vector512.Round(x * Vector512.Create(1.44269504f));
        // r = x − n·ln 2 in two parts (Cody–Waite): ln 2's high part has few bits, so n·high is exact.
        var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693145751953125f), x);
        r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-1.42860677e-6f), r);
        var p = Vector512.Create(1f / 720);
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 120));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 24));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f / 6));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(0.5f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f));
        p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1f));
        var scale = ((Vector512.ConvertToInt32(n) + Vector512.Create(127)) << 23).AsSingle();
        return Vector512.ConditionalSelect(inRange, p * scale, Vector512<float>.Zero);
    }
}
