using System.Globalization;
using System.Reflection;
using DiffusionLM.Cli.Commands;
using DiffusionLM.Sampling;
using Xunit;
using Xunit.Sdk;

namespace DiffusionLM.Tests.Sampling;

/// <summary>
/// Every registered sampler × every option it takes, walked by reflection: the default help prints is the value the
/// sampler runs with when the user gives nothing, and a value the user gives reaches the sampler's options record.
/// Each check rejects a deliberately broken variant (a setter that drops the value, help printed from the record's
/// declared default where the entry presets another).
/// </summary>
public class SamplerOptionTests
{
    public static TheoryData<string, string> EveryOption()
    {
        var d = new TheoryData<string, string>();
        foreach (var e in SamplerRegistry.All)
            foreach (var o in e.Options) d.Add(e.Name, o.Flag);
        return d;
    }

    public static TheoryData<string, string> EveryOwnOption()
    {
        var d = new TheoryData<string, string>();
        foreach (var e in SamplerRegistry.All)
            foreach (var o in e.OwnOptions) d.Add(e.Name, o.Flag);
        return d;
    }

    static ISamplerOptions Running(SamplerRegistry.Entry e, SamplerSettings s) =>
        Assert.IsAssignableFrom<IConfiguredSampler>(e.Create(s)).Options;

    /// <summary>A valid value other than <paramref name="current"/> for the option's type.</summary>
    static object Other(SamplerOption o, object? current)
    {
        var t = Nullable.GetUnderlyingType(o.ValueType) ?? o.ValueType;
        if (t.IsEnum) return Enum.GetValues(t).Cast<object>().First(v => !v.Equals(current));
        if (o.Choices is { } choices) return choices.First(c => !Equals(c, current));
        if (t == typeof(bool)) return !(bool)(current ?? false);
        if (t == typeof(int)) { int d = (int?)current ?? 0; return d > 1 ? d / 2 : d + 1; }
        if (t == typeof(double)) { double d = (double?)current ?? 0; return d > 0 ? d / 2 : 0.5; }
        throw new InvalidOperationException($"{o.Flag}: no test value for {t.Name}");
    }

    /// <summary>The user's settings with <paramref name="value"/> written into the option's <see cref="SamplerOption.Setting"/>.</summary>
    static SamplerSettings Giving(SamplerOption o, object value)
    {
        // An option that only applies beside another is given with it: a cache refresh needs a cache.
        var s = o.Setting == nameof(SamplerSettings.CacheRefresh) ? new SamplerSettings() with { Cache = CacheMode.Dual } : new SamplerSettings() with { };
        typeof(SamplerSettings).GetProperty(o.Setting)!.SetValue(s, value);
        return s;
    }

    static void AssertGivenValueReaches(SamplerRegistry.Entry e, SamplerOption o)
    {
        object value = Other(o, o.ValueIn(Running(e, new SamplerSettings())));
        Assert.Equal(value, o.ValueIn(Running(e, Giving(o, value))));
    }

    [Theory]
    [MemberData(nameof(EveryOption))]
    public void AValueTheUserGivesReachesTheSampler(string name, string flag)
    {
        var e = SamplerRegistry.Find(name);
        AssertGivenValueReaches(e, e.Option(flag)!);
    }

    [Fact]
    public void AnOptionThatDropsTheValueIsCaught()
    {
        var e = SamplerRegistry.Find("mdlm");
        var dropped = OptionsOf<MdlmOptions>.Of("--eps", nameof(SamplerSettings.Eps), "mutant", o => o.Eps, (o, _) => o);
        var mutant = e with { Options = [.. e.Options.Where(o => o.Flag != "--eps"), dropped] };
        Assert.ThrowsAny<XunitException>(() => AssertGivenValueReaches(mutant, dropped));
    }

    static void AssertHelpPrintsRunningDefault(SamplerRegistry.Entry e, SamplerOption o, Func<SamplerRegistry.Entry, SamplerOption, string> printed)
    {
        string running = SamplerOption.Format(o.ValueIn(Running(e, new SamplerSettings())));
        Assert.Equal(running, printed(e, o));
    }

    [Theory]
    [MemberData(nameof(EveryOwnOption))]
    public void HelpPrintsTheDefaultTheSamplerRunsWith(string name, string flag)
    {
        var e = SamplerRegistry.Find(name);
        var o = e.Option(flag)!;
        AssertHelpPrintsRunningDefault(e, o, SamplerHelp.Default);
        string running = SamplerHelp.Default(e, o);
        Assert.Contains($"{o.Flag}{(o.Choices is { } c ? " " + string.Join("|", c) : "")}: {o.Help} (default {running})", SamplerHelp.Entry(e));
        Assert.Contains($"{running}: ", SamplerHelp.Describe(flag));
    }

    /// <summary>The options record's declared defaults (its primary constructor with every argument left out).</summary>
    static ISamplerOptions Declared(Type record) => (ISamplerOptions)Activator.CreateInstance(record,
        BindingFlags.CreateInstance | BindingFlags.Public | BindingFlags.Instance | BindingFlags.OptionalParamBinding, null,
        record.GetConstructors().Single(c => c.GetParameters().Length > 0 && c.GetParameters().All(p => p.IsOptional))
            .GetParameters().Select(_ => Type.Missing).ToArray(), CultureInfo.InvariantCulture)!;

    [Fact]
    public void HelpFromTheRecordsDeclaredDefaultIsCaughtWhereAnEntryPresetsAnother()
    {
        // fast_dllm_factor runs with FastDllmOptions.DefaultFactor; the record declares null (the threshold variant).
        var e = SamplerRegistry.Find("fast_dllm_factor");
        var o = e.Option("--factor")!;
        Assert.ThrowsAny<XunitException>(() => AssertHelpPrintsRunningDefault(e, o, (en, op) => SamplerOption.Format(op.ValueIn(Declared(en.Basis.GetType())))));
    }

    [Fact]
    public void EveryEntryTakesOptionsOfItsOwnRecordWhichDeclaresItsDefaults()
    {
        foreach (var e in SamplerRegistry.All)
        {
            var settable = (IReadOnlyList<SamplerOption>)e.Basis.GetType().GetProperty("Settable", BindingFlags.Public | BindingFlags.Static)!.GetValue(null)!;
            Assert.All(e.Options, o => Assert.Contains(o, settable));
            Assert.NotNull(Declared(e.Basis.GetType()));
        }
    }

    [Fact]
    public void GenerateTakesEverySamplerOptionWithTheGeneratedDescription()
    {
        var generate = GenerateCommand.Create();
        foreach (var flag in SamplerHelp.OwnFlags())
        {
            var option = generate.Options.SingleOrDefault(o => o.Name == flag);
            Assert.True(option is not null, $"dlm generate has no {flag}");
            Assert.StartsWith(SamplerHelp.Describe(flag), option!.Description);
        }
    }
}
