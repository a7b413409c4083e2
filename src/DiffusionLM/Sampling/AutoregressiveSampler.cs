using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.AutoregressiveOptions>;

namespace DiffusionLM.Sampling;

/// <param name="GenLength">tokens to generate after the prompt (llama2.c's -n counts them the same way from &lt;s&gt;).</param>
/// <param name="Temperature">0: argmax (first maximum on ties, as run.c). Otherwise one uniform "coin" per
/// row and step picks from softmax(logits / T) by inverse CDF, as run.c's sample_mult (no top-p).</param>
/// <param name="StopToken">a row that produces this id stops; the rest of it is filled with the id.
/// run.c stops at &lt;s&gt; (1), the story delimiter of llama2.c's training data. Null: never stop.</param>
/// <param name="UseCache">incremental decoding with the denoiser's key/value cache (<see cref="IDenoiser.SupportsIncrementalDecoding"/>);
/// false recomputes the whole prefix at every step (the reference the cache is checked against).</param>
/// <param name="RecordTrace">keep every step's tokens and probabilities in the result's trace.</param>
public sealed record AutoregressiveOptions(int GenLength = 128, double Temperature = 0.0, int? StopToken = null, bool UseCache = true, bool RecordTrace = true) : ISamplerOptions
{
    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.Temperature(o => o.Temperature, (o, v) => o with { Temperature = v }),
    ];

    public void Validate()
    {
        if (GenLength <= 0) throw new DlmException($"autoregressive sampler: gen length must be positive (got {GenLength})");
        if (!double.IsFinite(Temperature) || Temperature < 0)
            throw new DlmException($"autoregressive sampler: temperature must be a finite number >= 0 (got {Temperature})");
    }
}

/// <summary>
/// Left-to-right decoding of a causal model, batched, one token per row per forward call, with a
/// key/value cache. Randomness: every row draws its coins from the generator up front ([B, G] float64),
/// or the caller passes them (<see cref="GenerateWithCoins"/>), e.g. one generator per story so that a
/// corpus does not depend on how stories were batched.
/// </summary>
/// <remarks>Its observer sees, per step, logits [B, 1, V]: those of the one position the step commits (the others are fixed).</remarks>
public sealed class AutoregressiveSampler(AutoregressiveOptions? options = null) : IObservableSampler, IConfiguredSampler
{
    public AutoregressiveOptions Options { get; } = Validated(options ?? new AutoregressiveOptions());

    ISamplerOptions IConfiguredSampler.Options => Options;

    /// <inheritdoc/>
    public Action<SamplerObservation>? Observer { get; set; }

    /// <summary>Called after each generated token with the number of steps done.</summary>
    public Action<int>? OnStep { get; init; }

    static AutoregressiveOptions Validated(AutoregressiveOptions o) { o.Validate(); return o; }

    public SamplerResult Generate(IDenoiser model, Tensor prompt, Generator generator, Tensor? attentionMask = null)
    {
        ArgumentNullException.ThrowIfNull(generator);
        if (attentionMask is not null)
        {
            using var s = NewDisposeScope();
            // Our model has no position ids: a left-padded row would see its tokens at shifted RoPE positions.
            if (!attentionMask.to_type(ScalarType.Bool).all().item<bool>())
                throw new DlmException("autoregressive sampler: prompts of different lengths are not supported (the model has no position ids for left padding); batch equal-length prompts");
        }
        using var scope = NewDisposeScope();
        Tensor? coins = Options.Temperature > 0
            ? rand(new long[] { prompt.shape[0], Options.GenLength }, dtype: ScalarType.Float64, generator: generator)
            : null;
        return GenerateWithCoins(model, prompt, coins);
    }

