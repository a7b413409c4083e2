using DiffusionLM.Fuzzing;
using Xunit;

namespace DiffusionLM.Tests.Safety;

/// <summary>500 seeded mutants per parser of untrusted files: each is accepted or refused with a clear error, in under a second.</summary>
[Collection("TorchGlobalState")]
public class FuzzTests
{
    public static TheoryData<string> Targets => new(FuzzTargets.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(Targets))]
    public void FiveHundredMutantsNoCrashNoHang(string target)
    {
        var seeds = FuzzRunner.LoadSeeds(Path.Combine(RepoPaths.Root, "data", "fuzz"), target);
        using var tmp = new TempFolder();
        var report = new FuzzRunner(FuzzTargets.Find(target), seeds, seed: 12) { FailuresDir = tmp.Path }.Run(500);
        Assert.True(report.Failures.Count == 0, string.Join("\n", report.Failures.Select(f => $"{f.Kind} at {f.Input}: {f.Message}")));
        // The mutants reach past the first checks: some are still accepted, most are refused.
        Assert.True(report.Accepted >= seeds.Count && report.Rejected > 0, $"{report.Accepted} accepted, {report.Rejected} refused");
    }

    [Fact]
    public void TheMutatorIsReproducibleFromItsSeed()
    {
        byte[][] corpus = [System.Text.Encoding.UTF8.GetBytes("{\"a\": [1, 2, 3]}")];
        var a = new Mutator(new Random(5), corpus, ["{"]);
        var b = new Mutator(new Random(5), corpus, ["{"]);
        for (int i = 0; i < 50; i++) Assert.Equal(a.Next(), b.Next());
    }
}
