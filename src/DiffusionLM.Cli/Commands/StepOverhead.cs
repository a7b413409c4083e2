using System.Diagnostics;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using static TorchSharp.torch;

namespace DiffusionLM.Cli.Commands;

/// <summary>
/// What one step of the baseline sampler costs beside what its network call must cost: a 256-token completion at one
/// token per step (LLaDA's low-confidence remasking, blocks of 32, batch 1) timed whole and divided by its steps; the
/// bare forward on a state of the same shape; and that forward's arithmetic at the matmul rate. The gap between step
/// and forward is the sampler's own work (ranking, sampling, bookkeeping); between forward and arithmetic, the small
/// matrices' distance from the peak rate.
/// <para>The machine's speed drifts by tens of percent within minutes (a shared host: the same 2048² product measured
/// 51 and 86 GFLOP/s in two runs minutes apart), so every figure is measured in rounds that interleave them: each round
/// times the matmul, the step and the forward with this project's attention, and the step and the forward with
/// libtorch's (the <see cref="NarrowHeadAttention"/> off), and the ratios are the medians of each round's. The
/// arithmetic is counted at the round's best matmul rate, the strict reading.</para>
/// </summary>
public static class StepOverhead
{
    public sealed record Figures(string sampler, int prompt_tokens, int gen_tokens, int rounds, double matmul_gflops,
        double step_seconds, double forward_seconds, double arithmetic_seconds, double step_over_forward, double step_over_arithmetic,
        double libtorch_attention_step_seconds, double libtorch_attention_forward_seconds, double libtorch_attention_step_over_arithmetic);

    public static Figures Measure(LladaModel model, int rounds, Func<double> matmulGflops)
    {
        const int promptTokens = 16, gen = 256, block = 32;
        int length = promptTokens + gen;
        if (length > model.Config.MaxSequenceLength) throw new DlmException($"the step benchmark needs a context of {length} tokens; the model has {model.Config.MaxSequenceLength}");
        var prompt = Enumerable.Range(0, promptTokens).Select(i => (long)(i % Math.Max(1, model.Config.MaskTokenId))).ToArray();
        var sampler = SamplerRegistry.Create("low_confidence", new SamplerSettings(GenLength: gen, Steps: gen, BlockLength: block, Temperature: 1.0));
        using var gi = new Generator(6);
        using var ids = randint(0, model.Config.VocabSize, [1, length], generator: gi);
        double flops = FlopCount.Forward(model.Config, 1, length);
        double Step() { var sw = Stopwatch.StartNew(); using var g = new Generator(5); sampler.Generate(model, [prompt], g); return sw.Elapsed.TotalSeconds / gen; }
        double Forward() => BenchCommand.Time(() => { using var scope = NewDisposeScope(); model.Logits(ids); }, 5);
        var r = new List<(double gflops, double step, double forward, double libStep, double libForward)>();
        Step(); // warm-up: the first run allocates and compiles
        for (int i = 0; i < rounds; i++)
        {
            double gflops = Math.Max(matmulGflops(), matmulGflops());
            double step = Step(), forward = Forward();
            double libStep, libForward;
            using (NarrowHeadAttention.SwitchedOff()) { libStep = Step(); libForward = Forward(); }
            r.Add((gflops, step, forward, libStep, libForward));
        }
        double best = r.Max(x => x.gflops);
        double Arithmetic(double gflops) => flops / (gflops * 1e9);
        return new Figures("low_confidence", promptTokens, gen, rounds, best,
            BenchCommand.Median(r.Select(x => x.step)), BenchCommand.Median(r.Select(x => x.forward)), Arithmetic(best),
            BenchCommand.Median(r.Select(x => x.step / x.forward)), BenchCommand.Median(r.Select(x => x.step / Arithmetic(x.gflops))),
            BenchCommand.Median(r.Select(x => x.libStep)), BenchCommand.Median(r.Select(x => x.libForward)),
            BenchCommand.Median(r.Select(x => x.libStep / Arithmetic(x.gflops))));
    }
}
