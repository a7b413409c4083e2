using System.Text.Json;
using System.Text.RegularExpressions;
using DiffusionLM.Models;
using DiffusionLM.Training;
using Xunit;

namespace DiffusionLM.Tests.Architecture;

/// <summary>
/// The diffusion processes and the masked corruptions are named in one typed place (Models/DiffusionProcess.cs,
/// Models/MaskedCorruption.cs): each spelling parses back to its value and is what config.json holds, an unknown one is
/// refused with the known ones listed, and no other source file under src/ spells one as a bare string literal.
/// </summary>
public class ProcessNamesTests
{
    /// <summary>The files allowed to spell the names: the typed place itself.</summary>
    static readonly string[] TypedPlace = [Path.Combine("Models", "DiffusionProcess.cs"), Path.Combine("Models", "MaskedCorruption.cs")];

    static IEnumerable<string> AllSpellings =>
        DiffusionProcess.All.Select(p => p.Spelling).Concat(MaskedCorruption.All.Select(c => c.Spelling));

    [Fact]
    public void EveryProcessRoundTripsThroughItsSpelling()
    {
        Assert.Equal(3, DiffusionProcess.All.Count);
        foreach (var p in DiffusionProcess.All)
        {
            Assert.Same(p, DiffusionProcess.Parse(p.Spelling));
            Assert.Equal(p.Spelling, p.ToString());
            Assert.Equal($"\"{p.Spelling}\"", JsonSerializer.Serialize(p));
            Assert.Same(p, JsonSerializer.Deserialize<DiffusionProcess>($"\"{p.Spelling}\""));
        }
        Assert.Equal(DiffusionProcess.All.Count, DiffusionProcess.All.Select(p => p.Spelling).Distinct().Count());
    }

    [Fact]
    public void EveryCorruptionRoundTripsThroughItsSpelling()
    {
        Assert.Equal(6, MaskedCorruption.All.Count);
        foreach (var c in MaskedCorruption.All)
        {
            Assert.Same(c, MaskedCorruption.Parse(c.Spelling));
            Assert.Equal($"\"{c.Spelling}\"", JsonSerializer.Serialize(c));
            Assert.Same(c, JsonSerializer.Deserialize<MaskedCorruption>($"\"{c.Spelling}\""));
        }
        Assert.Equal(MaskedCorruption.All.Count, MaskedCorruption.All.Select(c => c.Spelling).Distinct().Count());
    }

    /// <summary>The spellings on disk are the ones checkpoints were written with: changing one would orphan every saved model.</summary>
    [Fact]
    public void TheOnDiskSpellingsAreTheReleasedOnes()
    {
        Assert.Equal(["masked", "uniform", "gaussian"], DiffusionProcess.All.Select(p => p.Spelling));
        Assert.Equal(["uniform", "cart", "spindle", "positional", "bell_t", "information"], MaskedCorruption.All.Select(c => c.Spelling));
    }

    [Fact]
    public void AConfigJsonWrittenBeforeTheTypesLoadsAndIsWrittenBackTheSame()
    {
        using var tmp = new TempFolder();
        foreach (var (process, corruption, extra) in new[]
        {
            ("masked", (string?)null, ""), ("masked", "information", ""), ("uniform", null, ""),
            ("gaussian", null, ", \"time_conditioning\": true, \"embedding_dim\": 8, \"sigma_min\": 1.0, \"sigma_max\": 100.0"),
        })
        {
            string json = "{ \"d_model\": 16, \"n_heads\": 2, \"n_kv_heads\": 2, \"n_layers\": 1, \"mlp_hidden_size\": 24, \"vocab_size\": 20, " +
                "\"max_sequence_length\": 32, \"mask_token_id\": 19, \"eos_token_id\": 18, " +
                $"\"process\": \"{process}\"" + (corruption is null ? "" : $", \"corruption\": \"{corruption}\"") + extra + " }";
            string path = tmp["config.json"];
            File.WriteAllText(path, json);
            var cfg = ModelConfig.Load(path);
            Assert.Same(DiffusionProcess.Parse(process), cfg.Process);
            Assert.Equal(corruption, cfg.Corruption?.Spelling);
            var written = JsonDocument.Parse(cfg.ToJson()).RootElement;
            Assert.Equal(process, written.GetProperty("process").GetString());
            Assert.Equal(corruption, written.TryGetProperty("corruption", out var c) ? c.GetString() : null);
        }
    }

