using System.Text.RegularExpressions;
using DiffusionLM.Tests.Cli;
using System.Text.Json.Nodes;
using Xunit;
using Xunit.Abstractions;

namespace DiffusionLM.Tests.Safety;

/// <summary>
/// Issue 12's internal-error matrix, rebuilt as our own: every hostile case of <see cref="HostileCases"/> is run on the real
/// command line (in-process) and must end with exit 2 and one line naming the file, field or option (or, for a legal input,
/// exit 0), never an exception's type name or a stack trace.
/// </summary>
[Collection("TorchGlobalState")]
public partial class HostileInputMatrixTests(HostileInputFixture fixture, ITestOutputHelper output) : IClassFixture<HostileInputFixture>
{
    public static TheoryData<string> Cases => new(HostileCases.All.Select(c => c.Name));

    [Theory]
    [MemberData(nameof(Cases))]
    public void AHostileInputGetsOneClearLine(string name)
    {
        var hostile = HostileCases.All.Single(c => c.Name == name);
        using var context = new CaseContext(fixture);
        var args = hostile.Args(context);
        var (code, output, error) = CliRunner.Run(args);
        var problem = Problem(hostile.Names, code, output, error);
        Assert.True(problem is null, $"dlm {string.Join(" ", args.Select(a => a.Length > 80 ? a[..80] + "…" : a))}\n{problem}\nexit {code}\nstderr: {error}");
    }

    [Fact]
    public void TheMatrixIsLargeAndItsNamesAreUnique()
    {
        Assert.True(HostileCases.All.Count >= 60, $"{HostileCases.All.Count} cases");
        Assert.Equal(HostileCases.All.Count, HostileCases.All.Select(c => c.Name).Distinct().Count());
        // Every verb of the command line is attacked at least once.
        using var context = new CaseContext(fixture);
        var verbs = HostileCases.All.Select(c => c.Args(context).FirstOrDefault()).ToHashSet();
        foreach (var verb in new[] { "generate", "probe", "train", "eval", "inspect", "import", "export", "score", "teacher-corpus", "fuzz", "trap", "audit", "serve" })
            Assert.Contains(verb, verbs);
    }

    /// <summary>
    /// --elbo-stories 0 "skips" the held-out likelihood, as its help says: the run succeeds and quality.json is valid JSON
    /// with null held-out figures (a ratio over no stories was NaN, which the JSON writer refused with an internal error).
    /// </summary>
    [Fact]
    public void BenchQualityWithoutElboStoriesWritesNullHeldOutFigures()
    {
        using var context = new CaseContext(fixture);
        var (code, _, error) = CliRunner.Run(HostileCases.Quality(context, "--elbo-stories", "0"));
        Assert.True(code == 0, $"exit {code}: {error}");
        var text = File.ReadAllText(Path.Combine(context.Path("quality"), "quality.json"));
        var json = JsonNode.Parse(text)!;
        var models = json["models"]!.AsArray();
        output.WriteLine($"teacher_held_out: {json["teacher_held_out"]?.ToJsonString() ?? "null"}; models: {models.Count}, " +
            $"held_out: {string.Join(", ", models.Select(m => m!["held_out"]?.ToJsonString() ?? "null"))}; NaN in the file: {text.Contains("NaN")}");
        Assert.Null(json["teacher_held_out"]);
        Assert.NotEmpty(models);
        Assert.All(models, m => Assert.Null(m!["held_out"]));
        Assert.DoesNotContain("NaN", text);
        Assert.Contains("skipped (--elbo-stories 0)", File.ReadAllText(Path.Combine(context.Path("quality"), "quality.md")));
    }

    [GeneratedRegex(@"\b(System\.)?[A-Z][A-Za-z]*(Exception|Error)\b")]
    private static partial Regex ExceptionTypeName();

    /// <summary>What is wrong with a run's outcome, or null when it is a clean error naming <paramref name="names"/> (or a success).</summary>
    public static string? Problem(string? names, int code, string output, string error)
    {
        if (error.Contains("   at ") || output.Contains("   at ")) return "a stack trace";
        if (ExceptionTypeName().Match(error) is { Success: true } m) return $"an exception's type name: {m.Value}";
        if (error.Contains("internal error")) return "an internal error";
        if (names is null) return code == 0 ? null : $"a legal input failed with exit {code}";
        if (code != 2) return $"exit {code}, not 2";
        var lines = error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var errors = lines.Select((l, i) => (l, i)).Where(x => x.l.StartsWith("error: ")).ToList();
        if (errors.Count != 1) return $"{errors.Count} error lines, not one";
        var (line, at) = errors[0];
        var after = lines.Skip(at + 1).ToList();
        if (after.Count > 1 || (after.Count == 1 && !(after[0].StartsWith("see `dlm") && after[0].EndsWith("--help`"))))
            return "more than one line of error";
        if (!line.Contains(names, StringComparison.Ordinal)) return $"the error does not name {names}";
        return null;
    }

    // ---- the verdict itself must be able to fail ----

    [Theory]
    [InlineData(3, "error: IndexOutOfRangeException: Index was outside the bounds of the array.\n(internal error; set DLM_DEBUG=1 for the stack trace)\n")]
    [InlineData(2, "error: --steps 0: must be positive\n   at DiffusionLM.Cli.Program.Run()\n")]
    [InlineData(2, "error: InvalidOperationException: --steps 0\n")]
    [InlineData(2, "error: the option is wrong\n")]
    [InlineData(2, "error: --steps 0: must be positive\nerror: --steps again\n")]
    [InlineData(2, "error: --steps 0: must be positive\nand a second line of prose\n")]
    [InlineData(1, "error: --steps 0: must be positive\n")]
    [InlineData(0, "")]
    public void TheVerdictRejectsEveryKindOfUnclearError(int code, string error)
        => Assert.NotNull(Problem("--steps", code, "", error));

    [Theory]
    [InlineData("error: --steps 0: must be positive\n")]
    [InlineData("error: Unrecognized command or argument '--steps'.\nsee `dlm generate --help`\n")]
    [InlineData("probing 2 prompts: 1/2  [0:00:02.0]\nerror: --steps 0: must be positive\n")]
    public void TheVerdictAcceptsAClearError(string error) => Assert.Null(Problem("--steps", 2, "", error));

    [Fact]
    public void TheVerdictRejectsALegalInputThatFails() => Assert.NotNull(Problem(null, 2, "", "error: --steps 0: must be positive\n"));
}
