namespace DiffusionLM.Corruption.Masking;

/// <summary>Per-token tables the frequency-aware corruptions derive from the training split's unigram counts.</summary>
public static class TokenScores
{
    /// <summary>DiffusionBERT's f(v) = log(1 + count(v)) / max_v log(1 + count(v)), in [0, 1]; the mask token gets 0.</summary>
    public static double[] SpindleFrequency(long[] counts, int maskId)
    {
        var f = counts.Select((c, v) => v == maskId ? 0.0 : Math.Log(1.0 + Math.Max(0, c))).ToArray();
        double max = f.Max();
        if (max <= 0) throw new DlmException("spindle: the unigram counts are all zero");
        return f.Select(x => x / max).ToArray();
    }

    /// <summary>
    /// The exponents λ(v) = exp(−β·z(v)) of <see cref="InformationMasking"/>: s(v) = −log p̂(v) is the information
    /// (nats) a token v carries under the add-one-smoothed unigram p̂ (the mask token excluded), z = (s − E_p̂ s)/sd_p̂(s)
    /// its standardised value, clipped to [−3, 3]. The mask token gets λ = 1.
    /// </summary>
    public static double[] InformationRates(long[] counts, int maskId, double strength = InformationMasking.DefaultStrength)
    {
        int v = counts.Length;
        var smoothed = counts.Select((c, i) => i == maskId ? 0.0 : Math.Max(0, c) + 1.0).ToArray();
        double total = smoothed.Sum();
        if (total <= 0) throw new DlmException("information: the unigram counts are empty");
        var p = smoothed.Select(x => x / total).ToArray();
        var s = p.Select(x => x > 0 ? -Math.Log(x) : 0.0).ToArray();
        double mean = 0, var = 0;
        for (int i = 0; i < v; i++) mean += p[i] * s[i];
        for (int i = 0; i < v; i++) var += p[i] * (s[i] - mean) * (s[i] - mean);
        double sd = Math.Sqrt(var);
        return Enumerable.Range(0, v).Select(i =>
        {
            if (i == maskId) return 1.0;
            double z = sd > 0 ? Math.Clamp((s[i] - mean) / sd, -3, 3) : 0.0;
            return Math.Exp(-strength * z);
        }).ToArray();
    }
}
