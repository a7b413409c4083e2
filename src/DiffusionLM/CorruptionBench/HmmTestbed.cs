using DiffusionLM.Analysis.Hmm;
using DiffusionLM.Corruption;
using DiffusionLM.Corruption.Masking;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.CorruptionBench;

/// <summary>
/// The exact testbed: sequences of a seeded random HMM (symbols 0..V−1, the mask V). Training batches are fresh draws
/// (step s from generator (seed, s)), so no model overfits; the held-out rows are drawn once from another stream. The
/// judge of generations is the HMM itself: the exact NLL of a continuation given its prompt.
/// </summary>
public sealed class HmmTestbed : IBenchTestbed
{
    readonly CorruptionBenchOptions _o;
    readonly HiddenMarkovModel _hmm;
    readonly double[][] _exactPosteriors, _marginals;

    public HmmTestbed(CorruptionBenchOptions o)
    {
        _o = o;
        _hmm = HiddenMarkovModel.Random(o.HmmStates, o.HmmVocab, o.Seed + 1000);
        using var g = BatchSampler.StepGenerator(o.Seed, -1, 21);
        var held = _hmm.Sample(o.HeldOut, o.HmmLength, g);
        HeldOut = Enumerable.Range(0, o.HeldOut).Select(r => Enumerable.Range(0, o.HmmLength).Select(i => held[r, i]).ToArray()).ToList();
        using var gc = BatchSampler.StepGenerator(o.Seed, -1, 22);
        var counts = new long[o.HmmVocab + 1];
        foreach (var v in _hmm.Sample(2000, o.HmmLength, gc)) counts[v]++;
        UnigramCounts = counts;
        ExactNll = HeldOut.Average(x => -_hmm.LogProbability(x)) / o.HmmLength;
        _marginals = _hmm.Marginals(o.HmmLength);
        int p = o.HmmPrompt;
        var visible = Enumerable.Range(0, o.HmmLength).Select(i => i < p).ToArray();
        var openings = HeldOut.Take(o.ProbeOpenings).ToList();
        _exactPosteriors = [];
        var info = new double[o.HmmLength - p];
        foreach (var row in openings)
        {
            var post = _hmm.TokenPosteriors(row, visible);
            for (int d = 0; d < info.Length; d++) info[d] += BenchTraining.Kl(post[p + d], _marginals[p + d]) / openings.Count;
        }
        ExactInformationByDistance = info;
    }

    public string Name => "hmm";
    public string Description => $"random HMM, {_o.HmmStates} states, {_o.HmmVocab} symbols, sequences of {_o.HmmLength} (seed {_o.Seed + 1000})";
    public int TrainSteps => _o.HmmSteps;
    public int BatchSize => _o.BatchSize;
    public int SeqLen => _o.HmmLength;
    public double LearningRate => 2e-3;
    public long[] UnigramCounts { get; }
    public IReadOnlyList<long[]> HeldOut { get; }
    public int HeldOutPrompt => 0;
    public double? ExactNll { get; }
    public double[]? ExactInformationByDistance { get; }

    public LladaModel NewModel() => new(new ModelConfig
    {
        DModel = 64, NLayers = 3, NHeads = 4, NKvHeads = 2, MlpHiddenSize = 176, VocabSize = _o.HmmVocab + 1,
        MaxSequenceLength = _o.HmmLength, MaskTokenId = _o.HmmVocab, EosTokenId = 0, PadTokenId = 0, BosTokenId = 0,
    }, BatchSampler.StepGenerator(_o.Seed, -1, 1));

    public TrainingBatch Draw(Generator g)
    {
        var x = _hmm.Sample(_o.BatchSize, _o.HmmLength, g);
        return new TrainingBatch(tensor(x));
    }