    /// <param name="coins">[B, GenLength] uniforms in [0, 1), one per row and step; unused (may be null) at temperature 0.</param>
    public SamplerResult GenerateWithCoins(IDenoiser model, Tensor prompt, Tensor? coins)
    {
        ArgumentNullException.ThrowIfNull(model);
        var cfg = model.Config;
        var o = Options;
        if (!cfg.Causal) throw new DlmException("autoregressive sampler: the model is not causal (config.json \"causal\": false); use a diffusion sampler");
        if (prompt.ndim != 2 || prompt.shape[0] < 1 || prompt.shape[1] < 1)
            throw new DlmException($"autoregressive sampler: prompt must be [batch, length] with at least one token (got [{string.Join(", ", prompt.shape)}]); start from <s>");
        int batch = (int)prompt.shape[0], p = (int)prompt.shape[1], g = o.GenLength;
        if (p + g > cfg.MaxSequenceLength)
            throw new DlmException($"autoregressive sampler: prompt {p} + gen length {g} exceeds the model's context of {cfg.MaxSequenceLength}");
        if (o.Temperature > 0 && (coins is null || coins.shape[0] != batch || coins.shape[1] < g))
            throw new DlmException($"autoregressive sampler: sampling at temperature {o.Temperature} needs [{batch}, {g}] coins");

        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        using var cache = o.UseCache && model.SupportsIncrementalDecoding ? new KvCache(cfg.NLayers) : null;
        var ids = prompt.to_type(ScalarType.Int64);
        var coins64 = coins?.to_type(ScalarType.Float64);
        var output = new long[batch][];
        for (int b = 0; b < batch; b++) { output[b] = new long[p + g]; ids[b].data<long>().ToArray().CopyTo(output[b], 0); }
        var finished = new bool[batch];
        var trace = new List<SamplerStep>();
        int nfe = 0;

        Tensor last = Next(model, cache, ids, ref nfe); // [B, V] logits for position p
        Tensor seq = ids;
        for (int step = 0; step < g; step++)
        {
            using var stepScope = NewDisposeScope();
            var (next, prob) = Choose(last, coins64, step, o.Temperature);
            var nextArr = next.data<long>().ToArray();
            var probArr = o.RecordTrace ? prob.data<float>().ToArray() : null;
            var commits = o.RecordTrace ? new List<Commit>(batch) : null;
            for (int b = 0; b < batch; b++)
            {
                if (finished[b]) nextArr[b] = o.StopToken!.Value;
                else if (o.StopToken is int stop && nextArr[b] == stop) finished[b] = true;
                output[b][p + step] = nextArr[b];
                commits?.Add(new Commit(b, p + step, nextArr[b], probArr![b]));
            }
            if (commits is not null) trace.Add(new SamplerStep(step, 0, step, commits));
            if (Observer is not null)
            {
                var state = full(new long[] { batch, p + g }, cfg.MaskTokenId, dtype: ScalarType.Int64);
                for (int b = 0; b < batch; b++)
                    state[b].narrow(0, 0, p + step).copy_(tensor(output[b].AsSpan(0, p + step).ToArray()));
                Observer(new SamplerObservation(step, 0, p, state, last.unsqueeze(1)) { StepInBlock = step, Commits = commits ?? [], Nfe = nfe });
            }
            OnStep?.Invoke(step + 1);
            if (finished.All(f => f))
            {
                for (int b = 0; b < batch; b++) Array.Fill(output[b], o.StopToken!.Value, p + step + 1, g - step - 1);
                break;
            }
            if (step == g - 1) break;
            var nextT = tensor(nextArr, new long[] { batch, 1 });
            if (cache is null) { seq = cat([seq, nextT], 1).MoveToOuterDisposeScope(); }
            var logits = Next(model, cache, cache is null ? seq : nextT, ref nfe);
            last.Dispose();
            last = logits.MoveToOuterDisposeScope();
        }
        return new SamplerResult(output, p, nfe, trace) { RowsEvaluated = (long)nfe * batch };
    }

    /// <summary>Logits of the last position: with a cache only the new tokens go in; without one, the whole prefix.</summary>
    static Tensor Next(IDenoiser model, KvCache? cache, Tensor input, ref int nfe)
    {
        using var scope = NewDisposeScope();
        var logits = cache is not null ? model.LogitsIncremental(input, cache) : model.Logits(input);
        nfe++;
        return logits.select(1, logits.shape[1] - 1).to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    /// <summary>run.c's sample(): argmax at temperature 0, else inverse CDF of softmax(logits/T) at the coin.</summary>
    static (Tensor Next, Tensor Prob) Choose(Tensor logits, Tensor? coins, int step, double temperature)
    {
        if (temperature == 0)
        {
            var next = logits.argmax(-1);
            var p0 = softmax(logits, -1).gather(-1, next.unsqueeze(-1)).squeeze(-1);
            return (next, p0);
        }
        var probs = softmax(logits / temperature, -1);
        var cdf = probs.to_type(ScalarType.Float64).cumsum(-1);
        var coin = coins!.select(1, step).unsqueeze(1);
        // First i with coin < cdf[i]; rounding may leave cdf[V−1] < coin, then the last id, as run.c.
        var idx = cdf.le(coin).sum(-1, type: ScalarType.Int64).clamp_max(logits.shape[1] - 1);
        return (idx, probs.gather(-1, idx.unsqueeze(-1)).squeeze(-1));
    }
}
