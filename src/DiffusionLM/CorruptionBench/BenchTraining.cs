using System.Diagnostics;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.CorruptionBench;

/// <summary>
/// The benchmark's training loop: the same for every corruption (AdamW, warm-up a tenth of the run then cosine,
/// clip 1), so that only the objective differs. Step s draws its batch and its corruption from a generator seeded by
/// (seed, s): two corruptions see the same batches.
/// </summary>
public static class BenchTraining
{
    public static (double FinalLoss, double Seconds) Run(LladaModel model, IDiffusionObjective objective, Func<Generator, TrainingBatch> draw,
        int steps, double lr, long seed, int evalEvery, Action<int> onEval, Action<int>? progress = null)
    {
        var clock = Stopwatch.StartNew();
        using var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)));
        var schedule = new LearningRateSchedule(lr, Math.Max(1, steps / 10), steps);
        double ema = double.NaN;
        double evalSeconds = 0;
        for (int step = 0; step < steps; step++)
        {
            model.train();
            using (var scope = NewDisposeScope())
            {
                using var g = BatchSampler.StepGenerator(seed, step);
                using var batch = draw(g);
                optimizer.ZeroGrad();
                var loss = objective.Loss(model, batch, g);
                double value = loss.item<float>();
                if (!double.IsFinite(value)) throw new DlmException($"bench corruption: {objective.Name} diverged at step {step} (loss {value})");
                loss.backward();
                optimizer.ClipGradients(1.0);
                optimizer.Step(schedule.At(step));
                ema = double.IsNaN(ema) ? value : 0.98 * ema + 0.02 * value;
            }
            progress?.Invoke(step + 1);
            if ((step + 1) % evalEvery == 0 || step + 1 == steps)
            {
                var e = Stopwatch.StartNew();
                model.eval();
                onEval(step + 1);
                evalSeconds += e.Elapsed.TotalSeconds;
            }
        }
        model.eval();
        return (ema, clock.Elapsed.TotalSeconds - evalSeconds);
    }

    /// <summary>
    /// The per-token bound of every held-out row under <paramref name="objective"/>'s NegativeElbo, each row repeated
    /// <paramref name="mc"/> times in one batch (antithetic times across the copies); the draws come from one generator
    /// seeded by <paramref name="seed"/>, so two models scored with the same objective see the same times and masks.
    /// </summary>
    public static double[] RowBounds(IDiffusionObjective objective, IDenoiser model, IReadOnlyList<long[]> rows, int promptLength, int mc, long seed)
    {
        using var g = BatchSampler.StepGenerator(seed, -7, 11);
        using var noGrad = no_grad();
        var result = new double[rows.Count];
        for (int r = 0; r < rows.Count; r++)
        {
            using var scope = NewDisposeScope();
            int len = rows[r].Length;
            var ids = tensor(rows[r]).unsqueeze(0).expand(mc, len).contiguous();
            Tensor? prompt = promptLength == 0 ? null
                : tensor(Enumerable.Range(0, len).Select(i => i < promptLength).ToArray()).unsqueeze(0).expand(mc, len).contiguous();
            using var batch = new TrainingBatch(ids, prompt);
            result[r] = objective.NegativeElbo(model, batch, g).to_type(ScalarType.Float64).item<double>();
        }
        return result;
    }

    /// <summary>exp of the pooled NLL per token with a 95% percentile-bootstrap interval over samples (seeded).</summary>
    public static (double Ppl, double Low, double High) Perplexity(double[] nll, long[] tokens, long seed, int resamples = 1000)
    {
        double Pooled(IEnumerable<int> idx) { double s = 0; long n = 0; foreach (var i in idx) { s += nll[i]; n += tokens[i]; } return n == 0 ? double.NaN : Math.Exp(s / n); }
        int count = nll.Length;
        double point = Pooled(Enumerable.Range(0, count));
        using var g = BatchSampler.StepGenerator(seed, -9, 13);
        var draws = randint(0, count, new long[] { resamples, count }, generator: g).data<long>().ToArray();
        var stats = Enumerable.Range(0, resamples).Select(b => Pooled(Enumerable.Range(0, count).Select(i => (int)draws[b * count + i]))).OrderBy(x => x).ToArray();
        return (point, stats[(int)(0.025 * (resamples - 1))], stats[(int)Math.Ceiling(0.975 * (resamples - 1))]);
    }

    /// <summary>Paired difference a − b over the same rows.</summary>
    public static Estimate Paired(double[] a, double[] b) => Estimate.Of(a.Zip(b, (x, y) => x - y).ToArray());

    /// <summary>
    /// Softmax distributions at positions [from, from + n) of one forward pass: [n][V] float64, the mask token's mass dropped.
    /// </summary>
    public static double[][] Distributions(IDenoiser model, long[] ids, int from, int n)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var logits = model.Logits(tensor(ids).unsqueeze(0))[0].narrow(0, from, n).to_type(ScalarType.Float64);
        var mask = model.Config.MaskTokenId;
        logits[.., mask] = double.NegativeInfinity;
        var p = nn.functional.softmax(logits, -1);
        int v = (int)p.shape[1];
        var flat = p.data<double>().ToArray();
        return Enumerable.Range(0, n).Select(i => flat.AsSpan(i * v, v).ToArray()).ToArray();
    }

    public static double Kl(double[] p, double[] q)
    {
        double s = 0;
        for (int i = 0; i < p.Length && i < q.Length; i++) if (p[i] > 0) s += p[i] * Math.Log(p[i] / Math.Max(q[i], 1e-300));
        return s;
    }
}
