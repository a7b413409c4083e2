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
        OptionRanges.NonNegative("--temperature", s.Temperature);
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
    }
}
