using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// One pre-norm transformer block in LLaDA's layout: attn_norm → q/k/v_proj → RoPE → attention →
/// attn_out; ff_norm → SiLU(ff_proj) ⊙ up_proj → ff_out. Field names are the checkpoint's tensor names.
/// </summary>
public sealed class LladaBlock : nn.Module
{
    public readonly RmsNorm attn_norm, ff_norm;
    public readonly Linear q_proj, k_proj, v_proj, attn_out, ff_proj, up_proj, ff_out;
    readonly int _nHeads, _nKvHeads, _headDim;

    /// <summary>bf16 copies of this block's weights when the model runs with <see cref="Runtime.MatmulMode.Bf16"/>; null: float32.</summary>
    internal Bf16Projections? Bf16 { get; set; }

    Tensor Project(Linear projection, Tensor x) =>
        Bf16 is { } b ? b.Linear(x, projection.weight!) : projection.forward(x);

    public LladaBlock(string name, ModelConfig c) : base(name)
    {
        _nHeads = c.NHeads; _nKvHeads = c.NKvHeads; _headDim = c.HeadDim;
        attn_norm = new RmsNorm("attn_norm", c.DModel, c.RmsNormEps);
        ff_norm = new RmsNorm("ff_norm", c.DModel, c.RmsNormEps);
        q_proj = nn.Linear(c.DModel, c.NHeads * c.HeadDim, hasBias: false);
        k_proj = nn.Linear(c.DModel, c.NKvHeads * c.HeadDim, hasBias: false);
        v_proj = nn.Linear(c.DModel, c.NKvHeads * c.HeadDim, hasBias: false);
        attn_out = nn.Linear(c.NHeads * c.HeadDim, c.DModel, hasBias: false);
        ff_proj = nn.Linear(c.DModel, c.MlpHiddenSize, hasBias: false);
        up_proj = nn.Linear(c.DModel, c.MlpHiddenSize, hasBias: false);
        ff_out = nn.Linear(c.MlpHiddenSize, c.DModel, hasBias: false);
        RegisterComponents();
    }

    /// <param name="x">[B, L, D] hidden states.</param>
    /// <param name="mask">null, or a bool mask broadcastable to [B, H, L, S], true where attention is allowed.</param>
    /// <param name="causal">use the kernel's causal mask (queries and keys both start at position 0, no explicit mask).</param>
    /// <param name="cache">optional key/value cache of this layer, appended to in place (incremental decoding).</param>
    /// <param name="blockCache">optional block cache (bidirectional models): record this layer's keys/values, or
    /// splice the window's fresh ones (queries at <paramref name="offset"/>..) into the recorded ones.</param>
    /// <param name="layer">this block's index, for <paramref name="blockCache"/>.</param>
    public Tensor Forward(Tensor x, RotaryEmbedding rope, long offset, Tensor? mask, bool causal, LayerKvCache? cache,
        BlockCacheUse? blockCache = null, int layer = 0)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], l = x.shape[1];
        var h = attn_norm.forward(x);
        var q = Project(q_proj, h).view(b, l, _nHeads, _headDim).transpose(1, 2);
        var k = Project(k_proj, h).view(b, l, _nKvHeads, _headDim).transpose(1, 2);
        var v = Project(v_proj, h).view(b, l, _nKvHeads, _headDim).transpose(1, 2);
        (q, k) = rope.Apply(q, k, offset);
        if (cache is not null) (k, v) = cache.Append(k, v);
        if (blockCache is { } use)
        {
            if (use.Recording) use.Cache.Record(layer, k, v);
            else (k, v) = use.Cache.Splice(layer, k, v, offset);
        }
        var attn = Attend(q, k, v, mask, causal);
        // The residual adds pass a live alpha, not the operator's temporary one (see Runtime.LiveScalars).
        x = x.add(Project(attn_out, attn), Runtime.LiveScalars.One);
        var f = ff_norm.forward(x);
        x = x.add(Project(ff_out, nn.functional.silu(Project(ff_proj, f)) * Project(up_proj, f)), Runtime.LiveScalars.One);
        return x.MoveToOuterDisposeScope();
    }

    /// <summary>Attention of [B, H, L, D] queries over [B, Hkv, S, D] keys and values, as [B, L, H·D].</summary>
    Tensor Attend(Tensor q, Tensor k, Tensor v, Tensor? mask, bool causal)
    {
        // Narrow heads at inference: libtorch's kernel runs at its softmax's speed there (see NarrowHeadAttention).
        if (NarrowHeadAttention.Applies(q, k, v, mask, causal)) return NarrowHeadAttention.Forward(q, k, v, mask);
        long b = q.shape[0], l = q.shape[2];
        Tensor attn;
        if (_nKvHeads != _nHeads && mask is null && !causal)
        {
            // No mask: every query row is independent, so the rep query heads that share a key/value head
            // are stacked as rows of one group instead of copying keys and values rep times (which, with a
            // long cache, costs more than the attention itself).
            int rep = _nHeads / _nKvHeads;
            var qg = q.reshape(b, _nKvHeads, rep * l, _headDim);
            attn = nn.functional.scaled_dot_product_attention(qg, k, v).reshape(b, _nHeads, l, _headDim);
        }
        else
        {
            if (_nKvHeads != _nHeads)
            {
                // Query head i reads key/value head i / (n_heads / n_kv_heads), as LLaDA's and HF's repeat_kv.
                int rep = _nHeads / _nKvHeads;
                k = k.repeat_interleave(rep, dim: 1);
                v = v.repeat_interleave(rep, dim: 1);
            }
            attn = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask, is_casual: causal && mask is null);
        }
        return attn.transpose(1, 2).reshape(b, l, _nHeads * _headDim);
    }
}

/// <summary>
/// Keys and values of one layer for incremental (autoregressive) decoding. The buffers grow by doubling
/// and new positions are copied in place, so a run of n steps copies O(n) entries, not O(n²).
/// </summary>
public sealed class LayerKvCache : IDisposable
{
    Tensor? _k, _v;
    long _length;
    public long Length => _length;

    public (Tensor k, Tensor v) Append(Tensor k, Tensor v)
    {
        long add = k.shape[2], need = _length + add;
        if (_k is null || need > _k.shape[2])
        {
            long capacity = Math.Max(need, Math.Max(16, (_k?.shape[2] ?? 0) * 2));
            var shape = k.shape.ToArray(); shape[2] = capacity;
            var nk = zeros(shape, dtype: k.dtype, device: k.device);
            var nv = zeros(shape, dtype: v.dtype, device: v.device);
            if (_k is not null)
            {
                using var _ = no_grad();
                nk.narrow(2, 0, _length).copy_(_k.narrow(2, 0, _length));
                nv.narrow(2, 0, _length).copy_(_v!.narrow(2, 0, _length));
            }
            // The cache outlives the caller's dispose scope: it is freed by Dispose or the next growth.
            nk.DetachFromDisposeScope(); nv.DetachFromDisposeScope();
            _k?.Dispose(); _v?.Dispose();
            _k = nk; _v = nv;
        }
        using (no_grad())
        {
            _k.narrow(2, _length, add).copy_(k);
            _v!.narrow(2, _length, add).copy_(v);
        }
        _length = need;
        return (_k.narrow(2, 0, _length), _v.narrow(2, 0, _length));
    }

    public void Dispose() { _k?.Dispose(); _v?.Dispose(); _k = _v = null; _length = 0; }
}
