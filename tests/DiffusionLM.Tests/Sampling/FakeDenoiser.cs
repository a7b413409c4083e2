using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Sampling;

/// <summary>
/// A deterministic stand-in for a network: logits[b, i, v] = Scale * (pos[i, v] + left[v, x[i-1]] +
/// right[v, x[i+1]]) + Bias[v], from tables filled by a seeded System.Random. Computed in plain C#
/// per row, so a row's logits cannot depend on its batch position or its neighbours. Records every
/// input it sees.
/// </summary>
sealed class FakeDenoiser : IDenoiser
{
    public const int Vocab = 12, Mask = 11, Eos = 10, Eot = 9, Pad = 0, MaxLen = 256;

    public ModelConfig Config { get; } = new()
    {
        DModel = 8, NHeads = 2, NKvHeads = 2, NLayers = 1, MlpHiddenSize = 8, VocabSize = Vocab,
        MaxSequenceLength = MaxLen, MaskTokenId = Mask, EosTokenId = Eos, PadTokenId = Pad,
    };

    readonly float[,] pos = new float[MaxLen, Vocab], left = new float[Vocab, Vocab], right = new float[Vocab, Vocab];
    public float Scale { get; init; } = 1f;
    public float[] Bias { get; } = new float[Vocab];
    /// <summary>Neighbours at positions below this are ignored (a model blind to the prompt).</summary>
    public int IgnoreBefore { get; init; }
    /// <summary>Added to logits[i, v] when set: a hand-made preference per position.</summary>
    public Func<int, int, float>? Extra { get; init; }
    /// <summary>When true every logit is 0: all predictions and confidences tie.</summary>
    public bool Constant { get; init; }

    public List<long[][]> Inputs { get; } = [];
    public List<bool[][]?> Masks { get; } = [];

    public FakeDenoiser(int seed = 1)
    {
        var rng = new Random(seed);
        for (int i = 0; i < MaxLen; i++) for (int v = 0; v < Vocab; v++) pos[i, v] = (float)(rng.NextDouble() * 4 - 2);
        for (int a = 0; a < Vocab; a++)
            for (int v = 0; v < Vocab; v++)
            {
                left[v, a] = (float)(rng.NextDouble() * 4 - 2);
                right[v, a] = (float)(rng.NextDouble() * 4 - 2);
            }
        Bias[Mask] = -1e4f; // a real model never predicts the mask token
    }

    /// <summary>The logits of one row, the same numbers Logits() returns.</summary>
    public float[,] RowLogits(long[] x)
    {
        int l = x.Length;
        var o = new float[l, Vocab];
        for (int i = 0; i < l; i++)
            for (int v = 0; v < Vocab; v++)
            {
                if (Constant) { o[i, v] = 0; continue; }
                float s = pos[i, v];
                if (i - 1 >= IgnoreBefore && i - 1 >= 0) s += left[v, x[i - 1]];
                if (i + 1 >= IgnoreBefore && i + 1 < l) s += right[v, x[i + 1]];
                o[i, v] = Scale * s + Bias[v] + (Extra?.Invoke(i, v) ?? 0f);
            }
        return o;
    }

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        int b = (int)ids.shape[0], l = (int)ids.shape[1];
        var flat = ids.data<long>().ToArray();
        var rows = Enumerable.Range(0, b).Select(r => flat.AsSpan(r * l, l).ToArray()).ToArray();
        Inputs.Add(rows);
        if (attentionMask is null) Masks.Add(null);
        else
        {
            var m = attentionMask.data<bool>().ToArray();
            Masks.Add(Enumerable.Range(0, b).Select(r => m.AsSpan(r * l, l).ToArray()).ToArray());
        }
        var outv = new float[b * l * Vocab];
        for (int r = 0; r < b; r++)
        {
            var o = RowLogits(rows[r]);
            for (int i = 0; i < l; i++) for (int v = 0; v < Vocab; v++) outv[(r * l + i) * Vocab + v] = o[i, v];
        }
        return torch.tensor(outv, new long[] { b, l, Vocab });
    }

    public static double[] Softmax(float[,] logits, int i)
    {
        int v = logits.GetLength(1);
        double max = double.NegativeInfinity;
        for (int j = 0; j < v; j++) max = Math.Max(max, logits[i, j]);
        var p = new double[v];
        double sum = 0;
        for (int j = 0; j < v; j++) sum += p[j] = double.IsNegativeInfinity(logits[i, j]) ? 0 : Math.Exp(logits[i, j] - max);
        for (int j = 0; j < v; j++) p[j] /= sum;
        return p;
    }
}
