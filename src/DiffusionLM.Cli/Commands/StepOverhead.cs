using System.Diagnostics;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using static TorchSharp.torch;

namespace DiffusionLM.Cli.Commands;

/// <summary>
/// What one step of the baseline sampler costs beside what its network call must cost: a 256-token completion at one
/// token per step (LLaDA's low-confidence remasking, blocks of 32, batch 1) timed whole and divided by its steps; the
/// bare forward on a state of the same shape; and that forward's arithmetic at the matmul rate measured in the same run.
/// The gap between step and forward is the sampler's own work (ranking, sampling, bookkeeping); between forward and
/// arithmetic, the small matrices' distance from the peak rate.
/// </summary>
public static class StepOverhead
{
    public sealed record Figures(string sampler, int prompt_tokens, int gen_tokens, double step_seconds, double forward_seconds, double arithmetic_seconds,
        double step_over_forward, double step_over_arithmetic);

    public static Figures Measure(LladaModel model, int reps, double matmulGflops)
    {
        const int promptTokens = 16, gen = 256, block = 32;
        int length = promptTokens + gen;
        if (length > model.Config.MaxSequenceLength) throw new DlmException($"the step benchmark needs a context of {length} tokens; the model has {model.Config.MaxSequenceLength}");
        var prompt = Enumerable.Range(0, promptTokens).Select(i => (long)(i % Math.Max(1, model.Config.MaskTokenId))).ToArray();
        var sampler = SamplerRegistry.Create("low_confidence", new SamplerSettings(GenLength: gen, Steps: gen, BlockLength: block, Temperature: 1.0));
        double run = BenchCommand.Time(() =>
        {
            using var g = new Generator(5);
            sampler.Generate(model, [prompt], g);
        }, reps);
        using var gi = new Generator(6);
        using var ids = randint(0, model.Config.VocabSize, [1, length], generator: gi);
        double forward = BenchCommand.Time(() => { using var scope = NewDisposeScope(); model.Logits(ids); }, Math.Max(5, reps * 5));
        double arithmetic = FlopCount.Forward(model.Config, 1, length) / (matmulGflops * 1e9);
        double step = run / gen;
        return new Figures("low_confidence", promptTokens, gen, step, forward, arithmetic, step / forward, step / arithmetic);
    }
}
