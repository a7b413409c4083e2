using System.Runtime.Intrinsics;
using DiffusionLM.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Models;

/// <summary>
/// The narrow-head inference kernel against libtorch's scaled_dot_product_attention, the reference it replaces: every
/// shape it accepts (head widths 8–32, grouped-query heads, sequences that are not whole vectors, a window of queries
/// over a longer key set, padding masks), and the polynomial exponential it rests on.
/// </summary>
public class NarrowHeadAttentionTests
{
    /// <summary>libtorch's attention with the key/value heads repeated, as [B, L, H·D].</summary>
    static Tensor Reference(Tensor q, Tensor k, Tensor v, Tensor? mask)
    {
        int rep = (int)(q.shape[1] / k.shape[1]);
        var attn = nn.functional.scaled_dot_product_attention(q, k.repeat_interleave(rep, dim: 1), v.repeat_interleave(rep, dim: 1), attn_mask: mask);
        return attn.transpose(1, 2).reshape(q.shape[0], q.shape[2], q.shape[1] * q.shape[3]);
    }

    [Theory]
    [InlineData(1, 4, 4, 8, 19, 19)]    // keys not a whole number of vectors
    [InlineData(2, 16, 8, 8, 272, 272)] // the default model's shape, grouped-query heads
    [InlineData(1, 4, 2, 16, 33, 33)]
    [InlineData(3, 6, 3, 24, 40, 40)]
    [InlineData(1, 2, 1, 32, 17, 17)]
    [InlineData(2, 4, 2, 8, 5, 48)]     // a cached window: 5 queries over 48 keys
    [InlineData(1, 4, 4, 8, 1, 1)]
    public void MatchesLibtorchsAttention(int b, int h, int hkv, int d, int l, int s)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var g = new Generator(11);
        // Scores of a few units either way, as trained models have, so the softmax is far from uniform.
        var q = 3 * randn([b, h, l, d], generator: g);
        var k = 3 * randn([b, hkv, s, d], generator: g);
        var v = randn([b, hkv, s, d], generator: g);
        Assert.True(NarrowHeadAttention.Applies(q, k, v, null, causal: false));
        var diff = (NarrowHeadAttention.Forward(q, k, v, null) - Reference(q, k, v, null)).abs().max().item<float>();
        Assert.True(diff < 1e-5f, $"largest difference {diff}");
    }

    [Fact]
    public void PaddingMaskMatchesAndAFullyMaskedRowIsZero()
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var g = new Generator(12);
        int b = 3, h = 4, hkv = 2, d = 8, l = 21;
        var q = 3 * randn([b, h, l, d], generator: g);
        var k = 3 * randn([b, hkv, l, d], generator: g);
        var v = randn([b, hkv, l, d], generator: g);
        // Left padding of 0, 5 and 20 keys, as a batch of prompts of different lengths has.
        var keys = ones([b, l], dtype: ScalarType.Bool);
        keys[1, TensorIndex.Slice(0, 5)] = false;
        keys[2, TensorIndex.Slice(0, 20)] = false;
        var mask = ones([b, 1, l, l], dtype: ScalarType.Bool) & keys.view(b, 1, 1, l);
        Assert.True(NarrowHeadAttention.Applies(q, k, v, mask, causal: false));
        var diff = (NarrowHeadAttention.Forward(q, k, v, mask) - Reference(q, k, v, mask)).abs().max().item<float>();
        Assert.True(diff < 1e-5f, $"largest difference {diff}");
        // The one key row 2 still sees is its answer exactly (its weight is 1, every masked weight exactly 0).
        var seen = NarrowHeadAttention.Forward(q, k, v, mask)[2, 0].view(h, d);
        var expected = v[2, TensorIndex.Colon, 20].repeat_interleave(2, dim: 0);
        Assert.True((seen - expected).abs().max().item<float>() < 1e-6f);
        var none = zeros([1, 1, 3, l], dtype: ScalarType.Bool);
        var blank = NarrowHeadAttention.Forward(q.narrow(0, 0, 1).narrow(2, 0, 3), k.narrow(0, 0, 1), v.narrow(0, 0, 1), none);
        Assert.Equal(0f, blank.abs().max().item<float>());
    }

    [Fact]
    public void EachQueryRowIsTheSameWhateverTheOtherRows()
    {
        // What makes a cached window exact: a row of a 4-query window equals that row of the whole forward, bit for bit.
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var g = new Generator(13);
        var q = randn([2, 16, 40, 8], generator: g);
        var k = randn([2, 8, 40, 8], generator: g);
        var v = randn([2, 8, 40, 8], generator: g);
        var whole = NarrowHeadAttention.Forward(q, k, v, null);
        var window = NarrowHeadAttention.Forward(q.narrow(2, 30, 4), k, v, null);
        Assert.True(whole.narrow(1, 30, 4).eq(window).all().item<bool>());
    }

    [Fact]
    public void TakesOnlyWhatItCanDo()
    {
        using var scope = NewDisposeScope();
        using var g = new Generator(14);
        Tensor R(int h, int d, ScalarType t = ScalarType.Float32) => randn([1, h, 6, d], generator: g).to_type(t);
        using (no_grad())
        {
            Assert.True(NarrowHeadAttention.Applies(R(4, 8), R(2, 8), R(2, 8), null, false));
            Assert.False(NarrowHeadAttention.Applies(R(4, 8), R(2, 8), R(2, 8), null, causal: true));
            Assert.False(NarrowHeadAttention.Applies(R(4, 12), R(2, 12), R(2, 12), null, false)); // not whole vectors
            Assert.False(NarrowHeadAttention.Applies(R(4, 64), R(2, 64), R(2, 64), null, false)); // wide: a matmul pays
            Assert.False(NarrowHeadAttention.Applies(R(4, 8, ScalarType.Float64), R(2, 8, ScalarType.Float64), R(2, 8, ScalarType.Float64), null, false));
            Assert.False(NarrowHeadAttention.Applies(R(4, 8), R(2, 8), R(2, 8), zeros([1, 1, 6, 6]), false)); // an additive float mask
        }
        // Training wants a gradient: libtorch's kernel, which has a backward, keeps it.
        var q = R(4, 8).requires_grad_();
        Assert.Equal(Vector256.IsHardwareAccelerated, NarrowHeadAttention.Applies(q.detach(), R(2, 8), R(2, 8), null, false));
        Assert.False(NarrowHeadAttention.Applies(q, R(2, 8), R(2, 8), null, false));
    }

    [Fact]
    public void ExponentialIsAccurateAndZeroBelowFloatRange()
    {
        // Relative error over the range a softmax feeds it (scores minus their maximum: x ≤ 0).
        double worst = 0;
        for (int i = 0; i <= 87_000; i += 8)
        {
            var x = Vector256.Create(-i / 1000f) - Vector256.Create(0f, 1e-4f, 2e-4f, 3e-4f, 4e-4f, 5e-4f, 6e-4f, 7e-4f);
            var y = NarrowHeadAttention.Exp(x);
            for (int lane = 0; lane < 8; lane++)
            {
                double exact = Math.Exp(x[lane]);
                if (x[lane] < -87f) { Assert.Equal(0f, y[lane]); continue; } // documented: zero below −87
                worst = Math.Max(worst, Math.Abs(y[lane] - exact) / exact);
            }
        }
        Assert.True(worst < 1e-6, $"worst relative error {worst:E2}");
        var edge = NarrowHeadAttention.Exp(Vector256.Create(float.NegativeInfinity, -88f, -1000f, 0f, -87f, -1f, -0.5f, -20f));
        Assert.Equal(0f, edge[0]); Assert.Equal(0f, edge[1]); Assert.Equal(0f, edge[2]);
        Assert.Equal(1f, edge[3]);
        var wide = NarrowHeadAttention.Exp(Vector512.Create(-0.5f));
        Assert.Equal(NarrowHeadAttention.Exp(Vector256.Create(-0.5f))[0], wide[0]);
    }
}
