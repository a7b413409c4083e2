using System.Runtime.InteropServices;

namespace DiffusionLM.Runtime;

/// <summary>How float32 matrix products are multiplied inside libtorch.</summary>
public enum MatmulMode
{
    /// <summary>IEEE float32 throughout (libtorch's default; MKL's sgemm on x86). Exact up to summation order.</summary>
    Fp32,
    /// <summary>
    /// float32 tensors in and out, products allowed in bfloat16 with float32 accumulation: oneDNN's float32
    /// precision set to bf16 (PyTorch's <c>torch.backends.mkldnn.matmul.fp32_precision = "bf16"</c>), and, for a
    /// LLaDA-layout model, its projections multiplied against bf16 copies (<see cref="Models.Bf16Projections"/>).
    /// Fast on CPUs with native bf16 dot products (AVX512-BF16, AMX); about 3 significant digits per bf16 product.
    /// </summary>
    Bf16,
}

/// <summary>
/// Sets libtorch's float32 matmul precision for its oneDNN backend. TorchSharp binds no call for it, so this
/// calls libtorch's own <c>at::Context::setFloat32Precision(Float32Backend, Float32Op, Float32Precision)</c>;
/// its arguments are plain enums, so the call needs no C++ object built on this side. The setting is
/// process-wide, like the thread count. With <see cref="MatmulMode.Bf16"/> every float32 <c>mm</c>, <c>addmm</c>
/// (so <c>linear</c>) and <c>bmm</c> whose shapes oneDNN takes runs through oneDNN, which may then multiply in bf16;
/// on a CPU without bf16 support libtorch keeps MKL's float32 path (nothing changes, nothing fails).
/// </summary>
/// <remarks>
/// What it does depends on the CPU. On the 2-core AMD EPYC (Zen 4, AVX512-BF16) this project ran on, oneDNN kept
/// float32 arithmetic for float32 inputs (a 256×512 · 512×1536 product within 5e-6 of MKL's, of 5.9) and was simply
/// faster than MKL (4.6 against 7.8 ms, one thread); bf16 products proper come from bf16 tensors, which is what
/// <see cref="Models.Bf16Projections"/> gives the projections (2.2 ms for that product, within 0.02). On CPUs where
/// oneDNN implements the down-conversion (AMX) the products here are bf16 too. The enum values are those of libtorch
/// 2.10's <c>ATen/Context.h</c>, checked with a C++ probe against libtorch's <c>precision2str</c> and against the pairs
/// <c>setFloat32MatmulPrecision("medium")</c> changes; an invalid (backend, op) pair makes libtorch throw a C++
/// exception, which no .NET caller survives, so only this verified pair is passed. <see cref="Current"/> reads the
/// setting back through libtorch's getter; the tests check the round trip and that products stay within bf16 rounding.
/// </remarks>
public static class MatmulPrecision
{
    // at::Float32Backend { GENERIC, CUDA, MKLDNN }, at::Float32Op { ALL, CONV, RNN, MATMUL },
    // at::Float32Precision { NONE, IEEE, TF32, BF16 } (libtorch 2.10).
    const int BackendMkldnn = 2, OpMatmul = 3;
    const int PrecisionNone = 0, PrecisionIeee = 1, PrecisionBf16 = 3;

    static readonly object Gate = new();

    /// <summary>The precision libtorch reports for oneDNN matmuls now.</summary>
    public static MatmulMode Current
    {
        get
        {
            lock (Gate)
            {
                EnsureTorchLoaded();
                int p = float32Precision(globalContext(), BackendMkldnn, OpMatmul);
                return p switch
                {
                    PrecisionBf16 => MatmulMode.Bf16,
                    PrecisionNone or PrecisionIeee => MatmulMode.Fp32,
                    _ => throw new DlmException($"libtorch reports float32 matmul precision {p}, which this build does not know (expected 0, 1 or 3; is libtorch newer than 2.10?)"),
                };
            }
        }
    }

    /// <summary>Sets the process-wide mode; returns the previous one (to restore it).</summary>
    public static MatmulMode Set(MatmulMode mode)
    {
        lock (Gate)
        {
            var before = Current;
            setFloat32Precision(globalContext(), BackendMkldnn, OpMatmul, mode == MatmulMode.Bf16 ? PrecisionBf16 : PrecisionIeee);
            var after = Current;
            if (after != mode) throw new DlmException($"libtorch did not take float32 matmul precision {Name(mode)} (it reports {Name(after)})");
            return before;
        }
    }

    /// <summary>Runs <paramref name="work"/> under <paramref name="mode"/> and restores the previous mode.</summary>
    public static T With<T>(MatmulMode mode, Func<T> work)
    {
        var before = Set(mode);
        try { return work(); }
        finally { Set(before); }
    }

    public static string Name(MatmulMode m) => m == MatmulMode.Bf16 ? "bf16" : "fp32";

    /// <summary>Parses "fp32" or "bf16" (the CLI's <c>--matmul</c>), naming the option in the error.</summary>
    public static MatmulMode Parse(string value, string option = "--matmul") => value.Trim().ToLowerInvariant() switch
    {
        "fp32" or "float32" => MatmulMode.Fp32,
        "bf16" or "bfloat16" => MatmulMode.Bf16,
        _ => throw new DlmException($"{option} must be fp32 or bf16 (got \"{value}\")"),
    };

    // libtorch_cpu is loaded by TorchSharp's first call; touching a tensor first makes the symbols resolvable
    // from the already-loaded library rather than a second copy found on the search path.
    static void EnsureTorchLoaded() => TorchSharp.torch.InitializeDeviceType(TorchSharp.DeviceType.CPU);

    [DllImport("torch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    static extern IntPtr globalContext();

    [DllImport("torch_cpu", EntryPoint = "_ZN2at7Context19setFloat32PrecisionENS_14Float32BackendENS_9Float32OpENS_16Float32PrecisionE")]
    static extern void setFloat32Precision(IntPtr context, int backend, int op, int precision);

    [DllImport("torch_cpu", EntryPoint = "_ZNK2at7Context16float32PrecisionENS_14Float32BackendENS_9Float32OpE")]
    static extern int float32Precision(IntPtr context, int backend, int op);
}
