using DiffusionLM.Models;
using Opt = DiffusionLM.Sampling.OptionsOf<DiffusionLM.Sampling.LladaSamplerOptions>;

namespace DiffusionLM.Sampling;

/// <summary>
/// How torch.topk's choice among equal confidences is resolved when selecting positions to commit.
/// </summary>
public enum TopKTies
{
    /// <summary>
    /// Call torch.topk on the float32 confidence row, as the reference does, so the same positions
    /// are chosen as PyTorch on CPU (same libtorch kernel). Its tie order is NOT lowest index first:
    /// the CPU kernel uses std::nth_element when 64·k &gt; n and std::partial_sort otherwise, neither
    /// stable (e.g. all-equal n = 8, k = 2 picks [6, 5]; n = 128, k = 2 picks [0, 1]). CUDA's topk
    /// breaks ties differently again, so GPU runs of the reference may differ on exact ties.
    /// </summary>
    Torch,
    /// <summary>Stable: equal confidences are taken lowest position first (NaN ranks highest, as in torch).</summary>
    LowestIndex,
}

/// <summary>
/// Settings of LLaDA's reference sampler (generate.py of ML-GSAI/LLaDA); names and defaults follow
/// its generate() arguments.
/// </summary>
/// <param name="GenLength">tokens to generate after the prompt.</param>
/// <param name="Steps">denoising steps in all; split evenly over the blocks.</param>
/// <param name="BlockLength">semi-autoregressive block size; GenLength means one block (fully parallel).</param>
/// <param name="Temperature">0: argmax. Otherwise float64 Gumbel-max at this temperature.</param>
/// <param name="Remasking">"low_confidence" (commit the most probable predictions first) or
/// "random" (commit a uniformly random subset).</param>
/// <param name="CfgScale">unsupervised classifier-free guidance; 0 disables it.</param>
/// <param name="LogitsEosInf">set the logit of EOS to -inf before sampling, so EOS is never
/// generated (LLaDA appendix B.4). The reference hard-codes EOS = 126081.</param>
/// <param name="ConfidenceEosEotInf">
/// The reference intends "EOS and EoT get confidence -inf" (appendix B.4) but its code is
/// <c>logits_with_noise[:, :, eos] = logits[:, :, eot] = -inf</c>, run AFTER x0 = argmax(logits_with_noise).
/// Python assigns the right-hand value to each target, left to right, so:
/// (1) x0 is already chosen, so EOS and EoT can still be sampled;
/// (2) logits_with_noise is not read again, so its EOS column has no effect, EXCEPT at temperature 0,
/// where add_gumbel_noise returns the logits tensor itself, so logits[:, :, eos] becomes -inf too;
/// (3) logits[:, :, eot] = -inf changes the softmax used for low-confidence remasking: a position
/// whose x0 is EoT (and, at temperature 0, EOS) gets confidence 0, not -inf, and the other
/// probabilities are renormalised without those columns. Such positions rank below every other
/// candidate of the step but remain candidates. With "random" remasking the option has no effect at all.
/// This sampler reproduces exactly that behaviour.
/// </param>
/// <param name="EosId">EOS id for the two options above; default: the model's eos_token_id.</param>
/// <param name="EotId">end-of-turn id (LLaDA: 126348, &lt;|eot_id|&gt;); required by ConfidenceEosEotInf.</param>
/// <param name="Ties">how equal confidences are ordered in the top-k selection.</param>
/// <param name="Cache">Fast-dLLM's block cache (prefix or dual), an approximation; None is the reference, token for token.
/// With a cache only the current block's masks are candidates (a mask id inside the prompt is then left as it is).</param>
/// <param name="CacheRefresh">with a cache: record it again every this many steps of a block (0: once per block, as Fast-dLLM).</param>
public sealed record LladaSamplerOptions(
    int GenLength = 128,
    int Steps = 128,
    int BlockLength = 128,
    double Temperature = 0.0,
    string Remasking = LladaSamplerOptions.LowConfidence,
    double CfgScale = 0.0,
    bool LogitsEosInf = false,
    bool ConfidenceEosEotInf = false,
    int? EosId = null,
    int? EotId = null,
    TopKTies Ties = TopKTies.Torch,
    CacheMode Cache = CacheMode.None,
    int CacheRefresh = 0) : ISamplerOptions
{
    /// <summary>What the user may set, each described once; the defaults are this record's (<see cref="SamplerOption"/>).</summary>
    public static IReadOnlyList<SamplerOption> Settable { get; } =
    [
        Opt.GenLength(o => o.GenLength, (o, v) => o with { GenLength = v }),
        Opt.Steps(o => o.Steps, (o, v) => o with { Steps = v }),
        Opt.BlockLength(o => o.BlockLength, (o, v) => o with { BlockLength = v }),
        Opt.Temperature(o => o.Temperature, (o, v) => o with { Temperature = v }),
        Opt.Cache(o => o.Cache, (o, v) => o with { Cache = v }),
        Opt.CacheRefresh(o => o.CacheRefresh, (o, v) => o with { CacheRefresh = v }),
        Opt.EosId(o => o.EosId, (o, v) => o with { EosId = v }),
        Opt.EotId(o => o.EotId, (o, v) => o with { EotId = v }),
        Opt.Of("--remasking", nameof(SamplerSettings.Remasking), "which predictions a step commits: low_confidence (the most confident first) or random (a random subset)",
            o => o.Remasking, (o, v) => o with { Remasking = v }, [LowConfidence, Random]),
        Opt.Of("--cfg", nameof(SamplerSettings.CfgScale), "unsupervised classifier-free guidance scale (0: off)", o => o.CfgScale, (o, v) => o with { CfgScale = v }),
        Opt.Of("--logits-eos-inf", nameof(SamplerSettings.LogitsEosInf), "LLaDA's logits_eos_inf: the EOS logit is -inf before sampling, so EOS is never generated",
            o => o.LogitsEosInf, (o, v) => o with { LogitsEosInf = v }),
        Opt.Of("--confidence-eos-eot-inf", nameof(SamplerSettings.ConfidenceEosEotInf),
            "LLaDA's confidence_eos_eot_inf as its code behaves: positions predicting EoT (at temperature 0 also EOS) are committed last",
            o => o.ConfidenceEosEotInf, (o, v) => o with { ConfidenceEosEotInf = v }),
    ];

    public const string LowConfidence = "low_confidence";
    public const string Random = "random";

    /// <summary>Number of semi-autoregressive blocks (valid after <see cref="Validate"/>).</summary>
    public int NumBlocks => GenLength / BlockLength;

    /// <summary>Denoising steps spent on each block (valid after <see cref="Validate"/>).</summary>
    public int StepsPerBlock => Steps / NumBlocks;

    /// <summary>Checks the settings on their own; a message names each offending value.</summary>
    public void Validate()
    {
        if (GenLength <= 0) throw new DlmException($"LLaDA sampler: gen length must be positive (got {GenLength})");
        if (BlockLength <= 0) throw new DlmException($"LLaDA sampler: block length must be positive (got {BlockLength})");
        if (Steps <= 0) throw new DlmException($"LLaDA sampler: steps must be positive (got {Steps})");
        if (GenLength % BlockLength != 0)
            throw new DlmException($"LLaDA sampler: gen length {GenLength} must be a multiple of block length {BlockLength}");
        if (Steps % NumBlocks != 0)
            throw new DlmException(
                $"LLaDA sampler: steps {Steps} must be divisible by the number of blocks {NumBlocks} (gen length {GenLength} / block length {BlockLength})");
        if (double.IsNaN(Temperature) || double.IsInfinity(Temperature) || Temperature < 0)
            throw new DlmException($"LLaDA sampler: temperature must be a finite number >= 0 (got {Temperature})");
        if (double.IsNaN(CfgScale) || double.IsInfinity(CfgScale) || CfgScale < 0)
            throw new DlmException($"LLaDA sampler: cfg scale must be a finite number >= 0 (got {CfgScale})");
        if (Remasking is not (LowConfidence or Random))
            throw new DlmException($"LLaDA sampler: unknown remasking \"{Remasking}\" (expected \"{LowConfidence}\" or \"{Random}\")");
        if (!Enum.IsDefined(Ties)) throw new DlmException($"LLaDA sampler: unknown tie rule {(int)Ties}");
        CacheModes.Check("LLaDA", Cache, CacheRefresh);
        if (Cache != CacheMode.None && CfgScale > 0)
            throw new DlmException("LLaDA sampler: classifier-free guidance (--cfg) runs a second, prompt-masked input that the block cache does not hold; use --cache none");
    }

    /// <summary>The EOS and EoT ids the options act on, checked against the model's vocabulary (-1: unused).</summary>
    internal (int Eos, int Eot) SpecialIds(ModelConfig config)
    {
        int eos = -1, eot = -1;
        if (LogitsEosInf || ConfidenceEosEotInf)
        {
            eos = EosId ?? config.EosTokenId;
            if (eos < 0 || eos >= config.VocabSize)
                throw new DlmException($"LLaDA sampler: EOS id {eos} is outside the vocabulary (size {config.VocabSize})");
        }
        if (ConfidenceEosEotInf)
        {
            eot = EotId ?? throw new DlmException(
                "LLaDA sampler: ConfidenceEosEotInf needs an EoT id (EotId; LLaDA's <|eot_id|> is 126348)");
            if (eot < 0 || eot >= config.VocabSize)
                throw new DlmException($"LLaDA sampler: EoT id {eot} is outside the vocabulary (size {config.VocabSize})");
        }
        return (eos, eot);
    }
}
