using System.Globalization;
using System.Reflection;

namespace DiffusionLM.Sampling;

/// <summary>
/// One setting a sampler takes from the user: its flag (as <c>dlm generate</c> spells it), a one-line description, the
/// <see cref="SamplerSettings"/> property the user's value arrives in, and how that value is written into the sampler's
/// options record. The default is never stated here: it is the options record's own (read from the registry entry's
/// basis, <see cref="SamplerRegistry.Entry.Basis"/>), so help text and behaviour cannot disagree.
/// </summary>
public abstract class SamplerOption
{
    private protected SamplerOption(string flag, string setting, string help)
    {
        Flag = flag; Setting = setting; Help = help;
        SettingProperty = typeof(SamplerSettings).GetProperty(setting)
            ?? throw new InvalidOperationException($"{flag}: SamplerSettings has no property {setting}");
    }

    /// <summary>The command-line flag, e.g. "--threshold".</summary>
    public string Flag { get; }
    /// <summary>The <see cref="SamplerSettings"/> property that carries the user's value; null there means "not given".</summary>
    public string Setting { get; }
    /// <summary>What the option does, in one line, without its default (that is printed from the options record).</summary>
    public string Help { get; }
    /// <summary>The values a string option accepts, for help text and tests; null: any value of the type.</summary>
    public IReadOnlyList<string>? Choices { get; init; }
    /// <summary>
    /// A setting of the run's shape that the verb owns with its own default (gen length, steps, block length, temperature,
    /// cache, special-token ids): always applied, never listed per sampler. False: the sampler's own option, whose
    /// default is the options record's.
    /// </summary>
    public bool Shared { get; init; }
    /// <summary>When <see cref="Setting"/> is null, the value of this other setting is taken (block length: the gen length).</summary>
    public string? Fallback { get; init; }

    internal PropertyInfo SettingProperty { get; }

    /// <summary>The value type the options record holds (double, int, string, bool, their nullable forms, an enum).</summary>
    public abstract Type ValueType { get; }

    /// <summary>The option's value in a sampler's options record (its default when the record is an entry's basis).</summary>
    public abstract object? ValueIn(ISamplerOptions options);

    /// <summary>The options with the user's value written in; unchanged when the user gave none.</summary>
    public abstract ISamplerOptions Bind(ISamplerOptions options, SamplerSettings settings);

    /// <summary>The user's value in <paramref name="settings"/>, or null when not given.</summary>
    public object? Given(SamplerSettings settings) =>
        SettingProperty.GetValue(settings) ?? (Fallback is null ? null : typeof(SamplerSettings).GetProperty(Fallback)!.GetValue(settings));

    /// <summary>A value as help text prints it (invariant culture, round-trippable numbers, enum names in lower case).</summary>
    public static string Format(object? value) => value switch
    {
        null => "none",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        bool b => b ? "on" : "off",
        Enum e => e.ToString().ToLowerInvariant(),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

}

/// <inheritdoc/>
public sealed class SamplerOption<TOptions, T> : SamplerOption where TOptions : ISamplerOptions
{
    readonly Func<TOptions, T> _get;
    readonly Func<TOptions, T, TOptions> _set;

    internal SamplerOption(string flag, string setting, string help, Func<TOptions, T> get, Func<TOptions, T, TOptions> set) : base(flag, setting, help)
    {
        _get = get; _set = set;
        // The settings property holds T, or T? for a value the user may leave out.
        var held = SettingProperty.PropertyType;
        var plain = Nullable.GetUnderlyingType(typeof(T)) ?? typeof(T);
        if ((Nullable.GetUnderlyingType(held) ?? held) != plain)
            throw new InvalidOperationException($"{flag}: SamplerSettings.{setting} holds {held.Name}, the options record {typeof(T).Name}");
    }

    public override Type ValueType => typeof(T);

    public override object? ValueIn(ISamplerOptions options) => _get(Cast(options));

