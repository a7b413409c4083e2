using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// A Llama-style denoiser whose parameter names are LLaDA's Hugging Face tensor names
/// (model.transformer.wte.weight, model.transformer.blocks.{i}.q_proj.weight, ..., model.transformer.ff_out.weight),
/// so that loading a LLaDA checkpoint is a name match. Bidirectional unless the config says causal.
/// A model of the gaussian process has a few more parameters and reads noisy embeddings (LladaModel.Gaussian.cs).
/// </summary>
public sealed partial class LladaModel : nn.Module, IContinuousDenoiser
{
    public readonly LladaBody model;
    readonly RotaryEmbedding _rope;

    public ModelConfig Config { get; }

    public LladaModel(ModelConfig config, Generator? init = null) : base("LladaModel")
    {
        config.Validate();
        Config = config;
        model = new LladaBody(config);
        _rope = new RotaryEmbedding(config.HeadDim, config.MaxSequenceLength, config.RopeTheta);
        RegisterComponents();
        if (init is not null) InitializeWeights(init);
    }

    public LladaTransformer Transformer => model.transformer;

    /// <summary>GPT-2/OLMo-style initialisation: N(0, 0.02), output projections scaled by 1/sqrt(2·layers), norms at 1.</summary>
    void InitializeWeights(Generator g)
    {
        using var _ = no_grad();
        double residualStd = 0.02 / Math.Sqrt(2.0 * Config.NLayers);
        foreach (var (name, p) in named_parameters())
        {
            if (name.EndsWith("norm.weight") || name.EndsWith("ln_f.weight")) { p.fill_(1.0f); continue; }
            if (name.EndsWith("diff_warp")) { p.zero_(); continue; }
            double std = name.EndsWith("attn_out.weight") || name.Contains(".ff_out.weight") && name.Contains("blocks") ? residualStd : 0.02;
            using var r = normal(0.0, std, p.shape, generator: g);
            p.copy_(r);
        }
    }

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null)
    {
        // A gaussian model reads noisy embeddings; reading ids needs the process's input scale (GaussianProcess.LogitsOfIds).
        if (Config.IsGaussian) throw new InvalidOperationException("a gaussian model reads embeddings, not ids: use GaussianProcess.LogitsOfIds or LogitsFromNoisy");
        var logits = Forward(ids, attentionMask, time, cache: null);
        // Inference (sampling, instruments) stops at NaN logits instead of turning them into token 0; training has its loss check.
        if (!is_grad_enabled()) NonFinite.CheckLogits(logits, "model");
        return logits;
    }

    /// <inheritdoc/>
    public bool SupportsIncrementalDecoding => Config.Causal && !Config.IsGaussian;

    /// <inheritdoc/>
    public Tensor LogitsIncremental(Tensor ids, KvCache cache) => Forward(ids, null, null, cache);

    /// <inheritdoc/>
    public bool SupportsBlockCache => !Config.Causal && !Config.IsGaussian && !Config.TimeConditioning;

    /// <inheritdoc/>
    public Tensor LogitsRecording(Tensor ids, Tensor? attentionMask, BlockKvCache cache)
    {
        CheckBlockCache(cache);
        using var scope = NewDisposeScope();
        var x = model.transformer.wte.forward(ids);
        return Trunk(x, attentionMask, null, null, new BlockCacheUse(cache, true, 0)).MoveToOuterDisposeScope();
    }

    /// <inheritdoc/>
    public Tensor LogitsWindow(Tensor ids, long start, long length, Tensor? attentionMask, BlockKvCache cache)
    {
        CheckBlockCache(cache);
        // With shifted logits position i is predicted from the hidden state of i − 1, so the window's predictions need the
        // hidden states [start − 1, start + length − 1). The window's own last position is recomputed as well (one row more,
        // its prediction dropped): otherwise its keys and values stay those of the recording, and a token committed there
        // is invisible to the rest of the block until the next recording. That one stale position cost the dual cache its
        // equal quality on the story model (gen-PPL 9.99 against 9.12 [8.73, 9.51]; 9.35 with it recomputed).
        long from = Config.LogitsShift ? start - 1 : start;
        if (from < 0 || start + length > ids.shape[1])
            throw new ArgumentException($"block cache window [{start}, {start + length}) does not fit a sequence of {ids.shape[1]}{(Config.LogitsShift ? " with shifted logits" : "")}");
        using var scope = NewDisposeScope();
        long recomputed = start + length - from;
        var x = model.transformer.wte.forward(ids.narrow(1, from, recomputed));
        var logits = Trunk(x, attentionMask, null, null, new BlockCacheUse(cache, false, from));
        return (recomputed == length ? logits : logits.narrow(1, 0, length)).MoveToOuterDisposeScope();
    }

    void CheckBlockCache(BlockKvCache cache)
    {
        if (!SupportsBlockCache)
            throw new DlmException("block caches (--cache prefix|dual) need a bidirectional masked model without time conditioning");
        if (cache.Layers != Config.NLayers) throw new ArgumentException($"block cache has {cache.Layers} layers, the model {Config.NLayers}");
    }

    /// <summary>Full forward with an optional key/value cache (causal models only) for incremental decoding.</summary>
    public Tensor Forward(Tensor ids, Tensor? attentionMask, Tensor? time, KvCache? cache)
    {
        using var scope = NewDisposeScope();
        var t = model.transformer;
        long l = ids.shape[1];
        long offset = cache?.Length ?? 0;
        if (offset + l > Config.MaxSequenceLength)
            throw new DlmException($"sequence of {offset + l} tokens exceeds the model's context of {Config.MaxSequenceLength} (max_sequence_length)");
        if (cache is not null && !Config.Causal)
            throw new InvalidOperationException("a key/value cache is only meaningful for a causal model");
        if (Config.IsGaussian) throw new InvalidOperationException("a gaussian model reads embeddings: use LogitsFromNoisy");
        var x = t.wte.forward(ids);
        return Trunk(x, attentionMask, time, cache).MoveToOuterDisposeScope();
    }

    /// <summary>Time embedding, the blocks, the final norm and the head, from the residual stream's input [B, L, d].</summary>
    Tensor Trunk(Tensor x, Tensor? attentionMask, Tensor? time, KvCache? cache, BlockCacheUse? blockCache = null)
    {
        var t = model.transformer;
        long b = x.shape[0], l = x.shape[1];
        long offset = cache?.Length ?? blockCache?.WindowStart ?? 0;
        if (Config.TimeConditioning)
        {
            if (time is null) throw new ArgumentException("this model is time-conditioned: pass the diffusion time");
            x = x + t.time_emb!.forward(TimeFeatures(time, Config.DModel)).unsqueeze(1);
        }
        Tensor? mask = blockCache is { Recording: false } ? WindowMask(attentionMask, b, l) : BuildMask(attentionMask, b, l, offset);
        // The kernels' built-in causal mask is aligned top-left (query j sees keys 0..j), right only when
        // queries and keys start together; after a cache, BuildMask's explicit mask (or none, for one query) applies.
        bool builtInCausal = Config.Causal && offset == 0;
        for (int i = 0; i < t.blocks.Count; i++)
            x = ((LladaBlock)t.blocks[i]).Forward(x, _rope, offset, mask, builtInCausal, cache?.Layers[i], blockCache, i);
        x = t.ln_f.forward(x);
        var logits = Head(x);
        if (Config.LogitsShift && l > 1 && blockCache is not { Recording: false })
            logits = cat([logits.narrow(1, 0, 1), logits.narrow(1, 0, l - 1)], 1);
        return logits;
    }

    /// <summary>A window's queries see every unpadded key of the whole recorded sequence (bidirectional).</summary>
    static Tensor? WindowMask(Tensor? attentionMask, long b, long l)
    {
        if (attentionMask is null) return null;
        var keys = attentionMask.to_type(ScalarType.Bool);
        return ones(b, 1, l, keys.shape[1], dtype: ScalarType.Bool) & keys.view(b, 1, 1, keys.shape[1]);
    }

    Tensor? BuildMask(Tensor? attentionMask, long b, long l, long offset)
    {
        // Without padding and cache the kernels' own (non-)causal path is used; otherwise an explicit mask.
        if (attentionMask is null && (offset == 0 || l == 1)) return null;
        long s = offset + l;
        Tensor allowed = ones(b, 1, l, s, dtype: ScalarType.Bool);
        if (attentionMask is not null)
        {
            var keys = attentionMask.to_type(ScalarType.Bool);
            if (keys.shape[1] != s) throw new ArgumentException($"attention mask has {keys.shape[1]} positions, expected {s}");
            allowed = allowed & keys.view(b, 1, 1, s);
        }
        if (Config.Causal)
        {
            var qPos = arange(offset, offset + l).view(l, 1);
            var kPos = arange(s).view(1, s);
            allowed = allowed & (kPos <= qPos).view(1, 1, l, s);
        }
        return allowed;
    }

    /// <summary>Sinusoidal features of t in [0, 1] (scaled by 1000 as DDPM-style models do), width d.</summary>
    public static Tensor TimeFeatures(Tensor time, int d)
    {
        using var scope = NewDisposeScope();
        int half = d / 2;
        var freqs = exp(-Math.Log(10000.0) * arange(half, dtype: ScalarType.Float32) / half);
        var args = time.to_type(ScalarType.Float32).view(-1, 1) * 1000f * freqs.view(1, -1);
        return cat([args.cos(), args.sin()], -1).MoveToOuterDisposeScope();
    }

    public long ParameterCount() => parameters().Sum(p => p.numel());

    protected override void Dispose(bool disposing)
    {
        if (disposing) { _rope.Dispose(); DisposeBf16(); }
        base.Dispose(disposing);
    }
}