    [Fact]
    public void AnUnknownSpellingIsRefusedWithTheKnownOnes()
    {
        var p = Assert.Throws<DlmException>(() => DiffusionProcess.Parse("absorbing"));
        Assert.Equal("unknown process \"absorbing\" (expected masked, uniform, gaussian)", p.Message);
        var c = Assert.Throws<DlmException>(() => MaskedCorruption.Parse("Uniform"));
        Assert.Equal("unknown corruption \"Uniform\" (expected uniform, cart, spindle, positional, bell_t, information)", c.Message);

        using var tmp = new TempFolder();
        string path = tmp["config.json"];
        File.WriteAllText(path, "{ \"d_model\": 16, \"n_heads\": 2, \"n_kv_heads\": 2, \"n_layers\": 1, \"mlp_hidden_size\": 24, \"vocab_size\": 20, " +
            "\"max_sequence_length\": 32, \"mask_token_id\": 19, \"eos_token_id\": 18, \"process\": \"diffuse\" }");
        var e = Assert.Throws<DlmException>(() => ModelConfig.Load(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("unknown process \"diffuse\" (expected masked, uniform, gaussian)", e.Message);
        File.WriteAllText(path, File.ReadAllText(path).Replace("\"diffuse\"", "null"));
        Assert.Contains("field \"process\" must be one of masked, uniform, gaussian", Assert.Throws<DlmException>(() => ModelConfig.Load(path)).Message);
        File.WriteAllText(path, File.ReadAllText(path).Replace("null", "\"uniform\", \"corruption\": \"cart\""));
        Assert.Contains("belongs to the masked process only", Assert.Throws<DlmException>(() => ModelConfig.Load(path)).Message);

        var (code, _, err) = Cli.CliRunner.Run("train", "--data", path, "--out", tmp["m"], "--process", "absorbing", "--steps", "1");
        Assert.Equal(2, code);
        Assert.Contains("unknown process \"absorbing\" (expected masked, uniform, gaussian)", err);
    }

    /// <summary>The training options of a resumed run (training_state.json) read their spellings the same way.</summary>
    [Fact]
    public void TrainingOptionsKeepTheirSpellings()
    {
        var o = new TrainingOptions { Process = DiffusionProcess.Gaussian, Corruption = MaskedCorruption.BellT };
        string json = JsonSerializer.Serialize(o);
        Assert.Contains("\"process\":\"gaussian\"", json);
        Assert.Contains("\"corruption\":\"bell_t\"", json);
        var back = JsonSerializer.Deserialize<TrainingOptions>(json)!;
        Assert.Same(DiffusionProcess.Gaussian, back.Process);
        Assert.Same(MaskedCorruption.BellT, back.Corruption);
    }

    /// <summary>Each quoted literal under src/ that is exactly a process or corruption spelling, outside the typed place.</summary>
    static List<string> BareSpellings(string root)
    {
        var names = AllSpellings.ToHashSet();
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(root, "*.cs", SearchOption.AllDirectories))
        {
            string rel = Path.GetRelativePath(root, file);
            var parts = rel.Split(Path.DirectorySeparatorChar);
            if (parts.Contains("obj") || parts.Contains("bin")) continue;
            if (TypedPlace.Any(t => rel.EndsWith(t, StringComparison.Ordinal))) continue;
            foreach (var lit in CSharpLexer.Lex(File.ReadAllText(file)).Literals)
                if (names.Contains(lit.Text)) found.Add($"{rel}:{lit.Line}: \"{lit.Text}\"");
        }
        return found;
    }

    [Fact]
    public void NoSourceFileSpellsAProcessOrCorruptionOutsideTheTypedPlace()
    {
        string src = Path.Combine(RepoPaths.Root, "src");
        Assert.True(Directory.Exists(Path.Combine(src, "DiffusionLM", "Models")), src);
        var found = BareSpellings(src);
        Assert.True(found.Count == 0, "spell these through DiffusionProcess / MaskedCorruption:\n" + string.Join("\n", found));
    }

    /// <summary>
    /// Mutant for the check above: a file that compares a process with a bare "masked" is found; the same word in a
    /// comment, a doc comment, a longer message, an escaped quote inside a message or a char literal is not.
    /// </summary>
    [Fact]
    public void TheLiteralCheckFindsABareSpellingAndNothingElse()
    {
        using var tmp = new TempFolder();
        string dir = Path.Combine(tmp.Path, "src", "Lib");
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "Clean.cs"), """
            /// <summary>The "masked" process; see "uniform".</summary>
            class Clean
            {
                // if (p == "gaussian") ...
                /* "cart" */
                string A(string p) => $"the \"{p}\" process is not masked; try \"uniform\"";
                string B => @"a ""spindle"" in verbatim text";
                string C => $"{(1 > 0 ? "positional corruption" : "x")} and {C.Length}".Length > 0 ? "ok" : "no";
                char D => '"';
                string E => "information is a word";
            }
            """);
        Assert.Empty(BareSpellings(Path.Combine(tmp.Path, "src")));

