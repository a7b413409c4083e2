using DiffusionLM.Models;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis;

/// <summary>
/// A judge backed by a causal model of exact likelihood (the stories260K teacher): every text is
/// tokenized with the judge's tokenizer and scored as &lt;s&gt; followed by its tokens.
/// <para>
/// Counted: the log-probability of every token of the text given &lt;s&gt; and the tokens before it,
/// the first token included (p(t₁ | &lt;s&gt;)). Not counted: &lt;s&gt; itself (given) and any end marker
/// (a text is scored as a prefix; the teacher's own end of story, a new &lt;s&gt;, is not added).
/// </para>
/// <para>
/// entropy = the unigram entropy (nats) of each text's own tokens, averaged over texts: a text that
/// repeats a few tokens scores low even when the judge likes it.
/// </para>
/// </summary>
public sealed class TeacherJudge : IJudge
{
    readonly IDenoiser _model;
    readonly ITokenizer _tokenizer;
    readonly int _batchSize;

    public TeacherJudge(IDenoiser model, ITokenizer tokenizer, int batchSize = 32)
    {
        if (!model.Config.Causal) throw new DlmException("a judge must be a causal (autoregressive) model: its likelihood is exact only then");
        if (model.Config.BosTokenId < 0 || model.Config.BosTokenId >= model.Config.VocabSize)
            throw new DlmException($"the judge's bos_token_id {model.Config.BosTokenId} is outside its vocabulary");
        _model = model; _tokenizer = tokenizer; _batchSize = Math.Max(1, batchSize);
    }

    public ITokenizer Tokenizer => _tokenizer;
    int Context => _model.Config.MaxSequenceLength;

    public JudgeScore Score(IReadOnlyList<string> texts)
    {
        var encoded = texts.Select(t => _tokenizer.Encode(t)).ToArray();
        for (int i = 0; i < encoded.Length; i++)
            if (encoded[i].Length + 1 > Context)
                throw new DlmException($"text {i} is {encoded[i].Length} tokens under the judge's tokenizer; with <s> that exceeds the judge's context of {Context}");
        var logProbs = TokenLogProbs(encoded);
        double nll = -logProbs.Sum(r => r.Sum());
        long tokens = encoded.Sum(e => (long)e.Length);
        var entropies = encoded.Where(e => e.Length > 0).Select(UnigramEntropy).ToArray();
        double nllPerToken = tokens == 0 ? double.NaN : nll / tokens;
        return new JudgeScore(Math.Exp(nllPerToken), nllPerToken, entropies.Length == 0 ? double.NaN : entropies.Average(), tokens);
    }

    /// <summary>Entropy (nats) of the empirical distribution of the ids in one text.</summary>
    public static double UnigramEntropy(int[] ids)
    {
        if (ids.Length == 0) return double.NaN;
        return ids.GroupBy(i => i).Select(grp => (double)grp.Count() / ids.Length).Sum(p => -p * Math.Log(p));
    }

    /// <summary>
    /// log p(ids[j] | &lt;s&gt;, ids[&lt;j]) for every text and position, in batches of equal-length-ish rows.
    /// Rows are right-padded: in a causal model padding after a position cannot change its prediction.
    /// </summary>
    public double[][] TokenLogProbs(IReadOnlyList<int[]> texts)
    {
        var result = new double[texts.Count][];
        var order = Enumerable.Range(0, texts.Count).OrderByDescending(i => texts[i].Length).ToArray();
        int bos = _model.Config.BosTokenId;
        for (int start = 0; start < order.Length; start += _batchSize)
        {
            var rows = order.Skip(start).Take(_batchSize).ToArray();
            int len = texts[rows[0]].Length;
            if (len == 0) { foreach (var r in rows) result[r] = []; continue; }
            var input = new long[rows.Length, len + 1];
            for (int b = 0; b < rows.Length; b++)
            {
                input[b, 0] = bos;
                var t = texts[rows[b]];
                for (int j = 0; j < t.Length; j++) input[b, j + 1] = t[j];
            }
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var x = tensor(input);
            var logp = nn.functional.log_softmax(_model.Logits(x.narrow(1, 0, len)).to_type(ScalarType.Float64), -1);
            var picked = logp.gather(-1, x.narrow(1, 1, len).unsqueeze(-1)).squeeze(-1).data<double>().ToArray();
            for (int b = 0; b < rows.Length; b++)
                result[rows[b]] = picked.AsSpan(b * len, texts[rows[b]].Length).ToArray();
        }
        return result;
    }

    /// <summary>
    /// The same quantity computed one position at a time: for each j the prefix &lt;s&gt;, ids[&lt;j] alone goes
    /// through the model and the last position's distribution is read. Slow; it is the check of the batched path.
    /// </summary>
    public double[] TokenLogProbsOneByOne(int[] ids)
    {
        var lp = new double[ids.Length];
        for (int j = 0; j < ids.Length; j++)
        {
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var prefix = new long[j + 1];
            prefix[0] = _model.Config.BosTokenId;
            for (int k = 0; k < j; k++) prefix[k + 1] = ids[k];
            var logits = _model.Logits(tensor(prefix).unsqueeze(0))[0, j].to_type(ScalarType.Float64);
            lp[j] = nn.functional.log_softmax(logits, 0)[ids[j]].item<double>();
        }
        return lp;
    }
}
