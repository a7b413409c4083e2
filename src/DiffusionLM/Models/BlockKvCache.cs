using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// Fast-dLLM's approximate key/value cache for a bidirectional denoiser decoding block by block. A full
/// forward records every layer's keys and values of the whole sequence (<see cref="IDenoiser.LogitsRecording"/>);
/// later forwards recompute only a window of positions (<see cref="IDenoiser.LogitsWindow"/>): its queries attend to
/// its own fresh keys/values and to the recorded ones everywhere else. With the window = the current block and
/// everything right of it this is the prefix cache; with the window = the current block it is the dual cache.
/// An approximation: in a bidirectional model a committed token changes the keys of every other position, and
/// the recorded ones are those of the state at the recording.
/// </summary>
public sealed class BlockKvCache : IDisposable
{
    readonly Tensor?[] _k, _v;

    public BlockKvCache(int layers) { _k = new Tensor?[layers]; _v = new Tensor?[layers]; }

    /// <summary>Positions recorded (0 before the first recording).</summary>
    public long Length => _k[0]?.shape[2] ?? 0;

    public int Layers => _k.Length;

    /// <summary>Stores a layer's [B, H_kv, T, D] keys and values (after RoPE) for later windows; they outlive the caller's scope.</summary>
    public void Record(int layer, Tensor k, Tensor v)
    {
        _k[layer]?.Dispose(); _v[layer]?.Dispose();
        // Aliases, not copies: the layer's tensors are not written again after this.
        var kk = k.alias(); var vv = v.alias();
        kk.DetachFromDisposeScope(); vv.DetachFromDisposeScope();
        _k[layer] = kk; _v[layer] = vv;
    }

    /// <summary>
    /// Keys and values a window [start, start + W) attends to: the recorded ones with the window's positions
    /// replaced by its fresh <paramref name="k"/>, <paramref name="v"/> ([B, H_kv, W, D]).
    /// </summary>
    public (Tensor K, Tensor V) Splice(int layer, Tensor k, Tensor v, long start)
    {
        var rk = _k[layer] ?? throw new InvalidOperationException("block cache: a window forward needs a recording forward first");
        var rv = _v[layer]!;
        long w = k.shape[2], total = rk.shape[2];
        if (start < 0 || start + w > total) throw new ArgumentException($"block cache: window [{start}, {start + w}) outside the recorded {total} positions");
        if (start == 0 && w == total) return (k, v);
        var parts = new List<(Tensor, Tensor)>(3);
        if (start > 0) parts.Add((rk.narrow(2, 0, start), rv.narrow(2, 0, start)));
        parts.Add((k, v));
        if (start + w < total) parts.Add((rk.narrow(2, start + w, total - start - w), rv.narrow(2, start + w, total - start - w)));
        return (cat(parts.Select(p => p.Item1).ToArray(), 2), cat(parts.Select(p => p.Item2).ToArray(), 2));
    }

    public void Dispose()
    {
        for (int i = 0; i < _k.Length; i++) { _k[i]?.Dispose(); _v[i]?.Dispose(); _k[i] = _v[i] = null; }
    }
}

/// <summary>What a layer does with the block cache in one forward: record its keys/values, or splice a window into them.</summary>
public readonly record struct BlockCacheUse(BlockKvCache Cache, bool Recording, long WindowStart);
