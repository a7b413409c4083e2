namespace DiffusionLM.Cli;

/// <summary>Range checks of numeric options, each a one-line error naming the option (a NaN or infinity is never in range).</summary>
public static class OptionRanges
{
    public static void Positive(string option, double? value)
    {
        if (value is double v && !(double.IsFinite(v) && v > 0)) throw new DlmException($"{option} {Show(v)}: must be a finite number above 0");
    }

    public static void Positive(string option, int? value)
    {
        if (value is int v && v <= 0) throw new DlmException($"{option} {v}: must be positive");
    }

    public static void NonNegative(string option, double? value)
    {
        if (value is double v && !(double.IsFinite(v) && v >= 0)) throw new DlmException($"{option} {Show(v)}: must be a finite number, 0 or above");
    }

    public static void Between(string option, double? value, double lo, double hi)
    {
        if (value is double v && !(v >= lo && v <= hi)) throw new DlmException($"{option} {Show(v)}: must be between {Show(lo)} and {Show(hi)}");
    }

    static string Show(double v) => v.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}
