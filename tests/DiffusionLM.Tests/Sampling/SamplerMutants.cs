using DiffusionLM.Models;
using DiffusionLM.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Sampling;

/// <summary>
/// Deliberately broken variants for the mutation tests of <see cref="SamplerMutationTests"/>. They are
/// decorators around a denoiser or a sampler, written against the public IDenoiser/ISampler API, so
/// they do not depend on how the samplers are built inside.
/// </summary>
static class SamplerMutants
{
    /// <summary>
    /// A denoiser whose rows leak into each other: row r's logits at position i get +5 at the token
    /// (i + Σ of all the other rows' ids) mod 9. Alone in its batch a row sees the honest logits.
    /// </summary>
    public sealed class LeakyDenoiser(FakeDenoiser inner) : IDenoiser
    {
        public ModelConfig Config => inner.Config;

        public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
        {
            var honest = inner.Logits(ids, attentionMask, time);
            int b = (int)ids.shape[0], l = (int)ids.shape[1];
            var x = ids.data<long>().ToArray();
            var leak = new float[b * l * FakeDenoiser.Vocab];
            for (int r = 0; r < b && b > 1; r++)
            {
                long others = 0;
                for (int k = 0; k < b * l; k++) if (k / l != r) others += x[k];
                for (int i = 0; i < l; i++) leak[(r * l + i) * FakeDenoiser.Vocab + (int)((i + others) % 9)] = 5f;
            }
            return honest + torch.tensor(leak, new long[] { b, l, FakeDenoiser.Vocab });
        }
    }

    /// <summary>
    /// A sampler that reports as confidence the probability of the tempered logits, softmax(logits / T),
    /// instead of the untempered one the references rank by (LLaDA, Fast-dLLM: F.softmax(logits)).
    /// </summary>
    public sealed class TemperedConfidence(ISampler inner, double temperature) : ISampler
    {
        public SamplerResult Generate(IDenoiser model, Tensor prompt, Generator generator, Tensor? attentionMask = null)
        {
            var fake = (FakeDenoiser)model;
            var r = inner.Generate(model, prompt, generator, attentionMask);
            var trace = r.Trace.Select(step => step with
            {
                Commits = step.Commits.Select(c =>
                {
                    var logits = fake.RowLogits(fake.Inputs[step.Index][c.Row]);
                    var tempered = new float[1, FakeDenoiser.Vocab];
                    for (int v = 0; v < FakeDenoiser.Vocab; v++) tempered[0, v] = (float)(logits[c.Position, v] / temperature);
                    return c with { Confidence = FakeDenoiser.Softmax(tempered, 0)[c.Token] };
                }).ToList(),
            }).ToList();
            return r with { Trace = trace };
        }
    }

    /// <summary>A sampler whose reported confidences are fresh uniform draws, not the draws it ranked by.</summary>
    public sealed class RedrawnConfidence(ISampler inner, int seed) : ISampler
    {
        public SamplerResult Generate(IDenoiser model, Tensor prompt, Generator generator, Tensor? attentionMask = null)
        {
            var rng = new Random(seed);
            var r = inner.Generate(model, prompt, generator, attentionMask);
            return r with { Trace = r.Trace.Select(s => s with { Commits = s.Commits.Select(c => c with { Confidence = rng.NextDouble() }).ToList() }).ToList() };
        }
    }
}

/// <summary>Deliberately broken variants for the uniform family's checks (<see cref="UniformSamplerTests"/>).</summary>
static class UniformSamplerMutants
{
    /// <summary>
    /// A denoiser that cancels the evidence the sampler adds: its x_θ is the honest one divided by the likelihood
    /// of the token it sees, q(x_t | z) (linear schedule, from the time it is given), so the sampler's Bayes step
    /// p(z | x_t) ∝ x_θ(z)·q(x_t | z) returns the honest x_θ unchanged. Together they behave exactly as a uniform
    /// sampler whose posterior ignores the noisy token. Needs a time-conditioned config; ids are 0..K−1.
    /// </summary>
    public sealed class EvidenceCancellingDenoiser(IDenoiser inner, int k) : IDenoiser
    {
        public ModelConfig Config => inner.Config;

        public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
        {
            var honest = inner.Logits(ids, attentionMask, time).to_type(ScalarType.Float32).contiguous().data<float>().ToArray();
            int b = (int)ids.shape[0], l = (int)ids.shape[1], v = Config.VocabSize;
            var x = ids.data<long>().ToArray();
            var t = time!.data<float>().ToArray();
            for (int r = 0; r < b; r++)
                for (int i = 0; i < l; i++)
                    for (int z = 0; z < k; z++)
                        honest[(r * l + i) * v + z] -= (float)Math.Log(UniformReference.Kernel(1 - t[r], z, (int)x[r * l + i], k));
            return torch.tensor(honest, new long[] { b, l, v });
        }
    }
}
