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
    public Tensor Forward(Tensor x, RotaryEmbedding rope, long offset, Tensor? mask, bool causal, LayerKvCache? cache)
    {
        using var scope = NewDisposeScope();
        long b = x.shape[0], l = x.shape[1];
        var h = attn_norm.forward(x);
        var q = q_proj.forward(h).view(b, l, _nHeads, _headDim).transpose(1, 2);
        var k = k_proj.forward(h).view(b, l, _nKvHeads, _headDim).transpose(1, 2);
        var v = v_proj.forward(h).view(b, l, _nKvHeads, _headDim).transpose(1, 2);
        q = rope.Apply(q, offset);
        k = rope.Apply(k, offset);
        if (cache is not null) (k, v) = cache.Append(k, v);
        if (_nKvHeads != _nHeads)
        {
            // Query head i reads key/value head i / (n_heads / n_kv_heads), as LLaDA's and HF's repeat_kv.
            int rep = _nHeads / _nKvHeads;
            k = k.repeat_interleave(rep, dim: 1);
            v = v.repeat_interleave(rep, dim: 1);
        }
        var attn = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask, is_casual: causal);
        attn = attn.transpose(1, 2).reshape(b, l, _nHeads * _headDim);
        x = x + attn_out.forward(attn);
        var f = ff_norm.forward(x);
        x = x + ff_out.forward(nn.functional.silu(ff_proj.forward(f)) * up_proj.forward(f));
        return x.MoveToOuterDisposeScope();
    }
}

/// <summary>Keys and values of one layer for incremental (autoregressive) decoding.</summary>
public sealed class LayerKvCache : IDisposable
{
    Tensor? _k, _v;
    public long Length => _k is null ? 0 : _k.shape[2];

    public (Tensor k, Tensor v) Append(Tensor k, Tensor v)
    {
        var nk = _k is null ? k.detach().clone() : cat([_k, k], 2);
        var nv = _v is null ? v.detach().clone() : cat([_v, v], 2);
        // The cache outlives the caller's dispose scope: it is freed by Dispose or the next Append.
        nk.DetachFromDisposeScope(); nv.DetachFromDisposeScope();
        _k?.Dispose(); _v?.Dispose();
        _k = nk; _v = nv;
        return (_k.alias(), _v.alias());
    }

    public void Dispose() { _k?.Dispose(); _v?.Dispose(); _k = _v = null; }
}
