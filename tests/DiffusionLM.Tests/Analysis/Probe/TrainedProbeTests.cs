using Xunit;
using System.Text.Json;
using DiffusionLM.Analysis.Probe;
using DiffusionLM.Cli;
using DiffusionLM.Reporting;

namespace DiffusionLM.Tests.Analysis.Probe;

/// <summary>The probe on a model that has learnt something known (<see cref="TinyProbeModel"/>), and the command line end to end.</summary>
[Collection("TorchGlobalState")]
public class TrainedProbeTests(TinyProbeModel tiny) : IClassFixture<TinyProbeModel>
{
    ProbeResult Probe(int prompts, StepwiseOptions? stepwise = null)
    {
        var set = tiny.KnownNextPrompts(prompts).Select((p, i) => new ProbePrompt($"w{i}", p.Text, $"tiny:{i + 1}")).ToArray();
        var unigram = UnigramReference.TryLoad(tiny.Folder, tiny.Model.Config.VocabSize)!;
        return new InformationProbe(tiny.Model, tiny.Tokenizer, unigram).Run(set, new ProbeOptions(Masks: TinyProbeModel.Masks, BatchSize: 8), stepwise);
    }

    [Fact]
    public void TopOneAtTheFirstMaskIsTheKnownNextTokenAndEntropyRisesWithDistance()
    {
        var known = tiny.KnownNextPrompts(12);
        Assert.Equal(12, known.Count);
        var r = Probe(12);
        for (int p = 0; p < known.Count; p++)
        {
            var first = r.Prompts[p].Top[0][0];
            Assert.True(first.Id == known[p].Next,
                $"prompt \"{known[p].Text}\": top-1 at the first mask is \"{first.Text}\" ({first.Probability:F2}), expected \"{tiny.Tokenizer.TokenText(known[p].Next)}\" (training loss {tiny.FinalLoss:F3})");
            Assert.True(first.Probability > 0.6, $"p(next) = {first.Probability:F2} (training loss {tiny.FinalLoss:F3})");
        }
        var h = r.Aggregate.Entropy.Select(e => e.Mean).ToArray();
        // Next to the prompt the continuation is known; 4-12 tokens away the next sentence is a 1-in-4 draw
        // and the answer may already have ended.
        Assert.True(h[0] < 0.3, $"entropy at position 1: {h[0]:F3}");
        double middle = h[3..12].Average();
        Assert.True(middle > h[0] + 0.5, $"entropy at 4-12: {middle:F3}, at 1: {h[0]:F3}");
        Assert.True(r.Aggregate.Entropy[0].High < r.Aggregate.Entropy[6].Low, "the intervals separate position 1 from position 7");
        // eos far out: answers were 1..24 tokens long, so eos dominates the last positions.
        var eos = r.Aggregate.EosMass.Select(e => e.Mean).ToArray();
        Assert.True(eos[0] < 0.05, $"eos mass at 1: {eos[0]:F3}");
        Assert.True(eos[^4..].Average() > 0.6, $"eos mass at 21-24: {eos[^4..].Average():F3}");
        // The prompt's information falls with distance, by both estimates.
        Assert.True(r.Aggregate.MutualInformation[0] > r.Aggregate.MutualInformation[^1] + 0.3);
        Assert.True(r.Aggregate.PromptInformation[0].Mean > r.Aggregate.PromptInformation[^1].Mean);
        // Content mass agrees with the top-1 and with eos (eos is structural): a content top-1 is part of the
        // content mass, a structural top-1 is not.
        foreach (var prompt in r.Prompts)
            for (int i = 0; i < TinyProbeModel.Masks; i++)
            {
                double content = prompt.ContentMass[i], top = prompt.Top[i][0].Probability;
                Assert.InRange(content + prompt.EosMass[i], 0, 1 + 1e-9);
                if (prompt.Top1Structural[i]) Assert.True(content <= 1 - top + 1e-9, $"position {i + 1}: content {content:F3}, structural top-1 {top:F3}");
                else Assert.True(content >= top - 1e-9, $"position {i + 1}: content {content:F3} below its content top-1 {top:F3}");
            }
    }

