using DiffusionLM.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Models;

public class LladaModelTests
{
    static ModelConfig Tiny(bool causal = false) => new()
    {
        DModel = 32, NHeads = 4, NKvHeads = 2, NLayers = 2, MlpHiddenSize = 48, VocabSize = 50,
        MaxSequenceLength = 32, MaskTokenId = 49, EosTokenId = 48, Causal = causal, RopeTheta = 10000,
    };

    [Fact]
    public void ParameterNamesAreLladasTensorNames()
    {
        using var m = new LladaModel(Tiny());
        var names = m.named_parameters().Select(p => p.name).ToHashSet();
        Assert.Contains("model.transformer.wte.weight", names);
        Assert.Contains("model.transformer.ln_f.weight", names);
        Assert.Contains("model.transformer.ff_out.weight", names);
        foreach (var n in new[] { "attn_norm", "q_proj", "k_proj", "v_proj", "attn_out", "ff_norm", "ff_proj", "up_proj", "ff_out" })
            Assert.Contains($"model.transformer.blocks.1.{n}.weight", names);
        Assert.Equal(2 + 1 + 2 * 9, names.Count);
    }

    /// <summary>The same math written out naively, one head and one position at a time.</summary>
    static float[,] NaiveLogits(LladaModel m, long[] ids)
    {
        var c = m.Config;
        float[,] W(Tensor t) { var a = t.to_type(ScalarType.Float32).data<float>().ToArray(); int r = (int)t.shape[0], k = (int)t.shape[1]; var o = new float[r, k]; for (int i = 0; i < r; i++) for (int j = 0; j < k; j++) o[i, j] = a[i * k + j]; return o; }
        float[] V(Tensor t) => t.to_type(ScalarType.Float32).data<float>().ToArray();
        double[] MatVec(float[,] w, double[] x) { var o = new double[w.GetLength(0)]; for (int i = 0; i < o.Length; i++) for (int j = 0; j < x.Length; j++) o[i] += w[i, j] * x[j]; return o; }
        double[] Norm(double[] x, float[] g) { double ms = x.Sum(v => v * v) / x.Length; double s = 1 / Math.Sqrt(ms + c.RmsNormEps); return x.Select((v, i) => v * s * g[i]).ToArray(); }
        int L = ids.Length, D = c.DModel, hd = c.HeadDim;
        var emb = W(m.Transformer.wte.weight!);
        var h = new double[L][];
        for (int i = 0; i < L; i++) { h[i] = new double[D]; for (int j = 0; j < D; j++) h[i][j] = emb[ids[i], j]; }
        double[] Rope(double[] v, int pos)
        {
            var o = (double[])v.Clone();
            for (int head = 0; head < v.Length / hd; head++)
                for (int i = 0; i < hd / 2; i++)
                {
                    double f = pos * Math.Pow(c.RopeTheta, -2.0 * i / hd);
                    double a = v[head * hd + i], b = v[head * hd + i + hd / 2];
                    o[head * hd + i] = a * Math.Cos(f) - b * Math.Sin(f);
                    o[head * hd + i + hd / 2] = b * Math.Cos(f) + a * Math.Sin(f);
                }
            return o;
        }
        foreach (LladaBlock blk in m.Transformer.blocks)
        {
            var an = V(blk.attn_norm.weight); var fn = V(blk.ff_norm.weight);
            var q = new double[L][]; var k = new double[L][]; var vv = new double[L][];
            for (int i = 0; i < L; i++) { var x = Norm(h[i], an); q[i] = Rope(MatVec(W(blk.q_proj.weight!), x), i); k[i] = Rope(MatVec(W(blk.k_proj.weight!), x), i); vv[i] = MatVec(W(blk.v_proj.weight!), x); }
            var next = new double[L][];
            for (int i = 0; i < L; i++)
            {
                var att = new double[D];
                for (int head = 0; head < c.NHeads; head++)
                {
                    int kvh = head / (c.NHeads / c.NKvHeads);
                    var scores = new double[L];
                    for (int j = 0; j < L; j++)
                    {
                        if (c.Causal && j > i) { scores[j] = double.NegativeInfinity; continue; }
                        for (int d = 0; d < hd; d++) scores[j] += q[i][head * hd + d] * k[j][kvh * hd + d];
                        scores[j] /= Math.Sqrt(hd);
                    }
                    double mx = scores.Max(); var e = scores.Select(s => Math.Exp(s - mx)).ToArray(); double z = e.Sum();
                    for (int j = 0; j < L; j++) for (int d = 0; d < hd; d++) att[head * hd + d] += e[j] / z * vv[j][kvh * hd + d];
                }
                var o = MatVec(W(blk.attn_out.weight!), att);
                var r = h[i].Select((v, j) => v + o[j]).ToArray();
                var f = Norm(r, fn);
                var gate = MatVec(W(blk.ff_proj.weight!), f); var up = MatVec(W(blk.up_proj.weight!), f);
                var act = gate.Select((g, j) => g / (1 + Math.Exp(-g)) * up[j]).ToArray();
                var down = MatVec(W(blk.ff_out.weight!), act);
                next[i] = r.Select((v, j) => v + down[j]).ToArray();
            }
            h = next;
        }
        var lnf = V(m.Transformer.ln_f.weight); var head_ = W(m.Transformer.ff_out!.weight!);
        var logits = new float[L, c.VocabSize];
        for (int i = 0; i < L; i++) { var out_ = MatVec(head_, Norm(h[i], lnf)); for (int j = 0; j < c.VocabSize; j++) logits[i, j] = (float)out_[j]; }
        return logits;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LogitsEqualANaiveComputation(bool causal)
    {
        using var m = new LladaModel(Tiny(causal), new Generator(5));
        using var _ = no_grad();
        // Non-trivial norm gains, so that a missing gain would show.
        using (var g = new Generator(6)) foreach (var (n, p) in m.named_parameters()) if (n.EndsWith("norm.weight") || n.EndsWith("ln_f.weight")) p.copy_(rand(p.shape, generator: g) + 0.5);
        long[] ids = [3, 17, 42, 0, 8, 8, 30, 11, 5];
        using var got = m.Logits(tensor(ids).unsqueeze(0));
        var want = NaiveLogits(m, ids);
        for (int i = 0; i < ids.Length; i++)
            for (int j = 0; j < m.Config.VocabSize; j++)
                Assert.Equal(want[i, j], got[0, i, j].item<float>(), 4);
    }

    [Fact]
    public void BidirectionalSeesTheFutureAndCausalDoesNot()
    {
        using var _ = no_grad();
        using var bi = new LladaModel(Tiny(false), new Generator(1));
        using var ca = new LladaModel(Tiny(true), new Generator(1));
        using var a = tensor(new long[] { 1, 2, 3, 4, 5, 6 }).unsqueeze(0);
        using var b = tensor(new long[] { 1, 2, 3, 4, 5, 9 }).unsqueeze(0);
        Assert.True(ca.Logits(a).narrow(1, 0, 5).allclose(ca.Logits(b).narrow(1, 0, 5), rtol: 0, atol: 1e-6));
        Assert.False(bi.Logits(a).narrow(1, 0, 5).allclose(bi.Logits(b).narrow(1, 0, 5), rtol: 0, atol: 1e-6));
    }

    [Fact]
    public void KeyValueCacheGivesTheFullForwardsLogits()
    {
        using var _ = no_grad();
        using var m = new LladaModel(Tiny(true), new Generator(2));
        long[] ids = [4, 9, 1, 33, 2, 7, 7];
        using var full_ = m.Logits(tensor(ids).unsqueeze(0));
        using var cache = new KvCache(m.Config.NLayers);
        // A prefix of three at once, then one token at a time.
        using var first = m.Forward(tensor(ids[..3]).unsqueeze(0), null, null, cache);
        Assert.True(first.allclose(full_.narrow(1, 0, 3), rtol: 0, atol: 1e-5));
        for (int i = 3; i < ids.Length; i++)
        {
            using var step = m.Forward(tensor(new[] { ids[i] }).unsqueeze(0), null, null, cache);
            Assert.True(step.allclose(full_.narrow(1, i, 1), rtol: 0, atol: 1e-5));
        }
    }

    [Fact]
    public void PaddedRowsMatchUnpaddedRows()
    {
        using var _ = no_grad();
        using var m = new LladaModel(Tiny(false), new Generator(3));
        using var alone = m.Logits(tensor(new long[] { 5, 6, 7, 8 }).unsqueeze(0));
        // Left padding masked out of attention; RoPE is relative, so the offset of the row does not matter.
        using var ids = tensor(new long[,] { { 0, 0, 5, 6, 7, 8 } });
        using var mask = tensor(new bool[,] { { false, false, true, true, true, true } });
        using var padded = m.Logits(ids, mask);
        Assert.True(padded.narrow(1, 2, 4).allclose(alone, rtol: 0, atol: 1e-5));
    }
}
