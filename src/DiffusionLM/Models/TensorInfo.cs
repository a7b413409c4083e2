using TorchSharp;

namespace DiffusionLM.Models;

/// <summary>
/// One tensor's entry in a safetensors header: its dtype as written in the file ("F32", "BF16", ...),
/// its shape, and its byte range [Begin, End) relative to the start of the data buffer.
/// </summary>
/// <param name="File">The .safetensors file that holds the tensor.</param>
/// <param name="DataStart">Absolute file offset of the data buffer (8 + header length).</param>
public sealed record TensorInfo(string Name, string DType, long[] Shape, long Begin, long End, string File, long DataStart)
{
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);
    public long ByteLength => End - Begin;
    /// <summary>Absolute offset of the tensor's first byte in <see cref="File"/>.</summary>
    public long FileOffset => DataStart + Begin;
    public torch.ScalarType ScalarType => SafeTensors.ToScalarType(DType);

    public override string ToString() => $"{Name}: {DType}[{string.Join(", ", Shape)}]";
}

/// <summary>
/// A sharded checkpoint's <c>model.safetensors.index.json</c>: which shard file holds each tensor.
/// </summary>
/// <param name="Folder">The folder the index was read from; shard names are relative to it.</param>
/// <param name="Metadata">The index's "metadata" object; non-string values (e.g. total_size) as their JSON text.</param>
/// <param name="WeightMap">Tensor name → shard file name.</param>
public sealed record ShardedIndex(string Folder, IReadOnlyDictionary<string, string> Metadata, IReadOnlyDictionary<string, string> WeightMap)
{
    /// <summary>The distinct shard file names, sorted.</summary>
    public IReadOnlyList<string> Shards => WeightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    public string ShardPath(string shard) => Path.Combine(Folder, shard);
}