    public List<GenCell> Generate(IDenoiser model, IReadOnlyList<int> stepCounts, Action<string>? report)
    {
        int p = _o.HmmPrompt, gen = _o.HmmLength - p;
        var cells = new List<GenCell>();
        foreach (var steps in stepCounts)
        {
            report?.Invoke($"generating ({steps} steps)");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var prompts = Enumerable.Range(0, _o.Samples).Select(i => HeldOut[i % HeldOut.Count][..p]).ToArray();
            var sampler = new LladaSampler(new LladaSamplerOptions(GenLength: gen, Steps: steps, BlockLength: gen, Temperature: 1.0, Remasking: LladaSamplerOptions.LowConfidence));
            using var g = BatchSampler.StepGenerator(_o.Seed, steps, 4);
            var result = sampler.Generate(model, prompts, g);
            var nll = new double[prompts.Length];
            var tokens = new long[prompts.Length];
            var entropy = new double[prompts.Length];
            for (int i = 0; i < prompts.Length; i++)
            {
                // A generated mask id is not a symbol: scored at probability 1e-6 (it does not happen with a trained model).
                var c = result.Completions[i];
                int invalid = c.Count(v => v >= _o.HmmVocab);
                var full = prompts[i].Concat(c.Select(v => v >= _o.HmmVocab ? 0L : v)).ToArray();
                nll[i] = -(_hmm.LogProbability(full) - _hmm.LogProbability(prompts[i])) + invalid * Math.Log(1e6);
                tokens[i] = gen;
                entropy[i] = Analysis.TeacherJudge.UnigramEntropy(c.Select(v => (int)v).ToArray());
            }
            var (ppl, lo, hi) = BenchTraining.Perplexity(nll, tokens, _o.Seed + steps);
            cells.Add(new GenCell(steps, ppl, lo, hi, Estimate.Of(entropy), prompts.Length, clock.Elapsed.TotalSeconds));
        }
        return cells;
    }

    public DecayCurve Decay(LladaModel model)
    {
        int p = _o.HmmPrompt, n = _o.HmmLength - p;
        var unigram = Normalised(UnigramCounts);
        var masksOnly = BenchTraining.Distributions(model, Enumerable.Repeat((long)_o.HmmVocab, _o.HmmLength).ToArray(), p, n);
        var info = new double[n]; var klU = new double[n]; var klExact = new double[n];
        var openings = HeldOut.Take(_o.ProbeOpenings).ToList();
        var visible = Enumerable.Range(0, _o.HmmLength).Select(i => i < p).ToArray();
        foreach (var row in openings)
        {
            var ids = row.Select((v, i) => i < p ? v : _o.HmmVocab).ToArray();
            var q = BenchTraining.Distributions(model, ids, p, n);
            var exact = _hmm.TokenPosteriors(row, visible);
            for (int d = 0; d < n; d++)
            {
                info[d] += BenchTraining.Kl(q[d], masksOnly[d]) / openings.Count;
                klU[d] += BenchTraining.Kl(q[d], unigram) / openings.Count;
                klExact[d] += BenchTraining.Kl(exact[p + d], q[d]) / openings.Count;
            }
        }
        return new DecayCurve(info, klU, klExact);
    }

    static double[] Normalised(long[] counts)
    {
        double total = counts.Sum();
        return counts.Select(c => c / total).ToArray();
    }

    public Estimate? BayesBound(MaskedCorruption corruption, IDiffusionObjective objective)
    {
        if (!corruption.IsBound) return null;
        Func<double, double[]>? rates = objective is InformationMasking info
            ? t => info.Exponents.Take(_o.HmmVocab).Select(l => Math.Pow(t, l)).ToArray() : null;
        var oracle = new HmmOracle(_hmm, _o.HmmLength, rates);
        var rows = HeldOut.Take(64).ToList();
        var bounds = BenchTraining.RowBounds(objective, oracle, rows, 0, Math.Max(64, _o.Mc * 4), _o.Seed + 5);
        return Estimate.Of(bounds);
    }
}
