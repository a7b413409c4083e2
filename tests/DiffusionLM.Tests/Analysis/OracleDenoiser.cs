using DiffusionLM.Analysis.Trap;
using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Analysis;

/// <summary>
/// A denoiser that knows a trap language exactly: sequences are [bos, word tokens...]; at a masked
/// position it returns the log of the true conditional p(word | visible words) under the uniform
/// distribution on the support (found by enumerating the support). Word w has token id w; then bos, mask.
/// </summary>
sealed class OracleDenoiser : IDenoiser
{
    public TrapLanguage Language { get; }
    public int Bos => Language.Words.Count;
    public int Mask => Language.Words.Count + 1;
    public ModelConfig Config { get; }
    readonly List<int[]> support;

    public OracleDenoiser(TrapLanguage language)
    {
        Language = language;
        Config = new ModelConfig
        {
            DModel = 8, NHeads = 2, NKvHeads = 2, NLayers = 1, MlpHiddenSize = 8, VocabSize = language.Words.Count + 3,
            MaxSequenceLength = language.Length + 1, MaskTokenId = language.Words.Count + 1, EosTokenId = language.Words.Count + 2,
            PadTokenId = language.Words.Count + 2, BosTokenId = language.Words.Count,
        };
        support = Enumerate(language);
    }

    /// <summary>Every valid sentence, built from the templates (independently of the checker).</summary>
    public static List<int[]> Enumerate(TrapLanguage language)
    {
        var all = new List<int[]>();
        foreach (var t in language.Templates)
        {
            var partial = new List<int[]> { new int[language.Length] };
            foreach (var g in t.Groups)
                partial = partial.SelectMany(s => g.Tuples.Select(tu =>
                {
                    var c = (int[])s.Clone();
                    for (int k = 0; k < tu.Length; k++) c[g.Positions[k]] = tu[k];
                    return c;
                })).ToList();
            all.AddRange(partial);
        }
        return all;
    }

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        int b = (int)ids.shape[0], l = (int)ids.shape[1], v = Config.VocabSize;
        var flat = ids.data<long>().ToArray();
        var outv = new float[b * l * v];
        Array.Fill(outv, -30f);
        for (int r = 0; r < b; r++)
        {
            var row = flat.AsSpan(r * l, l).ToArray();
            var consistent = support.Where(s => Enumerable.Range(0, Language.Length)
                .All(i => row[i + 1] == Mask || row[i + 1] == s[i])).ToList();
            for (int i = 0; i < l; i++)
            {
                int o = (r * l + i) * v;
                if (i == 0 || row[i] != Mask) { outv[o + (int)row[i]] = 0; continue; }
                if (consistent.Count == 0) { outv[o] = 0; continue; }
                foreach (var grp in consistent.GroupBy(s => s[i - 1]))
                    outv[o + grp.Key] = (float)Math.Log((double)grp.Count() / consistent.Count);
            }
        }
        return torch.tensor(outv, new long[] { b, l, v });
    }
}
