using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Sampling;

/// <summary>A real model behind a wrapper that counts every call a sampler makes of it, by any path.</summary>
sealed class CountingDenoiser(LladaModel inner) : IContinuousDenoiser
{
    public LladaModel Inner { get; } = inner;
    public int Calls { get; private set; }
    public ModelConfig Config => Inner.Config;

    public Tensor Logits(Tensor ids, Tensor? attentionMask = null, Tensor? time = null) { Calls++; return Inner.Logits(ids, attentionMask, time); }
    public bool SupportsBlockCache => Inner.SupportsBlockCache;
    public Tensor LogitsRecording(Tensor ids, Tensor? attentionMask, BlockKvCache cache) { Calls++; return Inner.LogitsRecording(ids, attentionMask, cache); }
    public Tensor LogitsWindow(Tensor ids, long start, long length, Tensor? attentionMask, BlockKvCache cache) { Calls++; return Inner.LogitsWindow(ids, start, length, attentionMask, cache); }
    public bool SupportsIncrementalDecoding => Inner.SupportsIncrementalDecoding;
    public Tensor LogitsIncremental(Tensor ids, KvCache cache) { Calls++; return Inner.LogitsIncremental(ids, cache); }
    public Tensor DiffusionEmbeddings() => Inner.DiffusionEmbeddings();
    public Tensor LogitsFromNoisy(Tensor xt, Tensor t, Tensor inputScale, Tensor? selfCond = null, Tensor? clean = null, Tensor? attentionMask = null)
    { Calls++; return Inner.LogitsFromNoisy(xt, t, inputScale, selfCond, clean, attentionMask); }
    public Tensor? TimeWarpState => Inner.TimeWarpState;
}
