using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Sampling;

/// <summary>
/// The engine every sampler runs on: the state x = prompt followed by GenLength masks (or a sampler's own
/// start), the attention mask widened over the completion, and the one place the denoiser is called
/// (<see cref="Forward()"/>), which therefore owns what every sampler reports the same way: NFE (forward calls),
/// rows evaluated, the trace, the observer and the block cache. A sampler file holds only its policy.
/// </summary>
/// <remarks>
/// Block cache: a sampler that decodes block by block calls <see cref="BeginBlock"/>; with <see cref="CacheMode.None"/>
/// that changes nothing. Otherwise the first forward of the block is a full one that records every layer's keys and
/// values, and the later ones recompute only the window (prefix: block and suffix; dual: the block). Logits outside
/// the window are those of the block's first forward, so a policy can read the whole [B, P + G, V] tensor as before.
/// With <see cref="CacheRefresh"/> N > 0 the cache is recorded again at every N-th forward of the block (Elastic-Cache
/// and dKV-Cache refresh it too): the staleness is then bounded by N − 1 steps, for one full forward in N.
/// Observation: after each step (<see cref="AddStep"/>) the observer gets the state and logits of the step's last
/// forward and what the step committed.
/// </remarks>
internal sealed class SamplerRun : IDisposable
{
    public required IDenoiser Model { get; init; }
    public required string Name { get; init; }
    /// <summary>[B, P + G] int64, updated in place; lives in the caller's outer dispose scope.</summary>
    public required Tensor X { get; init; }
    /// <summary>[B, P + G] bool or null when the prompt had no padding.</summary>
    public Tensor? Attention { get; init; }
    public int Batch { get; init; }
    public int PromptLength { get; init; }
    public int Total { get; init; }
    public long MaskId => Model.Config.MaskTokenId;
    public int Vocab => Model.Config.VocabSize;
    /// <summary>Forward calls of the denoiser so far.</summary>
    public int Nfe { get; private set; }
    /// <summary>Sequences (rows) the denoiser evaluated so far: B per plain call, more when a call batches copies.</summary>
    public long RowsEvaluated { get; private set; }
    /// <summary>Positions the denoiser recomputed so far (rows × window length): what a cache saves.</summary>
    public long PositionsEvaluated { get; private set; }
    public List<SamplerStep> Trace { get; } = [];
    public CacheMode Cache { get; init; }
    /// <summary>With a cache: forwards of a block between recordings (0: only the block's first).</summary>
    public int CacheRefresh { get; init; }
    public Action<SamplerObservation>? Observer { get; init; }

    BlockKvCache? _kv;
    Tensor? _recorded;          // [B, T, V] logits of the block's recording forward (detached, owned)
    int _blockStart = -1, _blockEnd = -1;
    bool _needRecording;
    int _windowForwards;        // window forwards since the last recording
    Tensor? _seenState, _seenLogits, _seenContinuous; // owned copies for the observer
    Runtime.SmallWorkThreads.Scope _threads;            // one thread while the run's forwards are small

    public static SamplerRun Start(string name, IDenoiser model, Tensor prompt, Tensor? attentionMask, int genLength,
        CacheMode cache = CacheMode.None, Action<SamplerObservation>? observer = null, int cacheRefresh = 0)
    {
        ArgumentNullException.ThrowIfNull(model);
        Check(name, prompt, attentionMask, model.Config, genLength);
        if (cache != CacheMode.None && !model.SupportsBlockCache)
            throw new DlmException($"{name} sampler: --cache {CacheModes.Name(cache)} needs a model with a block cache (a bidirectional masked LladaModel); this {model.GetType().Name} has none, use --cache none");
        int batch = (int)prompt.shape[0], promptLen = (int)prompt.shape[1], total = promptLen + genLength;
        var x = torch.full(new long[] { batch, total }, model.Config.MaskTokenId, dtype: ScalarType.Int64, device: prompt.device);
        x.narrow(1, 0, promptLen).copy_(prompt.to_type(ScalarType.Int64));
        Tensor? attn = attentionMask is null ? null : torch.cat(new[]
        {
            attentionMask.to_type(ScalarType.Bool),
            torch.ones(new long[] { batch, genLength }, dtype: ScalarType.Bool, device: prompt.device),
        }, 1);
        return new SamplerRun
        {
            Name = name, Model = model, X = x, Attention = attn, Batch = batch, PromptLength = promptLen, Total = total,
            Cache = cache, CacheRefresh = cacheRefresh, Observer = observer,
            _threads = Runtime.SmallWorkThreads.OneThreadIfSmall(FlopCount.Forward(model.Config, batch, total)),
        };
    }

