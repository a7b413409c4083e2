using System.Diagnostics;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using DiffusionLM.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Quality;

/// <summary>
/// `dlm bench quality`: what a model writes after story openings, judged by the teacher (stories260K, exact
/// likelihood). Each cell is <see cref="QualityOptions.Samples"/> continuations of GenLength tokens by LLaDA's
/// sampler (temperature 1; one block unless --block-length) at a step count and remasking; the judge scores the continuation
/// given &lt;s&gt; + the opening, cut at the first end of story (&lt;s&gt;, as the teacher's corpus cuts). The
/// teacher's own continuations of the same openings are the floor. A model in the judge's tokenizer is
/// scored on exactly the ids it wrote; any other model's text is re-tokenized by the judge.
/// </summary>
public sealed class QualityBenchmark(LladaModel judgeModel, Llama2cTokenizer judgeTokenizer, QualityOptions options)
{
    /// <summary>Generator stream of the teacher floor's coins; the diffusion cells use streams from 100.</summary>
    const long FloorStream = 41, ElboStream = 43;
    readonly TeacherJudge _judge = new(judgeModel, judgeTokenizer);
    int Bos => judgeModel.Config.BosTokenId;

    public Action<string, int, int>? OnProgress { get; init; }

    /// <summary>True when the model's tokenizer is the judge's (ids mean the same; a mask may be appended).</summary>
    public bool SharesJudgeTokenizer(ITokenizer tokenizer) =>
        tokenizer is Llama2cTokenizer l && l.PieceCount == judgeTokenizer.PieceCount
        && Enumerable.Range(0, l.PieceCount).All(i => l.Pieces[i].AsSpan().SequenceEqual(judgeTokenizer.Pieces[i]));

    int[][] JudgeOpenings(IReadOnlyList<string> openings) => openings.Select(o => judgeTokenizer.Encode(o)).ToArray();

    /// <summary>The teacher continuing every opening autoregressively at the same temperature: the floor.</summary>
    public QualityCell TeacherFloor(IReadOnlyList<string> openings)
    {
        var o = options;
        var clock = Stopwatch.StartNew();
        var jo = JudgeOpenings(openings);
        var sampler = new AutoregressiveSampler(new AutoregressiveOptions(o.GenLength, o.Temperature, StopToken: Bos, RecordTrace: false));
        var continuations = new int[o.Samples][];
        // The causal sampler takes equal-length prompts only: batch the samples by opening length. Sample i's
        // coins come from (seed, i) alone, so the floor does not depend on the batch size.
        var groups = Enumerable.Range(0, o.Samples).GroupBy(i => jo[i % jo.Length].Length);
        int done = 0;
        foreach (var group in groups)
            foreach (var chunk in group.Chunk(o.BatchSize))
            {
                using var scope = NewDisposeScope();
                var prompt = tensor(chunk.SelectMany(i => jo[i % jo.Length].Prepend(Bos).Select(t => (long)t)).ToArray(),
                    new long[] { chunk.Length, jo[chunk[0] % jo.Length].Length + 1 });
                // Greedy (temperature 0) draws no coins.
                var coins = o.Temperature > 0 ? stack(chunk.Select(i =>
                {
                    using var g = BatchSampler.StepGenerator(o.Seed, i, FloorStream);
                    return rand(new long[] { o.GenLength }, dtype: ScalarType.Float64, generator: g);
                }).ToArray()) : null;
                var result = sampler.GenerateWithCoins(judgeModel, prompt, coins);
                for (int b = 0; b < chunk.Length; b++) continuations[chunk[b]] = CutAtStoryEnd(result.Completions[b], Bos, -1);
                done += chunk.Length;
                OnProgress?.Invoke("teacher floor", done, o.Samples);
            }
        return Score("teacher (autoregressive)", 0, openings, continuations, 1.0 * o.GenLength, clock.Elapsed.TotalSeconds);
    }