        File.WriteAllText(Path.Combine(dir, "Dirty.cs"), """
            class Dirty
            {
                bool A(string p) => p == "masked";
                string B => $"{(true ? "cart" : "")}";
                string C => @"gaussian";
                string D => $"information";
            }
            """);
        var found = BareSpellings(Path.Combine(tmp.Path, "src"));
        Assert.Equal(["\"masked\"", "\"cart\"", "\"gaussian\"", "\"information\""], found.Select(f => f[(f.LastIndexOf(": ", StringComparison.Ordinal) + 2)..]));
        Assert.All(found, f => Assert.StartsWith(Path.Combine("Lib", "Dirty.cs"), f));

        // The typed place itself may spell them.
        string models = Path.Combine(tmp.Path, "src", "Lib", "Models");
        Directory.CreateDirectory(models);
        File.WriteAllText(Path.Combine(models, "DiffusionProcess.cs"), "class P { string S = \"masked\"; }");
        Assert.Equal(4, BareSpellings(Path.Combine(tmp.Path, "src")).Count);
    }

    /// <summary>
    /// The one backward arrow is gone: nothing in src/DiffusionLM/Models names a type of the Corruption namespaces (the
    /// denoisers know no schedule; the processes depend on the models, not the reverse). Comments and strings may.
    /// </summary>
    [Fact]
    public void ModelsNameNoCorruptionType()
    {
        var found = CorruptionTypesNamedIn(Path.Combine(RepoPaths.Root, "src", "DiffusionLM", "Models"));
        Assert.True(found.Count == 0, "Models depends on Corruption:\n" + string.Join("\n", found));
    }

    [Fact]
    public void TheArrowCheckFindsAScheduleReadInCode()
    {
        using var tmp = new TempFolder();
        File.WriteAllText(tmp["Clean.cs"], "/// <summary>c_in from the process (see GaussianSchedule).</summary>\nclass A { string S = \"GaussianSchedule\"; }");
        Assert.Empty(CorruptionTypesNamedIn(tmp.Path));
        File.WriteAllText(tmp["Dirty.cs"], "class B { object S(ModelConfig c) => GaussianSchedule.FromConfig(c); int N = Corruption.GaussianTimeWarp.Bins; }");
        Assert.Equal(2, CorruptionTypesNamedIn(tmp.Path).Count);
    }

    static List<string> CorruptionTypesNamedIn(string dir)
    {
        var names = typeof(global::DiffusionLM.Corruption.GaussianSchedule).Assembly.GetTypes()
            .Where(t => t.Namespace is { } ns && (ns == "DiffusionLM.Corruption" || ns.StartsWith("DiffusionLM.Corruption.", StringComparison.Ordinal)))
            .Where(t => !t.IsNested && !t.Name.Contains('<'))
            .Select(t => t.Name.Split('`')[0]).Distinct().ToList();
        Assert.Contains("GaussianSchedule", names);
        var pattern = new Regex(@"\bDiffusionLM\.Corruption\b|\b(" + string.Join("|", names.Select(Regex.Escape)) + @")\b");
        var found = new List<string>();
        foreach (var file in Directory.EnumerateFiles(dir, "*.cs", SearchOption.AllDirectories))
        {
            var code = CSharpLexer.Lex(File.ReadAllText(file)).Code.Split('\n');
            for (int i = 0; i < code.Length; i++)
                foreach (Match m in pattern.Matches(code[i])) found.Add($"{Path.GetFileName(file)}:{i + 1}: {m.Value}");
        }
        return found;
    }
}
