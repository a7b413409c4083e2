using DiffusionLM.Models;
using DiffusionLM.Sampling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Sampling;

/// <summary>
/// Fast-dLLM's prefix and dual caches: the first step of every block is the exact full forward; later steps are an
/// approximation that recomputes fewer positions; a left-padded batch gives every row what it gets alone.
/// </summary>
[Collection(nameof(TorchGlobalStateCollection))]
public class BlockCacheTests
{
    const int Gen = 12, Block = 4;

    static readonly LladaModel Model = Make();

    static LladaModel Make()
    {
        var cfg = new ModelConfig
        {
            DModel = 32, NHeads = 4, NKvHeads = 2, NLayers = 2, MlpHiddenSize = 48, VocabSize = 30, MaxSequenceLength = 40,
            MaskTokenId = 29, EosTokenId = 28, PadTokenId = 27, RopeTheta = 10000,
        };
        var m = new LladaModel(cfg, new Generator(11));
        m.eval();
        return m;
    }

    static ISampler Sampler(string name, CacheMode cache, double temperature = 0.0, int refresh = 0) => SamplerRegistry.Create(name,
        new SamplerSettings(GenLength: Gen, Steps: Gen, BlockLength: Block, Temperature: temperature) { Cache = cache, CacheRefresh = refresh, Threshold = 0.5, Gamma = 0.5 });

    public static TheoryData<string, CacheMode> Cases()
    {
        var d = new TheoryData<string, CacheMode>();
        foreach (var e in SamplerRegistry.All.Where(e => e.Cacheable))
            foreach (var c in new[] { CacheMode.Prefix, CacheMode.Dual }) d.Add(e.Name, c);
        return d;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void FirstStepOfEachBlockIsTheUncachedForwardExactly(string name, CacheMode cache)
    {
        var sampler = (IObservableSampler)Sampler(name, cache);
        int firstSteps = 0, laterSteps = 0, drifted = 0;
        sampler.Observer = o =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            var exact = Model.Logits(o.State);
            if (o.StepInBlock == 0)
            {
                firstSteps++;
                Assert.True(exact.sub(o.Logits).abs().max().item<float>() == 0, $"block {o.Block}: the first step's logits differ from the uncached forward");
            }
            else
            {
                laterSteps++;
                int start = o.PromptLength + o.Block * Block;
                if (exact.narrow(1, start, Block).sub(o.Logits.narrow(1, start, Block)).abs().max().item<float>() > 0) drifted++;
            }
        };
        var r = sampler.Generate(Model, [[1L, 2, 3, 4, 5]], new Generator(1));
        Assert.Equal(Gen / Block, firstSteps);
        Assert.True(laterSteps > 0);
        // The later steps really are cached (an exact recomputation would not drift) and recompute fewer positions.
        Assert.True(drifted > 0, "no cached step differed from the uncached forward: the cache is not used");
        Assert.True(r.PositionsEvaluated < (long)r.Nfe * (5 + Gen), $"{r.PositionsEvaluated} positions in {r.Nfe} calls");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LeftPaddedBatchEqualsEachRowAlone(string name, CacheMode cache)
    {
        long[][] prompts = [[1, 2, 3, 4, 5, 6], [7, 8], [9, 10, 11, 12]];
        var batch = Sampler(name, cache).Generate(Model, prompts, new Generator(1));
        // A sampler that draws even at temperature 0 (random remasking) gives rows draws by batch position: the registry says which.
        if (SamplerRegistry.Find(name).Draws) return;
        for (int b = 0; b < prompts.Length; b++)
        {
            var alone = Sampler(name, cache).Generate(Model, [prompts[b]], new Generator(1));
            Assert.Equal(alone.Completions[0], batch.Completions[b]);
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RefreshedCacheIsExactAtEveryNthStepOfABlock(string name, CacheMode cache)
    {
        const int refresh = 2;
        var sampler = (IObservableSampler)Sampler(name, cache, refresh: refresh);
        int exactSteps = 0, drifted = 0, steps = 0;
        sampler.Observer = o =>
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            steps++;
            var exact = Model.Logits(o.State);
            if (o.StepInBlock % refresh == 0)
            {
                exactSteps++;
                Assert.True(exact.sub(o.Logits).abs().max().item<float>() == 0,
                    $"block {o.Block}, step {o.StepInBlock}: a refreshing step's logits differ from the uncached forward");
            }
            else
            {
                int start = o.PromptLength + o.Block * Block;
                if (exact.narrow(1, start, Block).sub(o.Logits.narrow(1, start, Block)).abs().max().item<float>() > 0) drifted++;
            }
        };
        var r = sampler.Generate(Model, [[1L, 2, 3, 4, 5]], new Generator(1));
        Assert.Equal(steps, r.Nfe);
        Assert.True(exactSteps > Gen / Block, $"only {exactSteps} exact steps: the cache was not recorded again within a block");
        Assert.True(drifted > 0, "no step between refreshes differed from the uncached forward: the window is not used");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void RefreshEveryStepGeneratesWhatTheUncachedRunDoes(string name, CacheMode cache)
    {
        // Recording at every step makes every forward an exact full one; at temperature 0 the tokens are then the
        // uncached run's (samplers that draw even at temperature 0 draw for the cached window's shape, so they differ).
        if (SamplerRegistry.Find(name).Draws) return;
        var exact = Sampler(name, CacheMode.None).Generate(Model, [[1L, 2, 3, 4, 5]], new Generator(1));
        var refreshed = Sampler(name, cache, refresh: 1).Generate(Model, [[1L, 2, 3, 4, 5]], new Generator(1));
        Assert.Equal(exact.Ids, refreshed.Ids);
        Assert.Equal(exact.PositionsEvaluated, refreshed.PositionsEvaluated);
        var once = Sampler(name, cache).Generate(Model, [[1L, 2, 3, 4, 5]], new Generator(1));
        Assert.True(once.PositionsEvaluated < refreshed.PositionsEvaluated);
    }

    [Fact]
    public void RefreshIsRefusedWithoutACacheOrBelowZero()
    {
        Assert.Contains("--cache-refresh", Assert.Throws<DlmException>(() => Sampler("llada", CacheMode.None, refresh: 4)).Message);
        Assert.Contains("--cache-refresh", Assert.Throws<DlmException>(() => Sampler("llada", CacheMode.Dual, refresh: -1)).Message);
        Assert.Contains("--cache-refresh", Assert.Throws<DlmException>(() => SamplerRegistry.Create("mdlm", new SamplerSettings(GenLength: Gen) { CacheRefresh = 4 })).Message);
    }

    [Fact]
    public void NoCacheIsUnchangedAndCachesRefuseSamplersWithoutBlocks()
    {
        var plain = new LladaSampler(new LladaSamplerOptions(GenLength: Gen, Steps: Gen, BlockLength: Block)).Generate(Model, [[1L, 2, 3]], new Generator(1));
        var none = Sampler("llada", CacheMode.None).Generate(Model, [[1L, 2, 3]], new Generator(1));
        Assert.Equal(plain.Ids, none.Ids);
        var ex = Assert.Throws<DlmException>(() => Sampler("mdlm", CacheMode.Dual));
        Assert.Contains("--cache", ex.Message);
    }
}
