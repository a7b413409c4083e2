using System.Text.Json.Nodes;
using DiffusionLM.Analysis.Audit;
using DiffusionLM.Models;
using DiffusionLM.Reporting;
using DiffusionLM.Tests.Cli;
using Xunit;

namespace DiffusionLM.Tests.Analysis.Audit;

/// <summary><c>dlm audit</c> end to end on the tiny masked fixture, its outputs, and its errors.</summary>
[Collection("TorchGlobalState")]
public class AuditCommandTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    static readonly string[] Small = ["--trap-num-samples", "40", "--trap-train-steps", "10"];

    [Fact]
    public void AuditOfATinyMaskedModelWritesTheTableTheJsonAndTheFigure()
    {
        using var tmp = new TempFolder();
        var r = CliRunner.Run(["audit", "--model", fixture.ModelDir, "--out", tmp.Path, .. Small]);
        Assert.True(r.Code == 0, r.Err);
        var json = JsonNode.Parse(File.ReadAllText(tmp[AuditTable.JsonFile]))!;
        var family = json["families"]!.AsArray().Single()!;
        Assert.Equal("masked", (string)family["process"]!);
        Assert.Equal(fixture.ModelDir, (string)family["model"]!);
        foreach (var key in new[] { "d1", "d2", "d3", "l1", "l2" }) Assert.NotNull(family[key]);

        // D1: the masked curve is α_t·H exactly, and a masked token is erased in one step.
        var d1 = family["d1"]!;
        var times = d1["times"]!.AsArray().Select(t => (double)t!).ToArray();
        var normalised = d1["information_normalised"]!.AsArray().Select(v => (double)v!).ToArray();
        for (int k = 0; k < times.Length; k++) Assert.Equal(1 - times[k], normalised[k], 9);
        Assert.True((double)d1["token_path"]!["mean_largest_step_share"]! > 0.99);
        Assert.True((double)d1["token_path_fine"]!["mean_largest_step_share"]! > 0.99);
        Assert.Equal(80, (int)d1["token_path_fine"]!["steps"]!);
        Assert.Equal(times.Length, d1["denoiser"]!["accuracy"]!.AsArray().Count);
        Assert.NotNull(d1["spread"]!["within_window_log_prob_std"]);

        // D2 passes for the masked process; D3: committed tokens are never revised, and the NFE is the step count at both lengths.
        Assert.True((bool)family["d2"]!["passes"]!);
        var d3 = family["d3"]!;
        Assert.Equal(0.0, (double)d3["revisions_per_position"]!);
        Assert.Equal((int)d3["steps"]!, (int)d3["nfe"]!);
        Assert.True((bool)d3["steps_independent_of_length"]!);
        // L1: every intermediate state still holds masks.
        Assert.Equal(0.0, (double)family["l1"]!["valid_sequence_share"]!);
        Assert.Equal(1.0, (double)family["l1"]!["discrete_share"]!);
        var points = family["l2"]!["points"]!.AsArray();
        Assert.Equal(3, points.Count);
        Assert.All(points, p => Assert.Equal(40, (int)p!["samples"]!));

        var md = File.ReadAllText(tmp[AuditTable.MarkdownFile]);
        Assert.Contains("| **masked** (discrete)", md);
        Assert.Contains("paper ✗ ·", md);
        Assert.True(new FileInfo(tmp[AuditFigures.D1File]).Length > 10_000);
    }

    static void AssertCleanError((int Code, string Out, string Err) r, string expected)
    {
        Assert.Equal(2, r.Code);
        Assert.StartsWith("error: ", r.Err);
        Assert.Contains(expected, r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Fact]
    public void NoModelsIsAClearError()
    {
        using var tmp = new TempFolder();
        AssertCleanError(CliRunner.Run("audit", "--out", tmp.Path), "no models to audit");
        Assert.False(File.Exists(tmp[AuditTable.JsonFile]));
    }

    [Fact]
    public void AMissingFolderIsNamed()
    {
        using var tmp = new TempFolder();
        var missing = tmp["nowhere"];
        AssertCleanError(CliRunner.Run("audit", "--model", fixture.ModelDir, missing, "--out", tmp["out"]), missing);
        Assert.False(Directory.Exists(tmp["out"]));
    }

    [Fact]
    public void AnUnknownProcessIsNamed()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, Checkpoint.ConfigFile)))!;
        config["process"] = "brownian";
        File.WriteAllText(Path.Combine(dir, Checkpoint.ConfigFile), config.ToJsonString());
        AssertCleanError(CliRunner.Run("audit", "--model", dir, "--out", tmp["out"]), "\"brownian\"");
    }

    [Fact]
    public void QuickAndModelsTogetherIsAnError()
    {
        using var tmp = new TempFolder();
        AssertCleanError(CliRunner.Run("audit", "--quick", "--model", fixture.ModelDir, "--out", tmp.Path), "either --model");
    }

    [Fact]
    public void AnOutputThatIsAFileIsAnError()
    {
        using var tmp = new TempFolder();
        File.WriteAllText(tmp["file"], "x");
        AssertCleanError(CliRunner.Run("audit", "--model", fixture.ModelDir, "--out", tmp["file"]), "--out is a file");
        Assert.Equal("x", File.ReadAllText(tmp["file"]));
    }

    [Fact]
    public void AModelWithoutTrainingStateNeedsData()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        File.Delete(Path.Combine(dir, DiffusionLM.Training.TrainingState.File));
        AssertCleanError(CliRunner.Run("audit", "--model", dir, "--out", tmp["out"]), "--data");
    }

    [Fact]
    public void MeasuredMarksFollowTheirRules()
    {
        var d1 = new D1Result([0, 1], 1, [1, 0], [1, 0], 1, 1, 1, new TokenPathResult(10, 20, 1.0, 1.0), new TokenPathResult(10, 80, 0.98, 1.0),
            new DenoiserCurve(1, 1, [1], [0], [1], [0], [0], 0),
            new SpreadResult(0.5, 1, PositionSpread.Of([1]), PositionSpread.Of([0]), 0, 0, 1, 0, 0, 0, PositionSpread.Of([0.5])));
        var audit = new FamilyAudit("uniform", "m", d1,
            new D2Result(true, "x", 0.5, 10, 2, 1, 1, 0.5, true, 0.5, 0.5),
            new D3Result("s", 4, 1, 4, 0.3, 0.2, 8, 4, 4, true),
            new L1Result(4, 1.0, 1.0, 1.0),
            new TrapAuditResult("paper", "uniform", "s", 1, 0, [new TrapRatePoint(3, 1, 100, 1, 3, ""), new TrapRatePoint(1, 3, 100, 70, 1, "")]), 0);
        // A token erased in one step loses as much on a finer grid: D1 fails; a fall that shrinks with the grid passes.
        Assert.Equal("✗", AuditTable.MeasuredMark(audit, "D1"));
        Assert.Equal("✓", AuditTable.MeasuredMark(audit with { D1 = d1 with { TokenPathFine = new TokenPathResult(10, 80, 0.6, 0) } }, "D1"));
        Assert.Equal("?", AuditTable.MeasuredMark(audit with { D1 = d1 with { TokenPathFine = null } }, "D1"));
        Assert.Equal("✓", AuditTable.MeasuredMark(audit, "D2"));
        Assert.Equal("✗", AuditTable.MeasuredMark(audit with { D2 = audit.D2 with { Passes = false } }, "D2"));
        Assert.Equal("✓", AuditTable.MeasuredMark(audit, "D3"));
        Assert.Equal("◐", AuditTable.MeasuredMark(audit with { D3 = audit.D3 with { RevisionsPerPosition = 0 } }, "D3"));
        Assert.Equal("✓", AuditTable.MeasuredMark(audit, "L1"));
        Assert.Equal("✗", AuditTable.MeasuredMark(audit with { L1 = audit.L1 with { DiscreteShare = 0.1 } }, "L1"));
        // L2 is judged at the fewest steps (all words at once): 70% invalid.
        Assert.Equal("✗", AuditTable.MeasuredMark(audit, "L2"));
        Assert.Equal("✗", AuditTable.PaperMark("uniform", "D1"));
        Assert.Equal("✓", AuditTable.PaperMark("gaussian", "D1"));
        Assert.Equal("✗", AuditTable.PaperMark("gaussian", "L1"));
        Assert.Equal("✓", AuditTable.PaperMark("masked", "L1"));
    }
}
