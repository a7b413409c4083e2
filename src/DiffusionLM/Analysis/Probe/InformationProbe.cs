using System.Diagnostics;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Probe;

/// <summary>
/// The information-decay probe (the paper's Figure 2 as an instrument): every prompt is followed by N
/// mask tokens and run through the denoiser once, with no sampling; at every masked position the
/// predicted distribution is summarised (top-k, entropy, eos mass, KL from the corpus unigram, KL from
/// the prediction without the prompt).
/// </summary>
/// <remarks>
/// Prompts are batched: rows are left-padded and the padding is hidden by the attention mask, so
/// every row's masks occupy the last N columns and a row's numbers do not depend on its batch.
/// The reference for the prompt's information is one pass over N masks alone. Position i (distance
/// i + 1 from the prompt) of a prompted row is compared with mask i of that masks-only sequence: both
/// have i masks to their left within the mask run and N − 1 − i to their right, and with rotary
/// position embeddings (relative positions only) the only difference between the two is the prompt.
/// </remarks>
public sealed class InformationProbe
{
    readonly IDenoiser _model;
    readonly ITokenizer _tokenizer;
    readonly UnigramReference? _unigram;
    readonly IChatTemplate? _template;
    readonly string?[] _texts;
    const long MeasureBlockBytes = 8L << 20;

    /// <summary>Called after each batch (and each stepwise step) with (prompts done, prompts in all).</summary>
    public Action<int, int>? OnProgress { get; init; }
    /// <summary>Encode special-token strings in prompts as the special tokens (default: as text; see <see cref="PromptEncoder"/>).</summary>
    public bool AllowSpecialTokens { get; init; }

    public InformationProbe(IDenoiser model, ITokenizer tokenizer, UnigramReference? unigram, IChatTemplate? chatTemplate = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _unigram = unigram;
        _template = chatTemplate;
        var c = model.Config;
        if (c.Causal)
            throw new DlmException("the model is autoregressive (causal = true in config.json): it has no mask token to probe; the probe needs a masked diffusion model");
        if (c.MaskTokenId < 0 || c.MaskTokenId >= c.VocabSize)
            throw new DlmException($"the model has no mask token (mask_token_id = {c.MaskTokenId}, vocabulary of {c.VocabSize}); the probe appends mask tokens to the prompt");
        if (!c.Process.Absorbing)
            throw new DlmException($"the model's process is \"{c.Process}\"; the probe needs a masked (absorbing-state) model");
        if (unigram is not null && unigram.Probabilities.Length != c.VocabSize)
            throw new DlmException($"the unigram has {unigram.Probabilities.Length} tokens but the model's vocabulary has {c.VocabSize}");
        _texts = new string?[c.VocabSize];
    }

    /// <summary>The ids the model sees for a prompt: chat template, tokenizer, and (optionally) truncation from the front.</summary>
    public int[] Encode(ProbePrompt prompt, ProbeOptions options, out int truncated)
    {
        int context = _model.Config.MaxSequenceLength;
        if (options.Masks >= context)
            throw new DlmException($"--masks {options.Masks} leaves no room for a prompt in the model's context of {context} tokens (use at most {context - 1})");
        var ids = PromptEncoder.Encode(_tokenizer, prompt.Text, _template, AllowSpecialTokens, prompt.Source);
        if (ids.Length == 0) throw new DlmException($"{prompt.Source}: the prompt encodes to no tokens");
        int room = context - options.Masks;
        truncated = 0;
        if (ids.Length > room)
        {
            if (!options.TruncatePrompts)
                throw new DlmException($"{prompt.Source}: the prompt is {ids.Length} tokens; with --masks {options.Masks} that is {ids.Length + options.Masks}, " +
                    $"more than the model's context of {context}. Use fewer masks, a shorter prompt, or drop --no-truncate (keeps the last {room} tokens)");
            truncated = ids.Length - room;
            ids = ids[truncated..];
        }
        return ids;
    }

