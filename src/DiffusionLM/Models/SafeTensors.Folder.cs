using System.Text.Json;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

// Checkpoint folders: a single model.safetensors, or shards listed by model.safetensors.index.json.
public static partial class SafeTensors
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    /// <summary>
    /// Reads <c>model.safetensors.index.json</c> in <paramref name="folder"/>:
    /// <c>{"metadata": {...}, "weight_map": {tensor: shard file}}</c>. Every shard it names must exist.
    /// </summary>
    public static ShardedIndex ReadIndex(string folder)
    {
        var path = Path.Combine(folder, IndexFileName);
        if (!File.Exists(path)) throw new DlmException($"{path}: file not found");
        JsonDocument doc;
        try { doc = JsonDocument.Parse(File.ReadAllBytes(path)); }
        catch (JsonException e) { throw new DlmException($"{path}: not valid JSON ({e.Message})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new DlmException($"{path}: expected a JSON object");
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            if (root.TryGetProperty("metadata", out var md) && md.ValueKind != JsonValueKind.Null)
            {
                if (md.ValueKind != JsonValueKind.Object) throw new DlmException($"{path}: \"metadata\" must be a JSON object");
                foreach (var m in md.EnumerateObject())
                    metadata[m.Name] = m.Value.ValueKind == JsonValueKind.String ? m.Value.GetString()! : m.Value.GetRawText();
            }
            if (!root.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new DlmException($"{path}: missing \"weight_map\" object");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var e in wm.EnumerateObject())
            {
                if (e.Value.ValueKind != JsonValueKind.String)
                    throw new DlmException($"{path}: weight_map entry \"{e.Name}\" must be a file name string");
                var shard = e.Value.GetString()!;
                if (shard.Length == 0 || Path.IsPathRooted(shard) || shard.Split('/', '\\').Contains(".."))
                    throw new DlmException($"{path}: weight_map entry \"{e.Name}\" names \"{shard}\", which is not a file inside the folder");
                map[e.Name] = shard;
            }
            if (map.Count == 0) throw new DlmException($"{path}: \"weight_map\" is empty");
            var index = new ShardedIndex(folder, metadata, map);
            foreach (var shard in index.Shards)
                if (!File.Exists(index.ShardPath(shard)))
                {
                    var example = map.First(kv => kv.Value == shard).Key;
                    throw new DlmException($"{path}: shard \"{shard}\" (holding \"{example}\", among others) is missing: {index.ShardPath(shard)} not found");
                }
            return index;
        }
    }

    /// <summary>
    /// Loads a checkpoint folder's tensors: <c>model.safetensors</c> if present, else the shards listed by
    /// <c>model.safetensors.index.json</c> (each tensor is checked to be in the shard the index names).
    /// </summary>
    public static Dictionary<string, Tensor> LoadFolder(string folder, IEnumerable<string>? only = null)
    {
        var single = Path.Combine(folder, SingleFileName);
        if (File.Exists(single)) return Load(single, only);
        var index = ReadIndexOrExplain(folder);

        List<string> names;
        if (only is null) names = index.WeightMap.Keys.ToList();
        else
        {
            names = only.Distinct(StringComparer.Ordinal).ToList();
            foreach (var n in names)
                if (!index.WeightMap.ContainsKey(n))
                    throw new DlmException($"{Path.Combine(folder, IndexFileName)}: no tensor named \"{n}\" in the weight_map");
        }

        var result = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        try
        {
            foreach (var group in names.GroupBy(n => index.WeightMap[n], StringComparer.Ordinal).OrderBy(g => g.Key, StringComparer.Ordinal))
                foreach (var (name, t) in Load(index.ShardPath(group.Key), group))
                    result[name] = t;
        }
        catch
        {
            foreach (var t in result.Values) t.Dispose();
            throw;
        }
        return result;
    }

    /// <summary>
    /// Every tensor of a checkpoint folder (name, dtype, shape, file, offsets) from the headers alone;
    /// no tensor data is read. For a sharded folder, tensors in a shard but absent from the index, or
    /// named by the index but absent from their shard, are errors.
    /// </summary>
    public static SortedDictionary<string, TensorInfo> ListFolder(string folder)
    {
        var result = new SortedDictionary<string, TensorInfo>(StringComparer.Ordinal);
        var single = Path.Combine(folder, SingleFileName);
        if (File.Exists(single))
        {
            foreach (var (k, v) in ReadHeader(single)) result[k] = v;
            return result;
        }
        var index = ReadIndexOrExplain(folder);
        foreach (var shard in index.Shards)
        {
            var path = index.ShardPath(shard);
            foreach (var (name, info) in ReadHeader(path))
            {
                if (!index.WeightMap.TryGetValue(name, out var mapped) || mapped != shard)
                    throw new DlmException($"{path}: tensor \"{name}\" is not mapped to this shard by {IndexFileName}");
                result[name] = info;
            }
        }
        foreach (var (name, shard) in index.WeightMap)
            if (!result.ContainsKey(name))
                throw new DlmException($"{index.ShardPath(shard)}: no tensor named \"{name}\", which {IndexFileName} maps to it");
        return result;
    }

    static ShardedIndex ReadIndexOrExplain(string folder)
    {
        if (!Directory.Exists(folder)) throw new DlmException($"{folder}: folder not found");
        if (!File.Exists(Path.Combine(folder, IndexFileName)))
            throw new DlmException($"{folder}: holds neither {SingleFileName} nor {IndexFileName}");
        return ReadIndex(folder);
    }
}
