using LLama.Native;

namespace DiffusionLM.Peers;

/// <summary>
/// A GGUF model in llama.cpp (LLamaSharp.Backend.Cpu's libllama), set up as llama.cpp's diffusion
/// example sets it up: one context whose n_batch and n_ubatch hold the whole sequence (a non-causal
/// model must see every position in one ubatch, or libllama aborts), every position's logits requested.
/// </summary>
public sealed class LlamaCppModel : IDisposable
{
    static readonly object InitLock = new();
    static bool _initialised;

    readonly SafeLlamaModelHandle _model;
    readonly SafeLLamaContextHandle _ctx;
    readonly LLamaBatch _batch = new();

    public int VocabSize { get; }
    public int MaxTokens { get; }
    public bool IsDiffusion { get; }
    public bool ShiftLogits { get; }
    public int MaskTokenId { get; }
    /// <summary>The RoPE variant libllama runs this architecture with ("Norm" for llada: adjacent pairs).</summary>
    public string RopeType => _model.RopeType.ToString();

    /// <summary>Loads libllama once per process; quiet unless DLM_LLAMA_LOG is set. Throws when the native library cannot load.</summary>
    public static void Initialise()
    {
        lock (InitLock)
        {
            if (_initialised) return;
            // LLamaSharp's own search does not find the flavours NuGet copies under runtimes/linux-x64/native/
            // when the app is built for one RuntimeIdentifier; name the one this CPU can run.
            string? dir = NativeFolder();
            if (dir is not null)
                NativeLibraryConfig.All.WithLibrary(Path.Combine(dir, "libllama.so"), Path.Combine(dir, "libmtmd.so"));
            if (Environment.GetEnvironmentVariable("DLM_LLAMA_LOG") is null)
                NativeLibraryConfig.All.WithLogCallback((level, message) => { });
            else NativeLibraryConfig.All.WithLogCallback((level, message) => Console.Error.Write(message));
            // Touching NativeApi runs its static constructor, which registers LLamaSharp's library resolver and loads libllama.
            NativeApi.llama_empty_call();
            _initialised = true;
        }
    }

    /// <summary>The folder of the libllama flavour for this CPU (avx512, avx2, avx, noavx), or null when none is beside the program.</summary>
    public static string? NativeFolder()
    {
        var root = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native");
        string flavour = System.Runtime.Intrinsics.X86.Avx512F.IsSupported ? "avx512"
            : System.Runtime.Intrinsics.X86.Avx2.IsSupported ? "avx2"
            : System.Runtime.Intrinsics.X86.Avx.IsSupported ? "avx" : "noavx";
        var dir = Path.Combine(root, flavour);
        return OperatingSystem.IsLinux() && File.Exists(Path.Combine(dir, "libllama.so")) ? dir : null;
    }

    /// <summary>Which libllama this process loads (for reports).</summary>
    public static string? NativeFlavour => NativeFolder() is string d ? Path.GetFileName(d) : null;

    /// <param name="flashAttention">null: libllama's default (auto, as llama.cpp's diffusion CLI leaves it); false/true: off/on.</param>
    public LlamaCppModel(string ggufPath, int maxTokens, int threads, bool? flashAttention = null)
    {
        if (!File.Exists(ggufPath)) throw new FileNotFoundException($"{ggufPath}: GGUF file not found");
        Initialise();
        var mp = LLamaModelParams.Default();
        mp.n_gpu_layers = 0;
        _model = SafeLlamaModelHandle.LoadFromFile(ggufPath, mp);
        var cp = LLamaContextParams.Default();
        cp.n_ctx = (uint)maxTokens;
        cp.n_batch = (uint)maxTokens;
        cp.n_ubatch = (uint)maxTokens;
        cp.n_seq_max = 1;
        cp.n_threads = threads;
        cp.n_threads_batch = threads;
        if (flashAttention is bool fa)
            cp.llama_flash_attn_type = fa ? LLamaFlashAttentionType.LLAMA_FLASH_ATTENTION_TYPE_ENABLED : LLamaFlashAttentionType.LLAMA_FLASH_ATTENTION_TYPE_DISABLED;
        _ctx = SafeLLamaContextHandle.Create(_model, cp);
        MaxTokens = maxTokens;
        VocabSize = _model.Vocab.Count;
        IsDiffusion = _model.IsDiffusion;
        ShiftLogits = Meta("diffusion.shift_logits") == "true";
        MaskTokenId = int.Parse(Meta("tokenizer.ggml.mask_token_id") ?? "-1");
    }

    /// <summary>llama.cpp's tokenization of plain text (no bos, special tokens not parsed).</summary>
    public int[] Tokenize(string text) =>
        _model.Tokenize(text, false, false, System.Text.Encoding.UTF8).Select(t => (int)t).ToArray();

    public string? Meta(string key)
    {
        var value = _model.MetadataValueByKey(key);
        return value is { } v ? System.Text.Encoding.UTF8.GetString(v.Span) : null;
    }

    /// <summary>
    /// One full pass over <paramref name="ids"/> at positions 0..L−1; the raw logits of every position,
    /// row-major [L, V], into <paramref name="logits"/> (Dream-style shifting, if any, is the caller's).
    /// </summary>
    public void Logits(ReadOnlySpan<int> ids, float[] logits)
    {
        if (ids.Length > MaxTokens) throw new ArgumentException($"{ids.Length} tokens exceed the context of {MaxTokens}");
        _batch.Clear();
        for (int i = 0; i < ids.Length; i++) _batch.Add(ids[i], i, LLamaSeqId.Zero, true);
        var rc = _ctx.Decode(_batch);
        if (rc != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {rc}");
        for (int i = 0; i < ids.Length; i++)
            _ctx.GetLogitsIth(i).CopyTo(logits.AsSpan(i * VocabSize, VocabSize));
    }

    public void Dispose() { _ctx.Dispose(); _model.Dispose(); }
}
