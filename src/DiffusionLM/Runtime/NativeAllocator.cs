#pragma warning disable CA2255 // a module initializer in a library is the point: it must run before libtorch allocates
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace DiffusionLM.Runtime;

/// <summary>
/// Keeps glibc from handing libtorch's freed tensor memory back to the kernel after every operation.
/// By default glibc serves blocks above a dynamic threshold (128 KiB, rising to at most 32 MiB) with a
/// fresh mmap and trims the heap's free top beyond twice that, so a forward pass that allocates and frees
/// the same few-MiB activations layer after layer pays a page fault per 4 KiB, again and again. On this
/// project's 2-core VM a fresh page costs about 2.5 ms per MiB: converting a 200 MB bf16 matrix into a new
/// fp32 tensor took 500 ms, into an existing one 9 ms. With the heap kept, the default model's 8×512
/// forward ran at 18.7k–19.6k tokens/s against 15.0k–18.8k (three alternating runs each, one thread); a
/// 25M-parameter forward was unchanged within noise. We fix the mmap threshold at glibc's
/// ceiling (blocks up to 32 MiB come from the heap and are reused) and let up to 1 GiB of free heap stay
/// mapped. Blocks above 32 MiB still come from mmap; the code that converts large weights reuses one buffer
/// instead (<see cref="Models.Hf.WeightStore.Linear"/>).
/// </summary>
/// <remarks>
/// A user who tunes glibc's malloc (MALLOC_*_ environment variables or GLIBC_TUNABLES) is left alone, and
/// <c>DLM_ALLOCATOR=glibc</c> keeps glibc's defaults (to measure the difference side by side).
/// Elsewhere (musl, macOS, Windows) there is no mallopt or it does nothing, and this is a no-op.
/// </remarks>
public static class NativeAllocator
{
    /// <summary>glibc's largest allowed M_MMAP_THRESHOLD on 64-bit (half of its 64 MiB heap size).</summary>
    public const int MmapThresholdBytes = 32 << 20;

    /// <summary>Free memory at the heap's top kept mapped rather than returned to the kernel.</summary>
    public const int TrimThresholdBytes = 1 << 30;

    /// <summary>Set to "glibc" to keep glibc's own thresholds.</summary>
    public const string OptOut = "DLM_ALLOCATOR";

    const int M_TRIM_THRESHOLD = -1, M_MMAP_THRESHOLD = -3;

    static readonly string[] UserSettings =
        ["MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES"];

    /// <summary>True when both settings were accepted by glibc.</summary>
    public static bool Applied { get; private set; }

    static bool _tried;

    /// <summary>Sets glibc's mmap and trim thresholds unless the user tuned malloc. Idempotent.</summary>
    public static void Apply()
    {
        if (_tried) return;
        _tried = true;
        if (!OperatingSystem.IsLinux()) return;
        if (UserSettings.Any(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)))) return;
        if (Environment.GetEnvironmentVariable(OptOut) == "glibc") return;
        try { Applied = mallopt(M_MMAP_THRESHOLD, MmapThresholdBytes) == 1 & mallopt(M_TRIM_THRESHOLD, TrimThresholdBytes) == 1; }
        catch (DllNotFoundException) { }
        catch (EntryPointNotFoundException) { }
    }

    [ModuleInitializer]
    internal static void OnLibraryLoad() => Apply();

    [DllImport("libc")]
    static extern int mallopt(int param, int value);
}