    public override ISamplerOptions Bind(ISamplerOptions options, SamplerSettings settings) =>
        Given(settings) is { } v ? _set(Cast(options), (T)v) : options;

    TOptions Cast(ISamplerOptions options) => options is TOptions t ? t
        : throw new InvalidOperationException($"{Flag} belongs to {typeof(TOptions).Name}, not {options.GetType().Name}");
}

/// <summary>
/// The options of one options record, built with <typeparamref name="TOptions"/> fixed (a file aliases it:
/// <c>using Opt = OptionsOf&lt;FastDllmOptions&gt;</c>). The shared ones are the run's shape, owned by the verb
/// (<c>--gen-length</c>, <c>--steps</c>, <c>--block-length</c>, <c>--temperature</c>, <c>--cache</c>, <c>--cache-refresh</c>) or by the model
/// (EOS and EoT ids): one description each, for every record that has them.
/// </summary>
public static class OptionsOf<TOptions> where TOptions : ISamplerOptions
{
    /// <summary>A sampler's own option, held as <typeparamref name="T"/>.</summary>
    /// <param name="get">reads the option from the record.</param>
    /// <param name="set">writes the user's value into a copy of the record (<c>o with { X = v }</c>).</param>
    public static SamplerOption<TOptions, T> Of<T>(string flag, string setting, string help, Func<TOptions, T> get, Func<TOptions, T, TOptions> set,
        IReadOnlyList<string>? choices = null) => new(flag, setting, help, get, set) { Choices = choices };

    public static SamplerOption<TOptions, int> GenLength(Func<TOptions, int> get, Func<TOptions, int, TOptions> set) =>
        new("--gen-length", nameof(SamplerSettings.GenLength), "tokens to generate", get, set) { Shared = true };

    public static SamplerOption<TOptions, int> Steps(Func<TOptions, int> get, Func<TOptions, int, TOptions> set) =>
        new("--steps", nameof(SamplerSettings.Steps), "denoising steps in all", get, set) { Shared = true };

    public static SamplerOption<TOptions, int> BlockLength(Func<TOptions, int> get, Func<TOptions, int, TOptions> set) =>
        new("--block-length", nameof(SamplerSettings.BlockLength), "semi-autoregressive block length (not given: the gen length, one block)", get, set)
        { Shared = true, Fallback = nameof(SamplerSettings.GenLength) };

    public static SamplerOption<TOptions, double> Temperature(Func<TOptions, double> get, Func<TOptions, double, TOptions> set) =>
        new("--temperature", nameof(SamplerSettings.Temperature), "0: greedy; above 0 (at most 16): sampling at this temperature", get, set) { Shared = true };

    public static SamplerOption<TOptions, CacheMode> Cache(Func<TOptions, CacheMode> get, Func<TOptions, CacheMode, TOptions> set) =>
        new("--cache", nameof(SamplerSettings.Cache), CacheModes.Help, get, set) { Shared = true, Choices = CacheModes.Names };

    public static SamplerOption<TOptions, int> CacheRefresh(Func<TOptions, int> get, Func<TOptions, int, TOptions> set) =>
        new("--cache-refresh", nameof(SamplerSettings.CacheRefresh), CacheModes.RefreshHelp, get, set) { Shared = true };

    /// <summary>Not a flag: the command line passes the model's EOS id.</summary>
    public static SamplerOption<TOptions, int?> EosId(Func<TOptions, int?> get, Func<TOptions, int?, TOptions> set) =>
        new("eos id", nameof(SamplerSettings.EosId), "the EOS id the EOS options act on (the model's)", get, set) { Shared = true };

    public static SamplerOption<TOptions, int?> EotId(Func<TOptions, int?> get, Func<TOptions, int?, TOptions> set) =>
        new("--eot-id", nameof(SamplerSettings.EotId), "end-of-turn id for --confidence-eos-eot-inf", get, set) { Shared = true };
}