    [Fact]
    public void StepwiseProbeStartsAtTheSinglePassAndCommitsAsScheduled()
    {
        const int steps = 4;
        var r = Probe(6, new StepwiseOptions("llada", steps));
        var s = r.Stepwise!;
        Assert.Equal(steps, s.MeanEntropy.Length);
        // Step 0 is the single pass: the sampler's forward on the all-mask completion.
        for (int p = 0; p < r.Prompts.Count; p++)
            for (int i = 0; i < TinyProbeModel.Masks; i++)
                Assert.Equal(r.Prompts[p].Entropy[i], s.Entropy[p][0][i], 5);
        // 24 masks in 4 steps: 6 commits per step in every prompt.
        for (int j = 0; j < steps; j++)
            Assert.Equal(TinyProbeModel.Masks - 6 * j, s.MaskedShare[j].Sum(), 9);
        // A position has no entropy exactly where every prompt has committed it.
        for (int j = 0; j < steps; j++)
            for (int i = 0; i < TinyProbeModel.Masks; i++)
                Assert.Equal(s.MaskedShare[j][i] == 0, double.IsNaN(s.MeanEntropy[j][i].Mean));
        Assert.Contains(s.MaskedShare[steps - 1], share => share == 0);
        Assert.All(s.Completions, c => Assert.False(string.IsNullOrEmpty(c)));
    }