    public ProbeResult Run(IReadOnlyList<ProbePrompt> prompts, ProbeOptions options, StepwiseOptions? stepwise = null)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        options.Validate();
        stepwise?.Validate(options.Masks);
        if (prompts.Count == 0) throw new DlmException("no prompts to probe");
        var clock = Stopwatch.StartNew();
        int n = options.Masks, k = Math.Min(options.TopK, _model.Config.VocabSize);
        var encoded = prompts.Select(p => (Ids: Encode(p, options, out int cut), Cut: cut)).ToArray();

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var logq = _unigram is null ? null : tensor(_unigram.Probabilities.Select(v => Math.Log(v)).ToArray());
        var structural = tensor(UnigramReference.StructuralTokens(_tokenizer, _model.Config.VocabSize, _model.Config.EosTokenId, _unigram));
        var (masksOnly, logp0) = MasksOnly(n, k, logq);

        // Σ over prompts of p(x_i | prompt, masks): the mixture p̄ for the mutual information.
        var sumP = zeros(new long[] { n, _model.Config.VocabSize }, dtype: ScalarType.Float64);
        var results = new PromptProbe?[prompts.Count];
        // Longest first, so rows of a batch have similar lengths and little padding.
        var order = Enumerable.Range(0, prompts.Count).OrderByDescending(i => encoded[i].Ids.Length).ThenBy(i => i).ToArray();
        int done = 0;
        foreach (var batch in order.Chunk(options.BatchSize))
        {
            using var batchScope = NewDisposeScope();
            var (ids, attn, promptLen) = Batch(batch.Select(i => encoded[i].Ids).ToArray(), n);
            var logits = _model.Logits(ids, attn).narrow(1, promptLen, n);
            // The float64 measures go a few rows at a time: a [rows, N, V] float64 block of more than ~32 MB is
            // mmap-ed fresh by the allocator at every operation and page-faults; small blocks reuse memory.
            int chunk = Math.Max(1, (int)(MeasureBlockBytes / ((long)n * _model.Config.VocabSize * sizeof(double))));
            for (int r0 = 0; r0 < batch.Length; r0 += chunk)
            {
                using var chunkScope = NewDisposeScope();
                int rows = Math.Min(chunk, batch.Length - r0);
                var logp = ProbeMeasures.LogProbs(logits.narrow(0, r0, rows));
                var m = Measure(logp, logp0, logq, structural, k);
                sumP.add_(logp.exp().sum(0L));
                for (int r = 0; r < rows; r++)
                {
                    int i = batch[r0 + r];
                    results[i] = new PromptProbe
                    {
                        Prompt = prompts[i], PromptTokens = encoded[i].Ids.Length, TruncatedTokens = encoded[i].Cut,
                        Entropy = m.Entropy[r], KlUnigram = m.KlUnigram?[r], KlUnigramNoEos = m.KlNoEos?[r],
                        PromptInformation = m.PromptInfo![r], EosMass = m.Eos[r], Top1Structural = m.Structural[r], ContentMass = m.Content![r], Top = m.Top[r],
                    };
                }
            }
            done += batch.Length;
            OnProgress?.Invoke(done, prompts.Count);
        }

