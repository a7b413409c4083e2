using static TorchSharp.torch;

namespace DiffusionLM.Models.Hf;

/// <summary>A denoiser loaded from a Hugging Face folder (LLaDA, Dream, MDLM), computed over a <see cref="WeightStore"/>.</summary>
public interface IHfDenoiser : IDenoiser, IDisposable
{
    /// <summary>"llada", "dream" or "mdlm".</summary>
    string Family { get; }
    WeightStore Weights { get; }
    /// <summary>
    /// The network's output as its reference code defines it (Dream: NOT shifted, row i is the
    /// prediction made at position i for token i + 1; MDLM: SUBS log-probabilities), for parity checks.
    /// <see cref="IDenoiser.Logits"/> is what samplers read: row i predicts token i.
    /// </summary>
    Tensor ModelLogits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null);
}