    [Fact]
    public void CommandLineWritesTheReport()
    {
        using var dir = new TempFolder();
        File.WriteAllLines(dir["prompts.txt"], tiny.KnownNextPrompts(5).Select(p => p.Text));
        var (rc, _, err) = Cli("probe", "--model", tiny.Folder, "--prompts", dir["prompts.txt"], "--masks", "24", "--out", dir["out"], "--steps", "3", "--figure-prompt", "1", "--block-length", "8");
        Assert.True(rc == 0, err);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["out"], ProbeReport.JsonFile)));
        var root = json.RootElement;
        Assert.Equal(5, root.GetProperty("prompt_count").GetInt32());
        var aggregate = root.GetProperty("aggregate");
        foreach (var name in new[] { "entropy", "kl_unigram", "structural_share", "content_mass", "prompt_information", "eos_mass" })
        {
            var arr = aggregate.GetProperty(name);
            Assert.Equal(24, arr.GetArrayLength());
            var e = arr[3];
            Assert.True(e.GetProperty("ci_low").GetDouble() <= e.GetProperty("mean").GetDouble());
            Assert.True(e.GetProperty("mean").GetDouble() <= e.GetProperty("ci_high").GetDouble());
        }
        var prompt = root.GetProperty("prompts")[2];
        Assert.Equal(24, prompt.GetProperty("entropy").GetArrayLength());
        Assert.Equal(3, prompt.GetProperty("top")[0].GetArrayLength());
        Assert.Equal(3, root.GetProperty("stepwise").GetProperty("entropy").GetArrayLength());
        Assert.Equal(25, File.ReadAllLines(Path.Combine(dir["out"], ProbeReport.CsvFile)).Length);
        Assert.Equal(1 + 5 * 24, File.ReadAllLines(Path.Combine(dir["out"], ProbeReport.PromptsCsvFile)).Length);
        foreach (var png in new[] { ProbeFigures.Figure2File, ProbeFigures.HeatmapFile, ProbeFigures.MeasuresFile, ProbeFigures.StepwiseFile })
        {
            var bytes = File.ReadAllBytes(Path.Combine(dir["out"], png));
            Assert.True(bytes.Length > 5000 && bytes[1] == 'P' && bytes[2] == 'N' && bytes[3] == 'G', png);
        }
    }

    [Fact]
    public void CommandLineErrorsAreClear()
    {
        using var dir = new TempFolder();
        File.WriteAllLines(dir["prompts.txt"], tiny.KnownNextPrompts(2).Select(p => p.Text));
        File.WriteAllText(dir["long.txt"], string.Join(" ", Enumerable.Repeat("alpha bravo charlie delta echo.", 6)) + "\n");
        File.WriteAllText(dir["bad.jsonl"], "{\"turns\": [\"fine\"]}\nnot json\n");
        File.WriteAllText(dir["empty.txt"], "");
        string[] Args(string prompts, params string[] more) => ["probe", "--model", tiny.Folder, "--prompts", prompts, "--out", dir["out"], .. more];

        AssertError(Cli(Args(dir["prompts.txt"], "--masks", "0")), "--masks must be positive");
        AssertError(Cli(Args(dir["prompts.txt"], "--masks", "32")), "leaves no room for a prompt");
        AssertError(Cli(Args(dir["long.txt"], "--masks", "24", "--no-truncate")), "drop --no-truncate");
        AssertError(Cli(Args(dir["bad.jsonl"])), "bad.jsonl:2: not valid JSON");
        AssertError(Cli(Args(dir["empty.txt"])), "empty.txt: no prompts found");
        AssertError(Cli(Args(dir["prompts.txt"], "--masks", "24", "--steps", "30")), "--steps 30 is more than --masks 24");
        AssertError(Cli(Args(dir["prompts.txt"], "--masks", "24", "--steps", "4", "--sampler", "nope")), "unknown sampler \"nope\"");
        Assert.False(Directory.Exists(dir["out"]), "no report folder after an error");

        // A model folder without unigram.json: refused unless --no-unigram.
        var bare = dir["bare"];
        Directory.CreateDirectory(bare);
        foreach (var f in Directory.GetFiles(tiny.Folder).Where(f => !f.EndsWith("unigram.json"))) File.Copy(f, Path.Combine(bare, Path.GetFileName(f)));
        var noUnigram = Cli("probe", "--model", bare, "--prompts", dir["prompts.txt"], "--masks", "24", "--out", dir["out"]);
        AssertError(noUnigram, "--no-unigram");
        var (rc, _, err) = Cli("probe", "--model", bare, "--prompts", dir["prompts.txt"], "--masks", "24", "--out", dir["out"], "--no-unigram");
        Assert.True(rc == 0, err);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["out"], ProbeReport.JsonFile)));
        Assert.Equal(JsonValueKind.Null, json.RootElement.GetProperty("aggregate").GetProperty("kl_unigram").ValueKind);

        // By default a prompt too long for its masks is cut from the left, and the report counts it.
        var cut = Cli("probe", "--model", tiny.Folder, "--prompts", dir["long.txt"], "--masks", "24", "--out", dir["cut"]);
        Assert.True(cut.Rc == 0, cut.Err);
        using var cutJson = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir["cut"], ProbeReport.JsonFile)));
        Assert.Equal(1, cutJson.RootElement.GetProperty("truncated_prompts").GetInt32());
        Assert.True(cutJson.RootElement.GetProperty("truncated_tokens").GetInt32() > 0);
        Assert.Contains("1 of 1 prompts were cut from the left", File.ReadAllText(Path.Combine(dir["cut"], ProbeReport.SummaryFile)));
    }

    static void AssertError((int Rc, string Out, string Err) result, string expected)
    {
        Assert.Equal(2, result.Rc);
        Assert.Contains(expected, result.Err);
    }

    static (int Rc, string Out, string Err) Cli(params string[] args)
    {
        var (oldOut, oldErr) = (Io.Out, Io.Err);
        var (o, e) = (new StringWriter(), new StringWriter());
        Io.Out = o;
        Io.Err = e;
        try { return (Program.Run(args), o.ToString(), e.ToString()); }
        finally { Io.Out = oldOut; Io.Err = oldErr; }
    }
}