        var list = results.Select(r => r!).ToArray();
        var logMixture = (sumP / prompts.Count).log();
        var mixtureEntropy = ProbeMeasures.Entropy(logMixture).data<double>().ToArray();
        var mutualInformation = Enumerable.Range(0, n).Select(i => mixtureEntropy[i] - list.Average(p => p.Entropy[i])).ToArray();
        var mixtureKl = logq is null ? null : ProbeMeasures.Kl(logMixture, logq).data<double>().ToArray();
        var stepwiseResult = stepwise is null ? null : new StepwiseRunner(_model, _tokenizer, OnProgress).Run(encoded.Select(e => e.Ids).ToArray(), n, options.BatchSize, stepwise);
        return new ProbeResult
        {
            Options = options with { TopK = k }, ChatTemplate = _template?.Name, HasUnigram = _unigram is not null,
            FrequentTokens = _unigram?.Frequent.Select(TokenText).ToArray() ?? [],
            Prompts = list, MasksOnly = masksOnly, Aggregate = ProbeAggregate.Of(list, n, mutualInformation, mixtureKl), Stepwise = stepwiseResult,
            Seconds = clock.Elapsed.TotalSeconds,
        };
    }

    /// <summary>The reference pass over N masks with no prompt. Its log-probabilities stay in the caller's scope.</summary>
    (MasksOnlyProbe, Tensor) MasksOnly(int n, int k, Tensor? logq)
    {
        var ids = full(new long[] { 1, n }, (long)_model.Config.MaskTokenId, dtype: ScalarType.Int64);
        var logp0 = ProbeMeasures.LogProbs(_model.Logits(ids)).squeeze(0);
        var m = Measure(logp0.unsqueeze(0), null, logq, null, k);
        return (new MasksOnlyProbe { Entropy = m.Entropy[0], EosMass = m.Eos[0], KlUnigram = m.KlUnigram?[0], Top = m.Top[0] }, logp0);
    }

    /// <summary>Left-padded [B, P + N] ids (prompt, then N masks) and the attention mask (null when no row is padded).</summary>
    (Tensor Ids, Tensor? Mask, int PromptLength) Batch(int[][] rows, int n)
    {
        int p = rows.Max(r => r.Length), total = p + n;
        var ids = new long[rows.Length * total];
        var mask = new bool[rows.Length * total];
        var c = _model.Config;
        for (int b = 0; b < rows.Length; b++)
        {
            int pad = p - rows[b].Length;
            for (int j = 0; j < total; j++)
            {
                int at = b * total + j;
                ids[at] = j < pad ? c.PadTokenId : j < p ? rows[b][j - pad] : c.MaskTokenId;
                mask[at] = j >= pad;
            }
        }
        var shape = new long[] { rows.Length, total };
        bool ragged = rows.Any(r => r.Length != p);
        return (tensor(ids, shape), ragged ? tensor(mask, shape) : null, p);
    }

    sealed record Measured(double[][] Entropy, double[][]? KlUnigram, double[][]? KlNoEos, double[][]? PromptInfo, double[][] Eos, bool[][] Structural, double[][]? Content, TokenProbability[][][] Top);

    /// <summary>All per-position measures of a [B, N, V] block of log-probabilities, copied out as arrays.</summary>
    Measured Measure(Tensor logp, Tensor? logp0, Tensor? logq, Tensor? structural, int k)
    {
        using var scope = NewDisposeScope();
        int b = (int)logp.shape[0], n = (int)logp.shape[1];
        long eos = _model.Config.EosTokenId;
        var entropy = Rows(ProbeMeasures.Entropy(logp), b, n);
        var kl = logq is null ? null : Rows(ProbeMeasures.Kl(logp, logq), b, n);
        var klNoEos = logq is null ? null : Rows(ProbeMeasures.KlWithout(logp, logq, eos), b, n);
        var info = logp0 is null ? null : Rows(ProbeMeasures.Kl(logp, logp0.unsqueeze(0)), b, n);
        var eosMass = Rows(logp.select(-1, eos).exp(), b, n);
        // The probability of the tokens that are not structural: content in distribution, not only in the argmax
        // (a small model's top-1 is a newline whenever its guess at the next word is spread over many words).
        var content = structural is null ? null : Rows(logp.exp().masked_fill(structural, 0.0).sum(-1), b, n);
        var (values, indices) = logp.topk(k, dim: -1);
        var probs = values.exp().data<double>().ToArray();
        var idx = indices.data<long>().ToArray();
        var top1Structural = structural is null ? null : structural.index_select(0, indices.select(-1, 0).flatten()).data<bool>().ToArray();
        var top = new TokenProbability[b][][];
        var str = new bool[b][];
        for (int r = 0; r < b; r++)
        {
            top[r] = new TokenProbability[n][];
            str[r] = new bool[n];
            for (int i = 0; i < n; i++)
            {
                top[r][i] = new TokenProbability[k];
                for (int j = 0; j < k; j++)
                {
                    int at = (r * n + i) * k + j;
                    top[r][i][j] = new TokenProbability((int)idx[at], TokenText((int)idx[at]), probs[at]);
                }
                str[r][i] = top1Structural?[r * n + i] ?? false;
            }
        }
        return new Measured(entropy, kl, klNoEos, info, eosMass, str, content, top);
    }

    static double[][] Rows(Tensor t, int b, int n)
    {
        var flat = t.contiguous().data<double>().ToArray();
        return Enumerable.Range(0, b).Select(r => flat.AsSpan(r * n, n).ToArray()).ToArray();
    }

    string TokenText(int id) => _texts[id] ??= id < _tokenizer.VocabSize ? _tokenizer.TokenText(id) : $"<id {id}>";
}