/// <summary>The "model." level of the tensor names.</summary>
public sealed class LladaBody : nn.Module
{
    public readonly LladaTransformer transformer;
    public LladaBody(ModelConfig c) : base("model") { transformer = new LladaTransformer(c); RegisterComponents(); }
}

/// <summary>The "model.transformer." level: embeddings, blocks, final norm and (untied) output head.</summary>
public sealed class LladaTransformer : nn.Module
{
    public readonly Embedding wte;
    public readonly ModuleList<nn.Module> blocks;
    public readonly RmsNorm ln_f;
    public readonly Linear? ff_out;
    public readonly Linear? time_emb;
    // The gaussian process only: the diffused embedding table [V, D], the input map from [c_in·x_t ; self-conditioning]
    // (2D) to the residual stream, a vector marking clean (prompt) positions, and the time-warping state (not trained).
    public readonly Embedding? diff_emb;
    public readonly Linear? diff_in;
    public readonly Parameter? diff_clean;
    public readonly Parameter? diff_warp;

    public LladaTransformer(ModelConfig c) : base("transformer")
    {
        wte = nn.Embedding(c.VocabSize, c.DModel);
        blocks = new ModuleList<nn.Module>();
        for (int i = 0; i < c.NLayers; i++) blocks.Add(new LladaBlock($"{i}", c));
        ln_f = new RmsNorm("ln_f", c.DModel, c.RmsNormEps);
        if (!c.WeightTying) ff_out = nn.Linear(c.DModel, c.VocabSize, hasBias: false);
        if (c.TimeConditioning) time_emb = nn.Linear(c.DModel, c.DModel, hasBias: true);
        if (c.IsGaussian)
        {
            int d = c.DiffusionDim;
            diff_emb = nn.Embedding(c.VocabSize, d);
            diff_in = nn.Linear(2 * d, c.DModel, hasBias: true);
            diff_clean = new Parameter(zeros(c.DModel));
            diff_warp = new Parameter(zeros(2, IContinuousDenoiser.TimeWarpBins), requires_grad: false);
        }
        RegisterComponents();
    }
}

/// <summary>Key/value caches of every layer, for incremental decoding of a causal model.</summary>
public sealed class KvCache : IDisposable
{
    public LayerKvCache[] Layers { get; }
    public KvCache(int layers) { Layers = Enumerable.Range(0, layers).Select(_ => new LayerKvCache()).ToArray(); }
    public long Length => Layers[0].Length;
    public void Dispose() { foreach (var l in Layers) l.Dispose(); }
}
