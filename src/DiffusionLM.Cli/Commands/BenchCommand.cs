using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Cli.Commands;

/// <summary>
/// Throughput of the denoiser next to a plain fp32 matmul measured in the same run, so the ratio means
/// something on a shared, noisy machine.
/// </summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var repeats = new Option<int>("--repeats") { Description = "timed repetitions of each measurement (the median is reported)", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "print the figures as JSON" };
        var threads = new Option<int?>("--threads") { Description = "torch threads (default: libtorch's, one per core); the step-overhead target is stated at 1" };
        var cmd = new Command("bench", "Measure forward and training throughput (tokens/s, GFLOP/s) against a plain fp32 matmul, and a sampler step's " +
            "cost against its forward's arithmetic.") { model, repeats, json, threads };
        cmd.Subcommands.Add(BenchLladaCommand.Create());
        cmd.Subcommands.Add(BenchTeacherCommand.Create());
        cmd.Subcommands.Add(BenchQualityCommand.Create());
        cmd.Subcommands.Add(BenchGenerationCommand.Create());
        cmd.Subcommands.Add(BenchCorruptionCommand.Create());
        cmd.Subcommands.Add(BenchPeersCommand.Create());
        cmd.Subcommands.Add(BenchWaitPolicyCommand.Create());
        cmd.Subcommands.Add(BenchBatchCommand.Create());
        cmd.SetAction(r => Io.Guard(() =>
        {
            // A count of 0 repetitions measures nothing: refused, not silently raised to 1.
            int reps = r.GetValue(repeats);
            OptionRanges.Positive("--repeats", reps);
            if (r.GetValue(threads) is int t)
            {
                if (t <= 0) throw new DlmException($"--threads must be positive (got {t})");
                set_num_threads(t);
            }
            using var _ = no_grad();
            double matmul = MatmulGflops(reps);
            var (def, _tok) = Checkpoint.Load(ModelLocator.Resolve(r.GetValue(model)));
            using var __ = def;
            def.eval();
            var wide = def.Config with { DModel = 512, NHeads = 8, NKvHeads = 8, NLayers = 8, MlpHiddenSize = 1376, MaxSequenceLength = 256 };
            using var wideModel = new LladaModel(wide, new Generator(1));
            wideModel.eval();
            var rows = new List<Row>
            {
                Forward("default model forward", def, 8, def.Config.MaxSequenceLength, reps, matmul),
                Forward("width-512 forward", wideModel, 8, 256, reps, matmul),
            };
            using (enable_grad())
            {
                rows.Add(Training("default model training", def, 16, def.Config.MaxSequenceLength, reps, matmul));
                rows.Add(Training("width-512 training", wideModel, 8, 256, reps, matmul));
            }
            var step = StepOverhead.Measure(def, Math.Max(3, reps / 2), () => MatmulGflops(1));
            if (r.GetValue(json)) { Io.Out.WriteLine(JsonSerializer.Serialize(new { matmul_gflops = matmul, threads = get_num_threads(), rows, step })); return 0; }
            Io.Out.WriteLine($"fp32 matmul 2048×2048: {matmul:F1} GFLOP/s ({get_num_threads()} threads)");
            Io.Out.WriteLine($"{"measurement",-26} {"batch×len",10} {"tokens/s",10} {"GFLOP/s",8} {"÷ matmul",8}");
            foreach (var row in rows)
                Io.Out.WriteLine($"{row.name,-26} {row.batch + "×" + row.length,10} {row.tokens_per_second,10:F0} {row.gflops,8:F1} {row.ratio_to_matmul,8:F2}");
            Io.Out.WriteLine($"sampler step ({step.sampler}, batch 1, {step.prompt_tokens} + {step.gen_tokens} tokens; medians of {step.rounds} interleaved rounds): " +
                $"{1e3 * step.step_seconds:F2} ms; its bare forward {1e3 * step.forward_seconds:F2} ms (step ÷ forward {step.step_over_forward:F2}); " +
                $"its arithmetic at the rounds' best matmul rate ({step.matmul_gflops:F1} GFLOP/s) {1e3 * step.arithmetic_seconds:F2} ms (step ÷ arithmetic {step.step_over_arithmetic:F2})");
            Io.Out.WriteLine($"  the same with libtorch's attention: step {1e3 * step.libtorch_attention_step_seconds:F2} ms, forward {1e3 * step.libtorch_attention_forward_seconds:F2} ms " +
                $"(step ÷ arithmetic {step.libtorch_attention_step_over_arithmetic:F2})");
            return 0;
        }));
        return cmd;
    }

    public sealed record Row(string name, long batch, long length, double tokens_per_second, double gflops, double ratio_to_matmul);

    internal static double Median(IEnumerable<double> xs) { var s = xs.OrderBy(x => x).ToArray(); return s[s.Length / 2]; }

    internal static double Time(Action a, int reps)
    {
        a(); // warm-up: first calls allocate and pick kernels
        return Median(Enumerable.Range(0, reps).Select(_ => { var sw = Stopwatch.StartNew(); a(); return sw.Elapsed.TotalSeconds; }));
    }

    static double MatmulGflops(int reps)
    {
        using var g = new Generator(0);
        using var a = randn(2048, 2048, generator: g);
        using var b = randn(2048, 2048, generator: g);
        double s = Time(() => { using var c = matmul(a, b); }, reps);
        return 2.0 * 2048 * 2048 * 2048 / s / 1e9;
    }

    static Row Forward(string name, LladaModel m, long batch, long len, int reps, double matmul)
    {
        using var g = new Generator(1);
        using var ids = randint(0, m.Config.VocabSize, [batch, len], generator: g);
        double s = Time(() => { using var scope = NewDisposeScope(); m.Logits(ids); }, reps);
        double gf = FlopCount.Forward(m.Config, batch, len) / s / 1e9;
        return new Row(name, batch, len, batch * len / s, gf, gf / matmul);
    }

    static Row Training(string name, LladaModel m, long batch, long len, int reps, double matmul)
    {
        using var g = new Generator(2);
        using var ids = randint(0, m.Config.VocabSize, [batch, len], generator: g);
        var process = new MaskedProcess(MaskSchedule.FromName(m.Config.Schedule), m.Config.MaskTokenId);
        m.train();
        using var opt = new AdamW(m.named_parameters().Select(p => (p.name, (Tensor)p.parameter)));
        double s = Time(() =>
        {
            using var scope = NewDisposeScope();
            using var batchData = new TrainingBatch(ids.alias());
            opt.ZeroGrad();
            process.Loss(m, batchData, g).backward();
            opt.Step(1e-4);
        }, reps);
        m.eval();
        // Backward costs about twice the forward: 3× forward FLOPs per step.
        double gf = 3 * FlopCount.Forward(m.Config, batch, len) / s / 1e9;
        return new Row(name, batch, len, batch * len / s, gf, gf / matmul);
    }
}
