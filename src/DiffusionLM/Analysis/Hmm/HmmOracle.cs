using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Hmm;

/// <summary>
/// The Bayes-optimal denoiser of an HMM: at every masked position the exact p(x_0^i | x_t) by forward-backward, as
/// log-probabilities (a visible position gets its own token). Token ids are the HMM's symbols 0..V−1 and the mask is V.
/// <para>
/// For a corruption whose mask probability depends on the clean token, <paramref name="tokenMaskProbability"/>(t)
/// gives m_t(v); the posterior then includes the evidence of being masked at t (so the oracle is time-conditioned).
/// Without it the posterior is that of token-independent masking (uniform, positional, cart, bell_t).
/// </para>
/// </summary>
public sealed class HmmOracle(HiddenMarkovModel hmm, int length, Func<double, double[]>? tokenMaskProbability = null) : IDenoiser
{
    public ModelConfig Config { get; } = new()
    {
        DModel = 8, NHeads = 1, NKvHeads = 1, NLayers = 1, MlpHiddenSize = 8,
        VocabSize = hmm.Vocab + 1, MaxSequenceLength = length, MaskTokenId = hmm.Vocab, EosTokenId = 0,
        TimeConditioning = tokenMaskProbability is not null,
    };

    public int MaskId => hmm.Vocab;

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        if (tokenMaskProbability is not null && time is null) throw new DlmException("this HMM oracle needs the diffusion time");
        long b = ids.shape[0], l = ids.shape[1];
        var x = ids.data<long>().ToArray();
        var t = time?.to_type(ScalarType.Float64).data<double>().ToArray();
        var logits = new float[b * l * (hmm.Vocab + 1)];
        for (int r = 0; r < b; r++)
        {
            var row = x.AsSpan(r * (int)l, (int)l).ToArray();
            var visible = row.Select(v => v != MaskId).ToArray();
            var rates = tokenMaskProbability?.Invoke(t![r]);
            var post = hmm.TokenPosteriors(row.Select(v => v == MaskId ? 0 : v).ToArray(), visible, rates);
            for (int i = 0; i < l; i++)
            {
                int off = (int)((r * l + i) * (hmm.Vocab + 1));
                for (int v = 0; v < hmm.Vocab; v++) logits[off + v] = (float)Math.Log(Math.Max(post[i][v], 1e-30));
                logits[off + hmm.Vocab] = -1e4f;
            }
        }
        return tensor(logits, new long[] { b, l, hmm.Vocab + 1 });
    }
}
