using DiffusionLM.Corruption;
using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Corruption;

/// <summary>
/// Deliberately broken objectives for the mutation tests of <see cref="UniformObjectiveTests"/> and
/// GaussianTrainingTests, built from the public API only (a wrong schedule passed in, or a decorator).
/// </summary>
static class ObjectiveMutants
{
    /// <summary>
    /// α_t = 1 − t with the derivative of α_t = 1 − 2t: the uniform ELBO's rate β_t = −α'_t/α_t comes out doubled,
    /// a wrong weight on the integral while the corruption itself stays right.
    /// </summary>
    public sealed class DoubledRateSchedule : MaskSchedule
    {
        public override string Name => "linear-doubled-rate";
        public override double Alpha(double t) => 1.0 - t;
        public override double AlphaDerivative(double t) => -2.0;
    }

    /// <summary>The uniform objective of the 6-id test vocabulary (mask 4, bos 5 excluded) with the doubled rate.</summary>
    public static UniformProcess UniformWithDoubledRate() => new(new DoubledRateSchedule(), vocabSize: 6, excluded: [4, 5]);

    /// <summary>
    /// The gaussian bound with the VDM weight −dSNR/dt in place of ½(−dSNR/dt): the diffusion term counted twice
    /// (the same draws and terms as the honest <see cref="GaussianProcess.NegativeElboTerms"/>).
    /// </summary>
    public sealed class GaussianWithoutTheHalf(GaussianProcess inner) : IDiffusionObjective
    {
        public string Name => inner.Name;
        public Tensor Loss(IDenoiser model, TrainingBatch batch, Generator g) => NegativeElbo(model, batch, g);

        public Tensor NegativeElbo(IDenoiser model, TrainingBatch batch, Generator g)
        {
            var (diffusion, reconstruction, prior) = inner.NegativeElboTerms(model, batch, g);
            return 2 * diffusion + reconstruction + prior;
        }

        public double AnalyticInformation(double t, double[] unigram, Generator g) => inner.AnalyticInformation(t, unigram, g);
        public (Tensor Logits, Tensor Corrupted) DenoiseAt(IDenoiser model, Tensor x0, double t, Tensor? protectedMask, Generator g) =>
            inner.DenoiseAt(model, x0, t, protectedMask, g);
    }

    /// <summary>
    /// The gaussian process whose information curve is deliberately wrong in one way, everything else delegated: the
    /// channel's noise scaled by √D (σ taken as the noise vector's norm-per-√D unit, i.e. σ·√D per coordinate), or the
    /// unigram it is handed ignored in favour of a uniform p over every row of the table.
    /// </summary>
    public sealed class GaussianInformationMutant(GaussianProcess inner, IContinuousDenoiser model, bool noiseTimesSqrtD, bool uniformP) : IDiffusionObjective
    {
        public string Name => inner.Name;
        public Tensor Loss(IDenoiser m, TrainingBatch batch, Generator g) => inner.Loss(m, batch, g);
        public Tensor NegativeElbo(IDenoiser m, TrainingBatch batch, Generator g) => inner.NegativeElbo(m, batch, g);
        public (Tensor Logits, Tensor Corrupted) DenoiseAt(IDenoiser m, Tensor x0, double t, Tensor? protectedMask, Generator g) =>
            inner.DenoiseAt(m, x0, t, protectedMask, g);

        public double AnalyticInformation(double t, double[] unigram, Generator g)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var table = model.DiffusionEmbeddings().detach().to_type(ScalarType.Float64);
            double sigma = inner.Schedule.Sigma(t) * (noiseTimesSqrtD ? Math.Sqrt(table.shape[1]) : 1);
            var p = uniformP ? Enumerable.Repeat(1.0 / unigram.Length, unigram.Length).ToArray() : unigram;
            return GaussianProcess.ChannelInformation(table, p, sigma, 4096, g);
        }
    }
}
