using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Trap;

/// <summary>Quality of one sampler setting on natural text.</summary>
/// <param name="GenPpl">the judge's generative perplexity of the completions.</param>
/// <param name="DuplicateRate">fraction of adjacent token pairs that repeat a token ("brain brain").</param>
/// <param name="CommittingSteps">mean over prompts of the steps that committed something (the cost the trap study
/// counts, <see cref="TrapPoint.CommittingSteps"/>); <paramref name="TokensPerStep"/> = gen length / CommittingSteps.</param>
/// <param name="Nfe">network calls (forward calls of the denoiser) per prompt: each prompt runs alone, so this is the run's NFE.</param>
public sealed record NaturalPoint(string Sampler, string Curve, double TokensPerStep, double CommittingSteps, double Nfe, double? GenPpl, double? NllPerToken,
    double DuplicateRate, int Texts, string Example);

/// <summary>Average pointwise mutual information between masked positions at distance d.</summary>
public sealed record PmiPoint(int Distance, double MeanPmi, int Pairs);

/// <summary>
/// The marginal trap on natural text: what parallel decoding costs in judged quality (generative
/// perplexity under an autoregressive judge, adjacent duplicates), and how far the model's joint is from
/// the product of its marginals, measured directly.
/// </summary>
public static class NaturalTextStudy
{
    /// <param name="judge">the autoregressive judge; null leaves GenPpl and NllPerToken empty.</param>
    public static NaturalPoint Measure(IJudge? judge, LoadedModel loaded, TrapSetting setting, IReadOnlyList<long[]> prompts, int genLength, ulong seed)
    {
        var (model, tok) = (loaded.Model, loaded.Tokenizer);
        var sampler = SamplerRegistry.Create(setting.Sampler, setting.Settings with { GenLength = genLength });
        using var g = new Generator(seed);
        var texts = new List<string>();
        double rowSteps = 0, calls = 0;
        long pairs = 0, dups = 0;
        // One prompt at a time: prompts differ in length and each row's cost is its own.
        foreach (var prompt in prompts)
        {
            var r = sampler.Generate(model, [prompt], g);
            rowSteps += r.Trace.Count(s => s.Commits.Count > 0);
            calls += r.Nfe;
            var completion = r.Completions[0];
            int end = Array.IndexOf(completion, (long)model.Config.EosTokenId);
            var visible = end < 0 ? completion : completion[..end];
            for (int i = 1; i < visible.Length; i++) { pairs++; if (visible[i] == visible[i - 1]) dups++; }
            texts.Add(tok.Decode(visible.Select(i => (int)i)));
        }
        // Without a judge the quality columns stay empty (null in JSON); the cost and duplicates are still measured.
        var score = judge?.Score(texts);
        double committing = rowSteps / prompts.Count;
        return new NaturalPoint(setting.Sampler, setting.Curve, genLength / committing, committing, calls / prompts.Count, score?.GenPpl, score?.NllPerToken,
            pairs == 0 ? 0 : (double)dups / pairs, texts.Count, texts.FirstOrDefault() ?? "");
    }

    /// <summary>
    /// For each prompt followed by <paramref name="genLength"/> masks: the marginals p(x_j | c) from one call,
    /// then for anchor positions i, <paramref name="draws"/> tokens x_i ~ p(x_i | c), each revealed in its own row
    /// (one batched call per prompt), giving p(x_j | c, x_i) at every other masked j. The average of
    /// log p(x_j | c, x_i) − log p(x_j | c) with x_j drawn from the conditional is computed exactly over x_j:
    /// KL(p(·| c, x_i) ‖ p(· | c)), the expected PMI; it is averaged over draws and anchors by distance |i − j|.
    /// Zero would mean the model's sequential joint equals the product of its marginals.
    /// </summary>
    public static List<PmiPoint> PmiByDistance(IDenoiser model, IReadOnlyList<long[]> prompts, int genLength, int anchors, int draws, ulong seed, int maxDistance = 32)
    {
        using var g = new Generator(seed);
        var sum = new double[genLength];
        var count = new int[genLength];
        long maskId = model.Config.MaskTokenId;
        foreach (var prompt in prompts)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            int p = prompt.Length, total = p + genLength;
            var x = full(new long[] { 1, total }, maskId, dtype: ScalarType.Int64);
            x.narrow(1, 0, p).copy_(tensor(prompt).unsqueeze(0));
            var baseLog = LogProbs(model, x)[0];                                 // [L, V]
            var anchorPos = Enumerable.Range(0, anchors).Select(a => p + (int)((long)a * genLength / anchors)).ToArray();
            var rows = new List<(int Anchor, long Token)>();
            foreach (int a in anchorPos)
            {
                var tokens = Categorical.Sample(baseLog[a].exp().unsqueeze(0).expand(draws, -1), g).data<long>().ToArray();
                foreach (var t in tokens) rows.Add((a, t));
            }
            var xs = x.data<long>().ToArray();
            var flat = new long[rows.Count * total];
            for (int r = 0; r < rows.Count; r++)
            {
                xs.CopyTo(flat, r * total);
                flat[r * total + rows[r].Anchor] = rows[r].Token;
            }
            var batch = tensor(flat, new long[] { rows.Count, total });
            var condLog = LogProbs(model, batch);                                // [R, L, V]
            // KL(cond_j || base_j) per row and position.
            // Terms with zero conditional probability (the mask column) contribute 0, not 0·(−inf − −inf).
            var pc = condLog.exp();
            var term = torch.where(pc.gt(0), pc * (condLog - baseLog.unsqueeze(0)), torch.zeros_like(pc));
            var kl = term.sum(-1).data<double>().ToArray();
            for (int r = 0; r < rows.Count; r++)
                for (int j = p; j < total; j++)
                {
                    int d = Math.Abs(j - rows[r].Anchor);
                    if (d == 0 || d > maxDistance) continue;
                    sum[d] += kl[r * total + j];
                    count[d]++;
                }
        }
        return Enumerable.Range(1, genLength - 1).Where(d => count[d] > 0).Select(d => new PmiPoint(d, sum[d] / count[d], count[d])).ToList();
    }

    static Tensor LogProbs(IDenoiser model, Tensor ids)
    {
        var logits = model.Logits(ids).to_type(ScalarType.Float64);
        logits = logits.index_fill(-1, tensor(new long[] { model.Config.MaskTokenId }), double.NegativeInfinity);
        return nn.functional.log_softmax(logits, -1);
    }

    /// <summary>Prompts from a jsonl prompt set or plain lines: the first <paramref name="count"/>, tokenized, at most <paramref name="maxTokens"/> each.</summary>
    public static List<long[]> Prompts(ITokenizer tokenizer, IEnumerable<string> texts, int count, int maxTokens) =>
        texts.Where(t => !string.IsNullOrWhiteSpace(t)).Take(count)
            .Select(t => tokenizer.Encode(t).TakeLast(maxTokens).Select(i => (long)i).ToArray())
            .Where(ids => ids.Length > 0).ToList();
}