    /// <summary>One model: its held-out ELBO and a cell per (remasking, steps).</summary>
    public QualityModel Measure(string name, string folder, IDenoiser model, ITokenizer tokenizer, IReadOnlyList<string> openings, IReadOnlyList<string> heldOut)
    {
        var o = options;
        var prompts = PromptsFor(folder, model, tokenizer, openings, o.GenLength);
        bool same = SharesJudgeTokenizer(tokenizer);
        var held = o.ElboStories > 0 ? HeldOutElbo(model, tokenizer, same, heldOut) : null;
        var cells = new List<QualityCell>();
        // The ELBO scores the model as trained; samples are drawn from its clean conditional (MaskEvidenceRemoval).
        var sampled = Corruption.Masking.MaskEvidenceRemoval.ForSampling(model, folder);
        for (int ri = 0; ri < o.Remaskings.Length; ri++)
            foreach (var steps in o.Steps)
            {
                var clock = Stopwatch.StartNew();
                var sampler = new LladaSampler(new LladaSamplerOptions(GenLength: o.GenLength, Steps: steps, BlockLength: o.Block,
                    Temperature: o.Temperature, Remasking: o.Remaskings[ri]));
                var continuations = new int[o.Samples][];
                double nfe = 0; int batches = 0;
                for (int start = 0; start < o.Samples; start += o.BatchSize, batches++)
                {
                    int n = Math.Min(o.BatchSize, o.Samples - start);
                    using var g = BatchSampler.StepGenerator(o.Seed, steps * 16 + ri, 100 + batches);
                    var rows = Enumerable.Range(start, n).Select(i => prompts[i % prompts.Length]).ToArray();
                    var result = sampler.Generate(sampled, rows, g);
                    nfe += result.Nfe;
                    for (int b = 0; b < n; b++) continuations[start + b] = JudgeIds(result.Completions[b], model, tokenizer, same);
                    OnProgress?.Invoke($"{name}: {o.Remaskings[ri]}, {steps} steps", start + n, o.Samples);
                }
                cells.Add(Score(o.Remaskings[ri], steps, openings, continuations, nfe / batches, clock.Elapsed.TotalSeconds));
            }
        return new QualityModel(name, folder, (model as LladaModel)?.ParameterCount() ?? 0, same, held, cells);
    }

    /// <summary>
    /// Each opening as the model's prompt: &lt;s&gt; + the judge's ids when the model shares the judge's tokenizer (it is
    /// scored on exactly the ids it wrote), else the opening in the model's own tokenizer. Checks the model can continue
    /// every opening by <paramref name="genLength"/> tokens within its context.
    /// </summary>
    public long[][] PromptsFor(string folder, IDenoiser model, ITokenizer tokenizer, IReadOnlyList<string> openings, int genLength)
    {
        if (model.Config.Causal) throw new DlmException($"{folder}: this benchmark measures diffusion models; this one is causal");
        if (model.Config.MaskTokenId < 0) throw new DlmException($"{folder}: the model has no mask token");
        bool same = SharesJudgeTokenizer(tokenizer);
        var jo = JudgeOpenings(openings);
        var prompts = openings.Select((text, i) => same
            ? jo[i].Prepend(Bos).Select(t => (long)t).ToArray()
            : tokenizer.Encode(text).Select(t => (long)t).ToArray()).ToArray();
        if (prompts.Any(p => p.Length == 0)) throw new DlmException("an opening encodes to no tokens");
        int longest = prompts.Max(p => p.Length);
        if (longest + genLength > model.Config.MaxSequenceLength)
            throw new DlmException($"{folder}: an opening of {longest} tokens + {genLength} generated exceeds the model's context ({model.Config.MaxSequenceLength})");
        return prompts;
    }

    /// <summary>A completion as the judge scores it: cut at its first end of story, in the judge's ids.</summary>
    public int[] JudgeIds(long[] completion, IDenoiser model, ITokenizer tokenizer, bool sharesJudgeTokenizer)
    {
        var ids = CutAtStoryEnd(completion, model.Config.BosTokenId, model.Config.EosTokenId);
        // A sampler at temperature 1 can draw the mask token itself (rarely: the model gives it little mass); it is not
        // text, and the judge has no row for it, so it is scored as the judge's <unk>, a token it never saw written.
        if (sharesJudgeTokenizer)
            return ids.Select(id => id < judgeModel.Config.VocabSize ? id : Llama2cTokenizer.UnkId).ToArray();
        return judgeTokenizer.Encode(tokenizer.Decode(ids));
    }

    /// <summary>
    /// The judge's exact NLL of whole held-out stories (given &lt;s&gt;), per token and per character; null when
    /// --elbo-stories is 0 (skipped): a ratio over no tokens would be NaN, which JSON cannot hold.
    /// </summary>
    public HeldOut? TeacherHeldOut(IReadOnlyList<string> stories)
    {
        var ids = stories.Take(options.ElboStories).Select(s => FitJudge(judgeTokenizer.Encode(s))).ToArray();
        long tokens = ids.Sum(r => (long)r.Length);
        if (tokens == 0) return null;
        var logp = _judge.TokenLogProbs(ids);
        double nll = -logp.Sum(r => r.Sum());
        long chars = stories.Take(options.ElboStories).Zip(ids).Sum(p => (long)CharsOf(p.First, p.Second.Length));
        return new HeldOut(nll / tokens, 0, nll / chars, tokens, chars, exact: true);
    }

