using DiffusionLM.Corruption;
using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Corruption;

/// <summary>
/// The Bayes-optimal denoiser of the gaussian process for i.i.d. tokens x ~ p over a fixed embedding table E:
/// at every noisy position p(w | x_t) ∝ p(w)·exp(−‖x_t − e_w‖²/(2σ(t)²)), independently of the other positions
/// (they carry no information about it). At clean positions it returns the posterior at a tiny σ (the token itself).
/// <see cref="Uninformed"/>: all-zero logits (a model that learned nothing). <see cref="Sharpness"/> multiplies
/// the logits (1: exact posterior).
/// </summary>
sealed class GaussianOracle : IContinuousDenoiser
{
    public const int V = 4, D = 8;
    /// <summary>Four rows of the 8×8 Hadamard matrix: ±1 entries, norm √8 = √D (already normalised), mutually orthogonal.</summary>
    public static readonly float[,] Table =
    {
        { 1, 1, 1, 1, 1, 1, 1, 1 },
        { 1, -1, 1, -1, 1, -1, 1, -1 },
        { 1, 1, -1, -1, 1, 1, -1, -1 },
        { 1, -1, -1, 1, 1, -1, -1, 1 },
    };
    public static readonly double[] P = [0.5, 0.25, 0.15, 0.1];
    public static double Entropy => MaskedProcess.Entropy(P);

    public ModelConfig Config { get; }
    public GaussianSchedule Schedule { get; }
    public bool Uninformed { get; init; }
    public float Sharpness { get; init; } = 1f;
    public int Calls { get; private set; }
    readonly Tensor table = tensor(Table).DetachFromDisposeScope();
    readonly Tensor logP = tensor(P, dtype: ScalarType.Float32).log().DetachFromDisposeScope();

    public GaussianOracle(double sigmaMin = 1.0, double sigmaMax = 100.0)
    {
        Schedule = new GaussianSchedule(sigmaMin, sigmaMax);
        Config = new ModelConfig
        {
            DModel = 8, NHeads = 2, NKvHeads = 2, NLayers = 1, MlpHiddenSize = 8, VocabSize = V, MaxSequenceLength = 64,
            MaskTokenId = 0, EosTokenId = 3, PadTokenId = 3, Process = DiffusionProcess.Gaussian, TimeConditioning = true,
            EmbeddingDim = D, SigmaMin = sigmaMin, SigmaMax = sigmaMax,
        };
    }

    public Tensor DiffusionEmbeddings() => table.alias();
    public Tensor? TimeWarpState => null;

    public Tensor LogitsFromNoisy(Tensor xt, Tensor t, Tensor inputScale, Tensor? selfCond = null, Tensor? clean = null, Tensor? attentionMask = null)
    {
        Calls++;
        using var scope = NewDisposeScope();
        long b = xt.shape[0], l = xt.shape[1];
        var sigma = Schedule.Sigma(t.to_type(ScalarType.Float64)).to_type(ScalarType.Float32).view(b, 1, 1).expand(b, l, 1);
        if (clean is not null) sigma = where(clean.unsqueeze(-1), full_like(sigma, 1e-3f), sigma);
        var sq = (xt.unsqueeze(2) - table.view(1, 1, V, D)).square().sum(-1);
        var logits = logP.view(1, 1, V) - sq / (2 * sigma.square());
        logits = Uninformed ? zeros_like(logits) : logits * Sharpness;
        return logits.MoveToOuterDisposeScope();
    }

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        using var scope = NewDisposeScope();
        var e = table.index_select(0, ids.flatten()).view(ids.shape[0], ids.shape[1], D);
        // The oracle reads x_t at its own scale: the input scale is for networks.
        return LogitsFromNoisy(e, time ?? zeros(ids.shape[0]), ones(ids.shape[0])).MoveToOuterDisposeScope();
    }

    /// <summary>[rows, length] i.i.d. tokens from <see cref="P"/>.</summary>
    public static Tensor Draw(int rows, int length, Generator g) =>
        multinomial(tensor(P, dtype: ScalarType.Float64), rows * length, replacement: true, generator: g).view(rows, length);
}
