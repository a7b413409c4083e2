using DiffusionLM.Analysis;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Teacher;
using DiffusionLM.Text;
using DiffusionLM.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.CorruptionBench;

/// <summary>
/// The natural-text testbed: the teacher corpus (stories written by stories260K) with the teacher's tokenizer and a
/// mask token. Every corruption's model starts from the teacher's weights Dream-style (bidirectional, logits shifted),
/// so all start equal and the training budget goes into the corruption, and the teacher judges the samples.
/// </summary>
public sealed class StoryTestbed : IBenchTestbed
{
    readonly CorruptionBenchOptions _o;
    readonly LladaModel _teacher;
    readonly Llama2cTokenizer _tokenizer;
    readonly TeacherJudge _judge;
    readonly int[] _train;
    readonly List<long[]> _openings;
    readonly double[] _unigram;

    public StoryTestbed(CorruptionBenchOptions o, LladaModel teacher, Llama2cTokenizer tokenizer, IReadOnlyList<Story> stories)
    {
        _o = o; _teacher = teacher; _tokenizer = tokenizer;
        if (SeqLen > teacher.Config.MaxSequenceLength) throw new DlmException($"bench corruption: gen length {o.StoryGenLength} + <s> exceeds the teacher's context");
        _judge = new TeacherJudge(teacher, tokenizer);
        int heldCount = Math.Max(2, (int)Math.Round(stories.Count * 0.05));
        if (stories.Count - heldCount < 1) throw new DlmException($"bench corruption: the corpus has {stories.Count} stories, too few to hold some out");
        var train = new List<int>(); var held = new List<int>();
        _openings = [];
        for (int i = 0; i < stories.Count; i++)
        {
            var ids = tokenizer.Encode(stories[i].Text);
            var target = i < stories.Count - heldCount ? train : held;
            target.Add(Llama2cTokenizer.BosId); target.AddRange(ids);
            if (target == held && ids.Length >= 8 && _openings.Count < o.ProbeOpenings)
                _openings.Add(new long[] { Llama2cTokenizer.BosId }.Concat(ids.Take(8).Select(t => (long)t)).ToArray());
        }
        if (held.Count < SeqLen * 2 || train.Count < SeqLen * 2) throw new DlmException($"bench corruption: the corpus is too small ({train.Count} training, {held.Count} held-out tokens)");
        _train = train.ToArray();
        using var windows = BatchSampler.FixedWindows(held.ToArray(), SeqLen, o.HeldOut);
        var flat = windows.data<long>().ToArray();
        HeldOut = Enumerable.Range(0, (int)windows.shape[0]).Select(r => flat.AsSpan(r * SeqLen, SeqLen).ToArray()).ToList();
        var counts = new long[teacher.Config.VocabSize + 1];
        foreach (var t in _train) counts[t]++;
        UnigramCounts = counts;
        _unigram = counts.Select(c => (double)c / _train.Length).ToArray();
        ExactNll = TeacherNll(windows);
        _sampler = new BatchSampler(_train, SeqLen, o.StoryBatchSize, Llama2cTokenizer.EosId, sft: false);
    }

    readonly BatchSampler _sampler;

    public string Name => "stories";
    public string Description => $"teacher stories ({_train.Length} training tokens), stories260K tokenizer + mask, Dream-style init from the teacher";
    public int TrainSteps => _o.StorySteps;
    public int BatchSize => _o.StoryBatchSize;
    public int SeqLen => _o.StoryGenLength + 1;
    public double LearningRate => 5e-4;
    public long[] UnigramCounts { get; }
    public IReadOnlyList<long[]> HeldOut { get; }
    public int HeldOutPrompt => 1;
    public double? ExactNll { get; }
    public double[]? ExactInformationByDistance => null;

    public LladaModel NewModel() => DreamInit.FromCausal(_teacher);
    public TrainingBatch Draw(Generator g) => _sampler.Draw(g);

    /// <summary>The teacher's exact NLL per token of windows[:, 1:] given the earlier tokens: what the bounds bound.</summary>
    double TeacherNll(Tensor windows)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        long len = windows.shape[1];
        var logp = nn.functional.log_softmax(_teacher.Logits(windows.narrow(1, 0, len - 1)).to_type(ScalarType.Float64), -1);
        return -logp.gather(-1, windows.narrow(1, 1, len - 1).unsqueeze(-1)).mean().item<double>();
    }

    public List<GenCell> Generate(IDenoiser model, IReadOnlyList<int> stepCounts, Action<string>? report)
    {
        var cells = new List<GenCell>();
        foreach (var steps in stepCounts)
        {
            report?.Invoke($"generating ({steps} steps)");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var sampler = new LladaSampler(new LladaSamplerOptions(GenLength: _o.StoryGenLength, Steps: steps, BlockLength: _o.StoryGenLength,
                Temperature: 1.0, Remasking: LladaSamplerOptions.LowConfidence));
            using var g = BatchSampler.StepGenerator(_o.Seed, steps, 4);
            var prompts = Enumerable.Range(0, _o.Samples).Select(_ => new long[] { Llama2cTokenizer.BosId }).ToArray();
            var result = sampler.Generate(model, prompts, g);
            // Each completion cut at its first <s> (a story's end), re-encoded as the judge reads text.
            var encoded = result.Completions.Select(row =>
            {
                int end = Array.IndexOf(row, (long)Llama2cTokenizer.BosId);
                var text = _tokenizer.Decode((end < 0 ? row : row[..end]).Where(t => t < _teacher.Config.VocabSize).Select(t => (int)t));
                return _tokenizer.Encode(text);
            }).ToArray();
            var logp = _judge.TokenLogProbs(encoded);
            var nll = logp.Select(r => -r.Sum()).ToArray();
            var tokens = encoded.Select(e => (long)e.Length).ToArray();
            var entropy = encoded.Where(e => e.Length > 0).Select(TeacherJudge.UnigramEntropy).ToArray();
            var (ppl, lo, hi) = BenchTraining.Perplexity(nll, tokens, _o.Seed + steps);
            cells.Add(new GenCell(steps, ppl, lo, hi, Estimate.Of(entropy), prompts.Length, clock.Elapsed.TotalSeconds));
        }
        return cells;
    }

    /// <summary>
    /// The probe on story openings (&lt;s&gt; and the first 8 tokens of held-out stories) followed by N masks, against the
    /// same length of masks after &lt;s&gt; alone (the prompt information) and against the training unigram.
    /// </summary>
    public DecayCurve Decay(LladaModel model)
    {
        int n = _o.ProbeMasks, p = 9;
        int mask = model.Config.MaskTokenId;
        var reference = new long[] { Llama2cTokenizer.BosId }.Concat(Enumerable.Repeat((long)mask, p - 1 + n)).ToArray();
        var masksOnly = BenchTraining.Distributions(model, reference, p, n);
        var info = new double[n]; var klU = new double[n];
        foreach (var opening in _openings)
        {
            var q = BenchTraining.Distributions(model, opening.Concat(Enumerable.Repeat((long)mask, n)).ToArray(), p, n);
            for (int d = 0; d < n; d++)
            {
                info[d] += BenchTraining.Kl(q[d], masksOnly[d]) / _openings.Count;
                klU[d] += BenchTraining.Kl(q[d], _unigram) / _openings.Count;
            }
        }
        return new DecayCurve(info, klU);
    }

    public Estimate? BayesBound(Models.MaskedCorruption corruption, IDiffusionObjective objective) => null;
}
