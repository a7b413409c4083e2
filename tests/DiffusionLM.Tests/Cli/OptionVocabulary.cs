using System.CommandLine;

namespace DiffusionLM.Tests.Cli;

/// <summary>
/// The options' vocabulary: for each meaning that several verbs share, the one spelling every verb uses and the
/// synonyms a new option could slip in with (issue 15: `--batch` vs `--batch-size`, `--samples` a count in one verb
/// and a file in another, `--models` next to `--model`). <see cref="Check"/> walks a command tree and lists every
/// breach, so the test reads the real root command and a mutant can show that a breach is seen.
/// </summary>
public static class OptionVocabulary
{
    /// <summary>What an option's value is: a number of things, or a path.</summary>
    public enum Kind { Count, Path }

    /// <param name="Canonical">the spelling every verb uses.</param>
    /// <param name="Synonyms">other spellings of the same meaning, forbidden alone and after a part's prefix
    /// (<see cref="Qualifiers"/>: "--natural-length" is "--length" of trap's natural-text part).</param>
    /// <param name="Kind">what the canonical option's value must be (a count is never a file).</param>
    public sealed record Meaning(string Name, string Canonical, string[] Synonyms, Kind Kind);

    /// <summary>Prefixes that name the part of a verb an option belongs to (trap's natural-text measurement, audit's
    /// trap, an ELBO pass); after one, the same vocabulary holds.</summary>
    public static readonly string[] Qualifiers = ["natural-", "trap-", "elbo-"];

    public static readonly Meaning[] Meanings =
    [
        new("rows per batch", "--batch-size", ["batch", "bs", "batchsize", "batch_size"], Kind.Count),
        new("how many samples to draw", "--num-samples", ["samples", "count", "n-samples", "nsamples", "num_samples", "n"], Kind.Count),
        new("tokens to generate", "--gen-length", ["length", "tokens", "gen-len", "gen-tokens", "num-tokens", "new-tokens", "max-new-tokens", "gen_length"], Kind.Count),
        new("sequence length", "--seq-len", ["seq-length", "sequence-length", "context-length", "ctx-len", "seq_len"], Kind.Count),
        new("denoising steps", "--steps", ["num-steps", "nsteps", "sampling-steps", "diffusion-steps", "denoising-steps"], Kind.Count),
        new("torch threads", "--threads", ["num-threads", "nthreads", "jobs"], Kind.Count),
        new("timed repetitions", "--repeats", ["repeat", "repetitions", "reps", "iterations"], Kind.Count),
        new("model folder(s)", "--model", ["models", "model-dir", "model-path", "model-folder"], Kind.Path),
        new("where results go", "--out", ["output", "out-dir", "outdir", "output-dir", "out-file", "output-file", "o"], Kind.Path),
        new("prompt file", "--prompts", ["prompt-file", "prompts-file", "prompt-path"], Kind.Path),
        new("input text", "--data", ["data-file", "text-file", "input-file"], Kind.Path),
        new("teacher corpus", "--corpus", ["corpus-file", "teacher-corpus"], Kind.Path),
    ];

    /// <summary>One breach: the verb ("dlm trap"), the spelling found and what is wrong with it.</summary>
    public sealed record Breach(string Verb, string Spelling, string Problem)
    {
        public override string ToString() => $"{Verb} {Spelling}: {Problem}";
    }

    /// <summary>Every option of every verb under <paramref name="root"/>, with the verb's full name.</summary>
    public static IEnumerable<(string Verb, Option Option)> Walk(Command root)
    {
        // The root command is named after the process (testhost under xunit); it is dlm to a user.
        var stack = new Stack<(string Path, Command Command)>([(root is RootCommand ? "dlm" : root.Name, root)]);
        while (stack.Count > 0)
        {
            var (path, cmd) = stack.Pop();
            foreach (var o in cmd.Options) yield return (path, o);
            foreach (var sub in cmd.Subcommands) stack.Push(($"{path} {sub.Name}", sub));
        }
    }

    /// <summary>Breaches under <paramref name="root"/>: a synonym of a known meaning (alone or after a qualifier), a
    /// canonical option of the wrong kind, and one spelling whose value type differs between verbs.</summary>
    public static List<Breach> Check(Command root)
    {
        var breaches = new List<Breach>();
        var typeSeen = new Dictionary<string, (string Verb, Type Type)>();
        foreach (var (verb, option) in Walk(root))
        {
            var element = ElementType(option.ValueType);
            foreach (var spelling in new[] { option.Name }.Concat(option.Aliases))
            {
                string bare = spelling.TrimStart('-');
                foreach (var m in Meanings)
                {
                    if (spelling == m.Canonical && !Fits(m.Kind, element))
                        breaches.Add(new(verb, spelling, $"means {m.Name}, a {m.Kind.ToString().ToLowerInvariant()}, but takes {element.Name}"));
                    foreach (var q in Qualifiers.Prepend(""))
                    {
                        if (q.Length > 0 && !bare.StartsWith(q, StringComparison.Ordinal)) continue;
                        if (m.Synonyms.Contains(bare[q.Length..]))
                            breaches.Add(new(verb, spelling, $"a second spelling of {m.Name}; use --{q}{m.Canonical.TrimStart('-')}"));
                    }
                }
                // The same spelling must carry the same kind of value everywhere: "--samples" was a count in trap and a file in score.
                if (typeSeen.TryGetValue(spelling, out var first) && first.Type != element)
                    breaches.Add(new(verb, spelling, $"takes {element.Name} here but {first.Type.Name} in {first.Verb}"));
                else typeSeen.TryAdd(spelling, (verb, element));
            }
        }
        return breaches;
    }

    /// <summary>int, int? and int[] are all "int": a verb may take one, an optional one or a list of the same thing.</summary>
    static Type ElementType(Type t)
    {
        if (t.IsArray) t = t.GetElementType()!;
        return Nullable.GetUnderlyingType(t) ?? t;
    }

    static bool Fits(Kind kind, Type element) => kind switch
    {
        Kind.Count => element == typeof(int) || element == typeof(long),
        Kind.Path => element == typeof(string),
        _ => false,
    };
}