    /// <summary>
    /// A new block [start, end) begins: with a cache, the next <see cref="Forward()"/> records, later ones recompute
    /// only the window. Without a cache it only marks the block.
    /// </summary>
    public void BeginBlock(int start, int end)
    {
        _blockStart = start; _blockEnd = end;
        _needRecording = Cache != CacheMode.None;
    }

    /// <summary>
    /// One call of the denoiser on <paramref name="ids"/> (rows may be a multiple of B: guidance, probes); counts one NFE.
    /// Never cached: the cache holds the keys of x's own rows.
    /// </summary>
    public Tensor Forward(Tensor ids, Tensor? attn = null, Tensor? time = null)
    {
        var logits = Model.Logits(ids, attn, time);
        Count(ids.shape[0], ids.shape[1]);
        Checked(logits, ids.shape[0], ids.shape[1]);
        var f = Float(logits);
        if (ReferenceEquals(ids, X)) Seen(f);
        return f;
    }

    /// <summary>A call of the denoiser the engine cannot make itself (a continuous model's noisy input): counted and checked the same.</summary>
    public Tensor Forward(Func<Tensor> call)
    {
        var logits = call();
        Count(Batch, Total);
        Checked(logits, Batch, Total);
        return Float(logits);
    }

    /// <summary>Forward on the current x, through the block cache when one is on.</summary>
    public Tensor Forward(Tensor? time = null)
    {
        if (Cache == CacheMode.None || _blockStart < 0) return Forward(X, Attention, time);
        if (time is not null) throw new DlmException($"{Name} sampler: the block cache does not take a diffusion time");
        if (RecordsNext)
        {
            _kv ??= Model.CreateBlockCache();
            var logits = Float(Model.LogitsRecording(X, Attention, _kv));
            Count(Batch, Total);
            Checked(logits, Batch, Total);
            _recorded?.Dispose();
            _recorded = logits.detach().clone();
            _recorded.DetachFromDisposeScope();
            _needRecording = false;
            _windowForwards = 0;
            Seen(logits);
            return logits;
        }
        var (start, length) = PredictedWindow(_blockStart, _blockEnd);
        var window = WindowForward(start, length);
        var full = _recorded!.clone();
        full.narrow(1, start, length).copy_(window);
        Seen(full);
        return full;
    }

    /// <summary>
    /// Logits of positions [<paramref name="from"/>, from + <paramref name="length"/>) of the current x: the same values
    /// as <c>Forward().narrow(1, from, length)</c>. When a cached window step covers the range, the window's logits are
    /// returned as they came, without assembling the [B, P + G, V] tensor around them (unless an observer needs it).
    /// </summary>
    public Tensor Forward(int from, int length)
    {
        if (from < 0 || length < 0 || from + length > Total)
            throw new ArgumentOutOfRangeException(nameof(from), $"{Name} sampler: positions [{from}, {from + length}) outside the sequence of {Total}");
        bool windowStep = Cache != CacheMode.None && _blockStart >= 0 && !RecordsNext;
        var (start, windowLength) = PredictedWindow(_blockStart, _blockEnd);
        if (!windowStep || Observer is not null || from < start || from + length > start + windowLength)
            return Forward().narrow(1, from, length);
        var window = WindowForward(start, windowLength);
        return window.narrow(1, from - start, length);
    }

    /// <summary>
    /// The positions a step in the block [<paramref name="blockStart"/>, <paramref name="blockEnd"/>) predicts: every one
    /// uncached, as LLaDA's reference; under a cache the window Fast-dLLM's cached model recomputes (dual: the block;
    /// prefix: the block and everything right of it), which is also the shape its noise is drawn for.
    /// </summary>
    public (int Start, int Length) PredictedWindow(int blockStart, int blockEnd) =>
        Cache == CacheMode.None ? (0, Total) : (blockStart, (Cache == CacheMode.Dual ? blockEnd : Total) - blockStart);

    /// <summary>The next cached forward records: a new block, or the refresh interval is up.</summary>
    bool RecordsNext => _needRecording || _recorded is null || (CacheRefresh > 0 && _windowForwards >= CacheRefresh - 1);

    Tensor WindowForward(int start, int length)
    {
        _windowForwards++;
        var window = Float(Model.LogitsWindow(X, start, length, Attention, _kv!));
        // A shifted model recomputes one position more than it predicts (the one left of the window).
        Count(Batch, length + (Model.Config.LogitsShift ? 1 : 0));
        if (window.ndim != 3 || window.shape[0] != Batch || window.shape[1] != length || window.shape[2] != Vocab)
            throw new DlmException($"{Name} sampler: the denoiser returned window logits of shape [{string.Join(", ", window.shape)}], expected [{Batch}, {length}, {Vocab}]");
        return window;
    }

