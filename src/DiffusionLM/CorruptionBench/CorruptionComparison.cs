using DiffusionLM.Corruption;
using DiffusionLM.Corruption.Masking;
using DiffusionLM.Models;

namespace DiffusionLM.CorruptionBench;

/// <summary>
/// Trains one model per corruption on a testbed at equal compute (same model, steps, batch, learning rate and
/// batches) and measures each: the uniform masked ELBO on held-out rows (a bound for any denoiser, so every model is
/// scored on it), its own ELBO where its loss is one, the bounds along training, samples judged at several step counts,
/// the probe's decay curves and, on the HMM, the Bayes-optimal bound of the corruption.
/// </summary>
public sealed class CorruptionComparison(IBenchTestbed bed, CorruptionBenchOptions options, IReadOnlyList<int> sampling)
{
    public Action<string, double, double>? OnProgress { get; init; }

    const int CurveRows = 64;

    public TestbedResult Run()
    {
        var runs = new List<CorruptionRun>();
        var curveRows = bed.HeldOut.Take(CurveRows).ToList();
        double[]? uniformRows = null, uniformBest = null;
        double? uniformFinalCurve = null;
        long parameters = 0;
        foreach (var name in options.Corruptions.Select(MaskedCorruption.Parse).OrderBy(c => c == MaskedCorruption.Uniform ? 0 : 1))
        {
            using var model = bed.NewModel();
            parameters = model.parameters().Sum(p => p.numel());
            var config = model.Config with { Corruption = name == MaskedCorruption.Uniform ? null : name };
            var objective = DiffusionProcesses.Objective(config, model, bed.UnigramCounts);
            var scorer = new MaskedProcess(new LinearMaskSchedule(), config.MaskTokenId);
            bool bound = name.IsBound;
            var curve = new List<CurvePoint>();
            int evalEvery = Math.Max(1, bed.TrainSteps / options.CurvePoints);
            var (loss, seconds) = BenchTraining.Run(model, objective, bed.Draw, bed.TrainSteps, bed.LearningRate, options.Seed, evalEvery,
                step =>
                {
                    OnProgress?.Invoke($"{bed.Name} {name}: bound at step {step}", step, bed.TrainSteps);
                    double u = BenchTraining.RowBounds(scorer, model, curveRows, bed.HeldOutPrompt, options.Mc, options.Seed).Average();
                    double? own = bound && name != MaskedCorruption.Uniform
                        ? BenchTraining.RowBounds(objective, model, curveRows, bed.HeldOutPrompt, options.Mc, options.Seed).Average() : null;
                    curve.Add(new CurvePoint(step, u, own));
                },
                step => { if (step % 10 == 0) OnProgress?.Invoke($"{bed.Name} {name}: training", step, bed.TrainSteps); });

            OnProgress?.Invoke($"{bed.Name} {name}: held-out bounds", 0, 1);
            var rows = BenchTraining.RowBounds(scorer, model, bed.HeldOut, bed.HeldOutPrompt, options.Mc, options.Seed);
            double[]? ownRows = bound && name != MaskedCorruption.Uniform
                ? BenchTraining.RowBounds(objective, model, bed.HeldOut, bed.HeldOutPrompt, options.Mc, options.Seed) : null;
            var best = ownRows ?? rows;
            // A token-dependent corruption's model predicts the posterior that includes the mask evidence; its samples are
            // drawn from the clean conditional (the evidence removed), and from the raw logits too, to show what that changes.
            List<GenCell>? raw = null;
            IDenoiser sampled = model;
            if (objective is ITokenDependentMasking tokenDependent)
            {
                sampled = new MaskEvidenceRemoval(model, tokenDependent, bed.UnigramCounts.Select(c => (double)c).ToArray());
                raw = bed.Generate(model, sampling, s => OnProgress?.Invoke($"{bed.Name} {name} (raw posterior): {s}", 0, 1));
            }
            var gen = bed.Generate(sampled, sampling, s => OnProgress?.Invoke($"{bed.Name} {name}: {s}", 0, 1));
            var decay = bed.Decay(model);
            var bayes = bed.BayesBound(name, objective);
            if (name == MaskedCorruption.Uniform)
            {
                uniformRows = rows; uniformBest = best;
                uniformFinalCurve = curve[^1].uniform_bound;
            }
            double Best(CurvePoint p) => p.own_bound ?? p.uniform_bound;
            int? reach = curve.FirstOrDefault(p => Best(p) <= uniformFinalCurve!.Value)?.step;
            var run = new CorruptionRun(name.Spelling, bound, loss, seconds, Estimate.Of(rows), ownRows is null ? null : Estimate.Of(ownRows),
                BenchTraining.Paired(rows, uniformRows!), BenchTraining.Paired(best, uniformBest!), reach, curve, gen, decay, bayes, raw);
            runs.Add(run);
        }
        return new TestbedResult(bed.Name, bed.Description, bed.TrainSteps, bed.BatchSize, bed.SeqLen, parameters, bed.ExactNll, runs, bed.ExactInformationByDistance);
    }
}