    HeldOut? HeldOutElbo(IDenoiser model, ITokenizer tokenizer, bool same, IReadOnlyList<string> stories)
    {
        using var g = BatchSampler.StepGenerator(options.Seed, -1, ElboStream);
        int context = model.Config.MaxSequenceLength;
        double total = 0; long tokens = 0, chars = 0;
        var perStory = new List<(double Nll, int Tokens)>();
        var picked = stories.Take(options.ElboStories).ToArray();
        for (int s = 0; s < picked.Length; s++)
        {
            int[] ids = same ? FitJudge(judgeTokenizer.Encode(picked[s])) : tokenizer.Encode(picked[s]);
            long[] prompt = same ? [Bos] : [];
            var answer = ids.Take(context - prompt.Length).Select(t => (long)t).ToArray();
            if (answer.Length == 0) continue;
            var est = MaskedElbo.Estimate(model, prompt, answer, options.ElboMc, Math.Min(options.ElboMc, 16), g);
            total += est.Nll; tokens += est.Tokens;
            perStory.Add((est.Nll, est.Tokens));
            chars += CharsOf(picked[s], answer.Length, ids.Length);
            OnProgress?.Invoke("held-out ELBO", s + 1, picked.Length);
        }
        // Over stories (it holds the Monte-Carlo noise of each story's estimate too): one Monte-Carlo batch per
        // story has no standard error of its own.
        if (tokens == 0) return null;
        double ratio = total / tokens;
        double se = Intervals.RatioStandardError(perStory.Select(p => p.Nll).ToArray(), perStory.Select(p => p.Tokens).ToArray());
        return new HeldOut(ratio, double.IsFinite(se) ? se : 0, total / chars, tokens, chars, exact: false);
    }

    /// <summary>A story in the judge's context with its &lt;s&gt;.</summary>
    int[] FitJudge(int[] ids) => ids.Length + 1 > judgeModel.Config.MaxSequenceLength ? ids[..(judgeModel.Config.MaxSequenceLength - 1)] : ids;

    /// <summary>Characters of a story covered by its first <paramref name="kept"/> of <paramref name="all"/> tokens (proportionally when cut).</summary>
    static int CharsOf(string story, int kept, int? all = null) =>
        all is int a && a > kept ? (int)Math.Round(story.Length * (double)kept / a) : story.Length;

    /// <summary>The continuation up to (not including) its first end of story: &lt;s&gt; (the teacher's delimiter) or eos.</summary>
    public static int[] CutAtStoryEnd(long[] row, int bos, int eos)
    {
        int end = Array.FindIndex(row, t => t == bos || t == eos);
        return (end < 0 ? row : row[..end]).Select(t => (int)t).ToArray();
    }

    /// <summary>
    /// A cell: continuation i (judge ids) scored given &lt;s&gt; + opening i mod the number of openings; gen-PPL with its
    /// seeded bootstrap interval over samples, and the mean unigram entropy of the continuations.
    /// </summary>
    public QualityCell Score(string sampler, int steps, IReadOnlyList<string> openings, int[][] continuations, double nfe, double seconds)
    {
        var o = options;
        var jo = JudgeOpenings(openings);
        var joint = continuations.Select((c, i) => FitJudge(jo[i % jo.Length].Concat(c).ToArray())).ToArray();
        var logp = _judge.TokenLogProbs(joint);
        var nll = new double[continuations.Length];
        var count = new int[continuations.Length];
        for (int i = 0; i < continuations.Length; i++)
        {
            int p = jo[i % jo.Length].Length;
            count[i] = joint[i].Length - p;
            for (int j = p; j < joint[i].Length; j++) nll[i] -= logp[i][j];
        }
        var entropies = continuations.Where(c => c.Length > 0).Select(c => TeacherJudge.UnigramEntropy(c)).ToArray();
        return new QualityCell(sampler, steps, Intervals.RatioBootstrap(nll, count, o.Seed), Intervals.Mean(entropies),
            count.Sum(c => (long)c), continuations.Length, count.Average(), nfe, seconds);
    }
}
