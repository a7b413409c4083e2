using DiffusionLM.Sampling;

namespace DiffusionLM.Cli;

/// <summary>
/// The ranges of the sampler options generate takes, refused before any work with the option's name: a NaN or an
/// infinite temperature, a --threshold of 1.5, a negative guidance scale are nonsense the samplers would run with.
/// </summary>
public static class SamplerOptionRanges
{
    public static void Check(SamplerSettings s)
    {
        OptionRanges.Positive("--gen-length", s.GenLength);
        OptionRanges.Positive("--steps", s.Steps);
        OptionRanges.Positive("--block-length", s.BlockLength);
        SamplingOps.CheckTemperature("--temperature", s.Temperature);
        OptionRanges.NonNegative("--cfg", s.CfgScale);
        OptionRanges.Between("--threshold", s.Threshold, 0, 1);
        OptionRanges.Positive("--factor", s.Factor);
        OptionRanges.NonNegative("--alg-temp", s.AlgTemp);
        if (s.TopP is double p && !(p > 0 && p <= 1)) throw new DlmException($"--top-p {p}: must be in (0, 1]");
        OptionRanges.Positive("--top-k", s.TopK);
        if (s.Eps is double e && !(e > 0 && e < 1)) throw new DlmException($"--eps {e}: must be in (0, 1)");
        OptionRanges.Between("--eta", s.Eta, 0, 1);
        OptionRanges.Between("--t-on", s.TOn, 0, 1);
        OptionRanges.Between("--t-off", s.TOff, 0, 1);
        OptionRanges.Between("--alpha-on", s.AlphaOn, 0, 1);
        OptionRanges.NonNegative("--gamma", s.Gamma);
        if (s.Candidates is < 0) throw new DlmException($"--candidates {s.Candidates}: must be 0 (no probe) or more");
        OptionRanges.Positive("--probes", s.Probes);
        if (s.AnchorsPerStep is < 0) throw new DlmException($"--anchors-per-step {s.AnchorsPerStep}: must be 0 (no limit) or more");
        if (s.Alg is string alg && !DreamOptions.Algs.Contains(alg)) throw new DlmException($"--alg \"{alg}\": expected one of {string.Join(", ", DreamOptions.Algs)}");
        if (s.RemdmStrategy is string st && !RemdmOptions.Strategies.Contains(st)) throw new DlmException($"--remdm-strategy \"{st}\": expected one of {string.Join(", ", RemdmOptions.Strategies)}");
        Remasking(s.Remasking);
        var remdm = new RemdmOptions();
        if ((s.TOn is not null || s.TOff is not null) && !((s.TOff ?? remdm.TOff) < (s.TOn ?? remdm.TOn)))
            throw new DlmException($"--t-on {s.TOn ?? remdm.TOn} must lie above --t-off {s.TOff ?? remdm.TOff}: the remasking plateau runs from t_on down to t_off");
        Blocks(s.GenLength, s.Steps, s.BlockLength, "--gen-length");
    }

    /// <summary>null: not given (the sampler's own default applies).</summary>
    public static void Remasking(string? remasking)
    {
        if (remasking is not null and not (LladaSamplerOptions.LowConfidence or LladaSamplerOptions.Random))
            throw new DlmException($"--remasking \"{remasking}\": expected {LladaSamplerOptions.LowConfidence} or {LladaSamplerOptions.Random}");
    }

    /// <summary>
    /// An explicit --block-length must divide the tokens to generate (<paramref name="lengthOption"/>) and leave the
    /// steps evenly spread over the blocks; the samplers check it too, but without the options' names.
    /// </summary>
    public static void Blocks(int length, int steps, int? blockLength, string lengthOption)
    {
        if (blockLength is not int b || b <= 0 || length <= 0) return;
        if (length % b != 0) throw new DlmException($"{lengthOption} {length} must be a multiple of --block-length {b}");
        if (steps > 0 && steps % (length / b) != 0)
            throw new DlmException($"--steps {steps} must be divisible by the number of blocks {length / b} ({lengthOption} {length} / --block-length {b})");
    }
}
