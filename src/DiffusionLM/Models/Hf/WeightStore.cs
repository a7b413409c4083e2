using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models.Hf;

/// <summary>
/// The weights of a Hugging Face checkpoint, kept in the dtype of the file (bf16 stays bf16: LLaDA-8B
/// takes 16 GB, not 32). Forward passes convert one layer's tensors to fp32 at a time with
/// <see cref="F32"/>, inside their own dispose scope, so at most one layer exists in fp32.
/// </summary>
/// <remarks>
/// Shards are streamed: each tensor is read with positioned reads straight into its own memory
/// (<see cref="SafeTensors.Load"/>), never through one large managed buffer.
/// </remarks>
public sealed class WeightStore : IDisposable
{
    readonly Dictionary<string, Tensor> _tensors;

    /// <summary>Where the weights came from (a folder, or "random" for benchmarks).</summary>
    public string Source { get; }

    WeightStore(Dictionary<string, Tensor> tensors, string source) { _tensors = tensors; Source = source; }

    /// <summary>Wraps tensors made in memory (benchmarks, tests); the store owns and disposes them.</summary>
    public static WeightStore FromTensors(Dictionary<string, Tensor> tensors, string source = "memory") => new(tensors, source);

    static readonly HashSet<string> FloatDTypes = ["F32", "BF16", "F16"];

    /// <summary>
    /// Checks a checkpoint folder against the tensors a model expects, from the safetensors headers alone
    /// (no tensor data is read): every expected tensor present with its shape and a float dtype, none
    /// left over. Truncated shards, an index naming a missing shard and headers that disagree with the
    /// index are refused by <see cref="SafeTensors.ListFolder"/>. Every error names the file and tensor.
    /// </summary>
    public static SortedDictionary<string, TensorInfo> Check(string dir, IReadOnlyList<TensorSpec> spec)
    {
        if (!Directory.Exists(dir)) throw new DlmException($"{dir}: model folder not found");
        var infos = SafeTensors.ListFolder(dir);
        var single = Path.Combine(dir, SafeTensors.SingleFileName);
        string listing = File.Exists(single) ? single : Path.Combine(dir, SafeTensors.IndexFileName);
        var expected = new HashSet<string>(StringComparer.Ordinal);
        foreach (var s in spec)
        {
            expected.Add(s.Name);
            if (!infos.TryGetValue(s.Name, out var info))
            {
                if (s.Optional) continue;
                throw new DlmException($"{listing}: tensor \"{s.Name}\" is missing (config.json expects {s})");
            }
            if (!info.Shape.SequenceEqual(s.Shape))
                throw new DlmException($"{info.File}: tensor \"{s.Name}\" has shape [{string.Join(", ", info.Shape)}], config.json expects [{string.Join(", ", s.Shape)}]");
            if (!FloatDTypes.Contains(info.DType))
                throw new DlmException($"{info.File}: tensor \"{s.Name}\" has dtype {info.DType}, expected F32, BF16 or F16");
        }
        foreach (var (name, info) in infos)
            if (!expected.Contains(name))
                throw new DlmException($"{info.File}: unexpected tensor \"{name}\" (is config.json the one of these weights?)");
        return infos;
    }

    /// <summary>Checks the folder (<see cref="Check"/>), then streams every expected tensor into memory in its file dtype.</summary>
    public static WeightStore Load(string dir, IReadOnlyList<TensorSpec> spec)
    {
        var infos = Check(dir, spec);
        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var group in infos.Values.GroupBy(i => i.File).OrderBy(g => g.Key, StringComparer.Ordinal))
                foreach (var (name, t) in SafeTensors.Load(group.Key, group.Select(i => i.Name)))
                {
                    result[name] = t;
                    NonFinite.Check(t, $"{group.Key}: tensor \"{name}\"");
                }
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return new WeightStore(result, dir);
    }

    public bool Contains(string name) => _tensors.ContainsKey(name);

    /// <summary>The tensor as stored (owned by the store: do not dispose).</summary>
    public Tensor Raw(string name) => _tensors.TryGetValue(name, out var t) ? t
        : throw new InvalidOperationException($"weight \"{name}\" is not loaded from {Source}");

    /// <summary>The tensor in fp32: a new tensor in the caller's dispose scope (an alias when already fp32).</summary>
    public Tensor F32(string name)
    {
        var t = Raw(name);
        return t.dtype == ScalarType.Float32 ? t.alias() : t.to_type(ScalarType.Float32);
    }

    /// <summary>
    /// input · weightᵀ (+ bias) in fp32 over a stored [out, in] matrix. A weight stored in bf16 or f16 is
    /// converted into one fp32 buffer the store keeps and reuses (guarded by a lock), not into a new tensor:
    /// a fresh 200 MB tensor costs its page faults (500 ms against 9 ms for the copy itself on the 2-core VM),
    /// which made LLaDA-8B's forward pass ten times slower than its matmuls. An fp32 weight is used as stored.
    /// For inference (the Hugging Face models run under no_grad): the next call overwrites the buffer, so a
    /// graph that kept it for a backward pass would read the wrong weight.
    /// </summary>
    public Tensor Linear(Tensor input, string weight, string? bias = null) => LinearRows(input, weight, 0, Raw(weight).shape[0], bias);

    /// <summary><see cref="Linear"/> over rows [start, start + count) of the matrix (an output head in slices).</summary>
    public Tensor LinearRows(Tensor input, string weight, long start, long count, string? bias = null)
    {
        var raw = Raw(weight);
        using var b = bias is null ? null : F32(bias);
        if (raw.dtype == ScalarType.Float32)
        {
            using var rows = raw.narrow(0, start, count);
            return nn.functional.linear(input, rows, b);
        }
        lock (_bufferLock)
        {
            long n = count * raw.shape[1];
            if (_buffer is null || _buffer.numel() < n)
            {
                _buffer?.Dispose();
                _buffer = empty(n, ScalarType.Float32).DetachFromDisposeScope();
            }
            using var rows = raw.narrow(0, start, count);
            using var flat = _buffer.narrow(0, 0, n);
            using var converted = flat.view(count, raw.shape[1]);
            converted.copy_(rows);
            return nn.functional.linear(input, converted, b);
        }
    }

    readonly object _bufferLock = new();
    Tensor? _buffer;

    public IEnumerable<string> Names => _tensors.Keys;
    public long ParameterCount => _tensors.Values.Sum(t => t.numel());
    public long Bytes => _tensors.Values.Sum(t => t.numel() * t.ElementSize);

    /// <summary>The storage dtypes with their parameter counts, e.g. "BFloat16 (8.0B)".</summary>
    public string DTypeSummary => string.Join(", ", _tensors.Values.GroupBy(t => t.dtype)
        .Select(g => $"{g.Key} ({g.Sum(t => t.numel()):N0} params)"));

    public void Dispose()
    {
        lock (_bufferLock) { _buffer?.Dispose(); _buffer = null; }
        foreach (var t in _tensors.Values) t.Dispose();
        _tensors.Clear();
    }
}
