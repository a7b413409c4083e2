using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Training;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Generation;

/// <summary>
/// How far a block cache's logits drift from the uncached ones: over a cached run's steps, the predictions at the block's
/// still-masked positions against a full forward on the same state. Total variation between the two softmaxes (what a
/// sampler draws from; 0 to 1) and the largest logit difference.
/// </summary>
/// <param name="by_step_in_block">mean total variation at each step within a block (step 0 is the block's first, exact, forward).</param>
public sealed record DriftFigures(int samples, int steps, double mean_tv, double max_tv, double max_abs_logit, double[] by_step_in_block);

public static class CacheDrift
{
    /// <summary>
    /// Runs <paramref name="count"/> samples one at a time with an observer that recomputes every step uncached
    /// (untimed: the observer's forwards are extra). Null for an uncached setting.
    /// </summary>
    public static DriftFigures? Measure(GenerationSetting setting, IDenoiser model, long[][] prompts, int count, long seed, long stream)
    {
        if (setting.Settings.Cache == CacheMode.None || count <= 0) return null;
        int block = setting.Settings.Block;
        var tvs = new List<(int StepInBlock, double Tv)>();
        double maxAbs = 0;
        var sampler = SamplerRegistry.CreateObservable(setting.Sampler, setting.Settings);
        sampler.Observer = o =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            int start = o.PromptLength + o.Block * block;
            var masked = o.State.narrow(1, start, block).eq(model.Config.MaskTokenId);
            if (!masked.any().item<bool>()) return;
            var exact = model.Logits(o.State).to_type(ScalarType.Float32).narrow(1, start, block);
            var cached = o.Logits.narrow(1, start, block);
            var tv = exact.softmax(-1).sub(cached.softmax(-1)).abs().sum(-1).mul(0.5);
            tvs.Add((o.StepInBlock, tv.masked_select(masked).mean().item<float>()));
            maxAbs = Math.Max(maxAbs, exact.sub(cached).abs().max(-1).values.masked_select(masked).max().item<float>());
        };
        for (int i = 0; i < count; i++)
        {
            using var g = BatchSampler.StepGenerator(seed, stream, 400 + i);
            sampler.Generate(model, [prompts[i % prompts.Length]], g);
        }
        if (tvs.Count == 0) return new DriftFigures(count, 0, 0, 0, 0, []);
        int longest = tvs.Max(t => t.StepInBlock) + 1;
        var byStep = Enumerable.Range(0, longest).Select(s => tvs.Where(t => t.StepInBlock == s).Select(t => t.Tv).DefaultIfEmpty(double.NaN).Average()).ToArray();
        return new DriftFigures(count, tvs.Count, tvs.Average(t => t.Tv), tvs.Max(t => t.Tv), maxAbs, byStep);
    }
}
