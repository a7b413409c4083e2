using System.CommandLine;
using DiffusionLM.Cli;
using Xunit;

namespace DiffusionLM.Tests.Cli;

/// <summary>
/// One spelling per meaning across the verbs (issue 15, item 5), checked on the root command <c>dlm</c> really
/// parses with, and mutants that show each rule of <see cref="OptionVocabulary"/> rejects what it is meant to.
/// </summary>
public class OptionSpellingTests
{
    [Fact]
    public void Every_verb_spells_a_shared_meaning_the_one_way()
    {
        var breaches = OptionVocabulary.Check(Program.BuildRoot());
        Assert.True(breaches.Count == 0, "options that break the vocabulary:\n" + string.Join("\n", breaches));
    }

    [Fact]
    public void The_walk_reaches_nested_verbs_and_every_verb()
    {
        // A walker that stopped at the first level would pass vacuously for `bench quality` and `import hf`.
        var verbs = OptionVocabulary.Walk(Program.BuildRoot()).Select(v => v.Verb).ToHashSet();
        foreach (var v in new[] { "dlm generate", "dlm train", "dlm eval", "dlm score", "dlm trap", "dlm audit", "dlm probe",
                     "dlm teacher-corpus", "dlm serve", "dlm bench quality", "dlm bench teacher", "dlm bench corruption", "dlm import hf" })
            Assert.Contains(v, verbs);
    }

    [Theory]
    [InlineData("generate", "--samples", "--num-samples")]        // a bare synonym
    [InlineData("eval", "--batch", "--batch-size")]
    [InlineData("trap", "--natural-length", "--natural-gen-length")] // a synonym after a part's prefix
    [InlineData("audit", "--models", "--model")]
    [InlineData("probe", "--output", "--out")]
    public void Mutant_with_a_synonym_is_caught(string verb, string synonym, string canonical)
    {
        var root = Program.BuildRoot();
        Verb(root, verb).Options.Add(synonym.EndsWith("model") || synonym.EndsWith("models") || synonym == "--output"
            ? new Option<string>(synonym) : new Option<int>(synonym));
        var breach = Assert.Single(OptionVocabulary.Check(root));
        Assert.Equal($"dlm {verb}", breach.Verb);
        Assert.Equal(synonym, breach.Spelling);
        Assert.Contains($"use {canonical}", breach.Problem);
    }

    [Fact]
    public void Mutant_with_a_synonym_as_a_hidden_alias_is_caught()
    {
        var root = Program.BuildRoot();
        var batch = Verb(root, "eval").Options.Single(o => o.Name == "--batch-size");
        batch.Aliases.Add("--batch");
        var breach = Assert.Single(OptionVocabulary.Check(root));
        Assert.Equal("--batch", breach.Spelling);
    }

    [Fact]
    public void Mutant_where_a_count_is_a_file_is_caught()
    {
        // score's "--samples FILE" beside trap's "--samples N" was the example; now the spelling itself is canonical.
        var root = Program.BuildRoot();
        Verb(root, "score").Options.Add(new Option<string>("--num-samples"));
        var breaches = OptionVocabulary.Check(root);
        Assert.Contains(breaches, b => b.Verb == "dlm score" && b.Problem.Contains("a count, but takes String"));
    }

    [Fact]
    public void Mutant_where_one_spelling_takes_two_kinds_of_value_is_caught()
    {
        // "--limit" is in no meaning of the table: the type rule alone must see that probe's is a number.
        var root = Program.BuildRoot();
        Verb(root, "eval").Options.Add(new Option<string>("--limit"));
        var breach = Assert.Single(OptionVocabulary.Check(root));
        Assert.Equal("--limit", breach.Spelling);
        // Which verb is met first depends on the walk's order, so either message is the breach.
        Assert.Matches("takes (String here but Int32 in dlm probe|Int32 here but String in dlm eval)", breach.Problem);
    }

    static Command Verb(Command root, string path) =>
        path.Split(' ').Aggregate(root, (c, name) => c.Subcommands.Single(s => s.Name == name));
}