    /// <summary>
    /// What the observer sees for this step instead of the forward's own logits: after guidance, x's rows of a call
    /// that batched copies, or a continuous sampler's state (with <paramref name="state"/> its rounding).
    /// </summary>
    public void Observe(Tensor logits, Tensor? state = null, Tensor? continuous = null)
    {
        if (Observer is null) return;
        Keep(ref _seenState, state ?? X);
        Keep(ref _seenLogits, logits);
        if (continuous is not null) Keep(ref _seenContinuous, continuous);
    }

    void Seen(Tensor logits)
    {
        if (Observer is null) return;
        Keep(ref _seenState, X);
        Keep(ref _seenLogits, logits);
    }

    static void Keep(ref Tensor? slot, Tensor t)
    {
        slot?.Dispose();
        slot = t.detach().clone();
        slot.DetachFromDisposeScope();
    }

    void Count(long rows, long length) { Nfe++; RowsEvaluated += rows; PositionsEvaluated += rows * length; }

    void Checked(Tensor logits, long rows, long length)
    {
        if (logits.ndim != 3 || logits.shape[0] != rows || logits.shape[1] != length || logits.shape[2] != Vocab)
            throw new DlmException(
                $"{Name} sampler: the denoiser returned logits of shape [{string.Join(", ", logits.shape)}], expected [{rows}, {length}, {Vocab}]");
    }

    static Tensor Float(Tensor logits) => logits.dtype == ScalarType.Float32 ? logits : logits.to_type(ScalarType.Float32);

    /// <summary>[B][P + G] copy of x.</summary>
    public long[][] Rows()
    {
        var flat = X.data<long>().ToArray();
        var ids = new long[Batch][];
        for (int b = 0; b < Batch; b++) ids[b] = flat.AsSpan(b * Total, Total).ToArray();
        return ids;
    }

    public SamplerResult Result() => new(Rows(), PromptLength, Nfe, Trace) { RowsEvaluated = RowsEvaluated, PositionsEvaluated = PositionsEvaluated };

    /// <summary>Records a step and shows it to the observer (state and logits of the step's last forward, and its commits).</summary>
    public void AddStep(int block, int stepInBlock, List<Commit> commits)
    {
        var step = new SamplerStep(Trace.Count, block, stepInBlock, commits);
        Trace.Add(step);
        if (Observer is null) return;
        using var scope = torch.NewDisposeScope();
        var state = _seenState ?? X;
        var logits = _seenLogits ?? throw new InvalidOperationException($"{Name} sampler: a step was recorded before any forward");
        Observer(new SamplerObservation(step.Index, block, PromptLength, state, logits, _seenContinuous)
        {
            StepInBlock = stepInBlock, Commits = commits, Cache = Cache, Nfe = Nfe,
        });
    }

    public void Dispose()
    {
        _kv?.Dispose(); _recorded?.Dispose();
        _seenState?.Dispose(); _seenLogits?.Dispose(); _seenContinuous?.Dispose();
        _kv = null; _recorded = _seenState = _seenLogits = _seenContinuous = null;
        _threads.Dispose();
        _threads = default;
    }

    static void Check(string name, Tensor prompt, Tensor? attentionMask, ModelConfig cfg, int genLength)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        if (genLength <= 0) throw new DlmException($"{name} sampler: gen length must be positive (got {genLength})");
        if (prompt.ndim != 2 || prompt.shape[0] < 1)
            throw new DlmException($"{name} sampler: prompt must be [batch, length] with batch >= 1 (got shape [{string.Join(", ", prompt.shape)}])");
        if (prompt.dtype is not (ScalarType.Int64 or ScalarType.Int32))
            throw new DlmException($"{name} sampler: prompt must hold integer token ids (got {prompt.dtype})");
        long batch = prompt.shape[0], len = prompt.shape[1];
        if (cfg.MaxSequenceLength > 0 && len + genLength > cfg.MaxSequenceLength)
            throw new DlmException($"{name} sampler: prompt length {len} + gen length {genLength} exceeds the model's max sequence length {cfg.MaxSequenceLength}");
        if (len > 0)
        {
            using var scope = torch.NewDisposeScope();
            var ids64 = prompt.to_type(ScalarType.Int64);
            long min = ids64.min().item<long>(), max = ids64.max().item<long>();
            if (min < 0 || max >= cfg.VocabSize)
                throw new DlmException($"{name} sampler: prompt ids must lie in [0, {cfg.VocabSize}) (found {(min < 0 ? min : max)})");
        }
        if (attentionMask is not null && (attentionMask.ndim != 2 || attentionMask.shape[0] != batch || attentionMask.shape[1] != len))
            throw new DlmException($"{name} sampler: attention mask must cover the prompt, [{batch}, {len}] (got [{string.Join(", ", attentionMask.shape)}])");
    }
}
