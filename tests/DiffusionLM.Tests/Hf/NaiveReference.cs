using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Hf;

/// <summary>
/// The reference math of LLaDA, Dream and MDLM written out naively in float64, one position and one
/// head at a time, from the stored (possibly bf16-rounded) weights: an independent check of the
/// tensorised forward passes.
/// </summary>
internal static class NaiveReference
{
    public static double[,] Mat(Tensor t)
    {
        var a = t.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        int r = (int)t.shape[0], c = (int)t.shape[1];
        var o = new double[r, c];
        for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) o[i, j] = a[i * c + j];
        return o;
    }

    public static double[] Vec(Tensor t) => t.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();

    public static double[] Lin(double[,] w, double[]? b, double[] x)
    {
        var o = new double[w.GetLength(0)];
        for (int i = 0; i < o.Length; i++) { double s = b?[i] ?? 0; for (int j = 0; j < x.Length; j++) s += w[i, j] * x[j]; o[i] = s; }
        return o;
    }

    public static double[] Rms(double[] x, double[] g, double eps)
    {
        double ms = x.Sum(v => v * v) / x.Length, s = 1 / Math.Sqrt(ms + eps);
        return x.Select((v, i) => v * s * g[i]).ToArray();
    }

    public static double[] LayerNorm(double[] x, double[] g, double eps)
    {
        double mean = x.Average(), var = x.Sum(v => (v - mean) * (v - mean)) / x.Length, s = 1 / Math.Sqrt(var + eps);
        return x.Select((v, i) => (v - mean) * s * g[i]).ToArray();
    }

    /// <summary>Rotate-half RoPE: dimension i pairs with i + hd/2, angle pos · θ^(−2i/hd).</summary>
    public static double[] Rope(double[] v, long pos, int hd, double theta)
    {
        var o = (double[])v.Clone();
        for (int h = 0; h < v.Length / hd; h++)
            for (int i = 0; i < hd / 2; i++)
            {
                double f = pos * Math.Pow(theta, -2.0 * i / hd);
                double a = v[h * hd + i], b = v[h * hd + i + hd / 2];
                o[h * hd + i] = a * Math.Cos(f) - b * Math.Sin(f);
                o[h * hd + i + hd / 2] = b * Math.Cos(f) + a * Math.Sin(f);
            }
        return o;
    }

    /// <summary>Bidirectional softmax attention; query head j reads key/value head j / (heads / kvHeads); keys with keyMask false are skipped.</summary>
    public static double[][] Attention(double[][] q, double[][] k, double[][] v, int heads, int kvHeads, int hd, bool[]? keyMask)
    {
        int l = q.Length;
        var o = new double[l][];
        for (int i = 0; i < l; i++)
        {
            o[i] = new double[heads * hd];
            for (int h = 0; h < heads; h++)
            {
                int kh = h / (heads / kvHeads);
                var scores = new double[l];
                for (int j = 0; j < l; j++)
                {
                    if (keyMask is not null && !keyMask[j]) { scores[j] = double.NegativeInfinity; continue; }
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += q[i][h * hd + d] * k[j][kh * hd + d];
                    scores[j] = s / Math.Sqrt(hd);
                }
                double max = scores.Max();
                var p = scores.Select(s => Math.Exp(s - max)).ToArray();
                double z = p.Sum();
                for (int j = 0; j < l; j++)
                    for (int d = 0; d < hd; d++) o[i][h * hd + d] += p[j] / z * v[j][kh * hd + d];
            }
        }
        return o;
    }

    static double Silu(double x) => x / (1 + Math.Exp(-x));

    /// <summary>A Llama-style decoder (LLaDA, Dream) with the given tensor names.</summary>
    public static double[][] Decoder(Dictionary<string, Tensor> w, string embed, string finalNorm, string head, Func<int, string, string> name,
        int layers, int heads, int kvHeads, int hd, double eps, double theta, long[] ids, long[] positions, bool[]? keyMask)
    {
        double[]? B(int i, string part) => w.TryGetValue(name(i, part) + ".bias", out var t) ? Vec(t) : null;
        var emb = Mat(w[embed]);
        int l = ids.Length, dm = emb.GetLength(1);
        var x = new double[l][];
        for (int i = 0; i < l; i++) { x[i] = new double[dm]; for (int d = 0; d < dm; d++) x[i][d] = emb[ids[i], d]; }
        for (int layer = 0; layer < layers; layer++)
        {
            var an = Vec(w[name(layer, "attn_norm") + ".weight"]);
            var wq = Mat(w[name(layer, "q") + ".weight"]); var wk = Mat(w[name(layer, "k") + ".weight"]); var wv = Mat(w[name(layer, "v") + ".weight"]);
            var q = new double[l][]; var k = new double[l][]; var v = new double[l][];
            for (int i = 0; i < l; i++)
            {
                var h = Rms(x[i], an, eps);
                q[i] = Rope(Lin(wq, B(layer, "q"), h), positions[i], hd, theta);
                k[i] = Rope(Lin(wk, B(layer, "k"), h), positions[i], hd, theta);
                v[i] = Lin(wv, B(layer, "v"), h);
            }
            var att = Attention(q, k, v, heads, kvHeads, hd, keyMask);
            var wo = Mat(w[name(layer, "o") + ".weight"]);
            var fn = Vec(w[name(layer, "ffn_norm") + ".weight"]);
            var wg = Mat(w[name(layer, "gate") + ".weight"]); var wu = Mat(w[name(layer, "up") + ".weight"]); var wd = Mat(w[name(layer, "down") + ".weight"]);
            for (int i = 0; i < l; i++)
            {
                var o = Lin(wo, B(layer, "o"), att[i]);
                for (int d = 0; d < dm; d++) x[i][d] += o[d];
                var f = Rms(x[i], fn, eps);
                var g = Lin(wg, null, f); var u = Lin(wu, null, f);
                var m = Lin(wd, null, g.Select((gv, j) => Silu(gv) * u[j]).ToArray());
                for (int d = 0; d < dm; d++) x[i][d] += m[d];
            }
        }
        var fin = Vec(w[finalNorm]);
        var wh = Mat(w[head]);
        return x.Select(xi => Lin(wh, null, Rms(xi, fin, eps))).ToArray();
    }

    static double GeluTanh(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    /// <summary>MDLM's DiT and SUBS parameterisation, for one sequence at noise level sigma.</summary>
    public static double[][] Mdlm(Dictionary<string, Tensor> w, int layers, int heads, long[] ids, double sigma, int maskId)
    {
        double[] L(string p, double[] x) => Lin(Mat(w[p + ".weight"]), Vec(w[p + ".bias"]), x);
        var emb = Mat(w["backbone.vocab_embed.embedding"]);
        int l = ids.Length, dm = emb.GetLength(1), hd = dm / heads;
        var tf = new double[256];
        for (int i = 0; i < 128; i++) { double f = Math.Exp(-Math.Log(10000) * i / 128); tf[i] = Math.Cos(sigma * f); tf[128 + i] = Math.Sin(sigma * f); }
        var c = L("backbone.sigma_map.mlp.2", L("backbone.sigma_map.mlp.0", tf).Select(Silu).ToArray()).Select(Silu).ToArray();
        var x = new double[l][];
        for (int i = 0; i < l; i++) { x[i] = new double[dm]; for (int d = 0; d < dm; d++) x[i][d] = emb[ids[i], d]; }
        for (int b = 0; b < layers; b++)
        {
            string p = $"backbone.blocks.{b}.";
            var mod = L(p + "adaLN_modulation", c);
            double M(int chunk, int d) => mod[chunk * dm + d];
            var n1 = Vec(w[p + "norm1.weight"]);
            var qkvW = Mat(w[p + "attn_qkv.weight"]);
            var q = new double[l][]; var k = new double[l][]; var v = new double[l][];
            for (int i = 0; i < l; i++)
            {
                var h = LayerNorm(x[i], n1, 1e-5).Select((hv, d) => hv * (1 + M(1, d)) + M(0, d)).ToArray();
                var qkv = Lin(qkvW, null, h);
                q[i] = Rope(qkv[..dm], i, hd, 10000); k[i] = Rope(qkv[dm..(2 * dm)], i, hd, 10000); v[i] = qkv[(2 * dm)..];
            }
            var att = Attention(q, k, v, heads, heads, hd, null);
            var wo = Mat(w[p + "attn_out.weight"]);
            var n2 = Vec(w[p + "norm2.weight"]);
            for (int i = 0; i < l; i++)
            {
                var o = Lin(wo, null, att[i]);
                for (int d = 0; d < dm; d++) x[i][d] += M(2, d) * o[d];
                var h = LayerNorm(x[i], n2, 1e-5).Select((hv, d) => hv * (1 + M(4, d)) + M(3, d)).ToArray();
                var m = L(p + "mlp.2", L(p + "mlp.0", h).Select(GeluTanh).ToArray());
                for (int d = 0; d < dm; d++) x[i][d] += M(5, d) * m[d];
            }
        }
        var fmod = L("backbone.output_layer.adaLN_modulation", c);
        var nf = Vec(w["backbone.output_layer.norm_final.weight"]);
        var result = new double[l][];
        for (int i = 0; i < l; i++)
        {
            var h = LayerNorm(x[i], nf, 1e-5).Select((hv, d) => hv * (1 + fmod[dm + d]) + fmod[d]).ToArray();
            var logits = L("backbone.output_layer.linear", h);
            logits[maskId] += -1e6;
            double max = logits.Max(), lse = max + Math.Log(logits.Sum(z => Math.Exp(z - max)));
            result[i] = logits.Select(z => z - lse).ToArray();
            if (ids[i] != maskId) { result[i] = Enumerable.Repeat(-1e6, logits.Length).ToArray(); result[i][ids[i]] = 0; }
        }
        return result;
    }

    /// <summary>Error relative to max(1, |value|): MDLM's −10⁶ entries carry fp32's 0.06 spacing there.</summary>
    public static void AssertClose(double[][] expected, Tensor actual, double tol, string what)
    {
        var a = actual.to_type(ScalarType.Float64).contiguous().data<double>().ToArray();
        int v = expected[0].Length;
        Xunit.Assert.Equal(expected.Length * v, a.Length);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
            for (int j = 0; j < v; j++) worst = Math.Max(worst, Math.Abs(expected[i][j] - a[i * v + j]) / Math.Max(1, Math.Abs(expected[i][j])));
        Xunit.Assert.True(worst < tol, $"{what}: max |naive − model| / max(1, |naive|) = {worst:G3} (tolerance {tol})");
    }
}
