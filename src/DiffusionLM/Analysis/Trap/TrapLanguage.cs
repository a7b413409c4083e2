namespace DiffusionLM.Analysis.Trap;

/// <summary>
/// Positions of a template that are chosen together: the allowed tuples of words (indices into the
/// language's word list), one word per position. A fixed word is a group of one position with one tuple,
/// a free choice a group of one position with several, "agreement" or a paired choice at distance d a
/// group of two positions whose tuples are the m modes.
/// </summary>
public sealed record CouplingGroup(int[] Positions, int[][] Tuples);

/// <summary>One sentence shape: groups that partition the positions 0..Length−1.</summary>
public sealed record Template(string Name, CouplingGroup[] Groups);

/// <summary>
/// A synthetic language whose support is known exactly: a sentence (a fixed number of words) is valid
/// when some template accepts it, that is when each of the template's groups finds its words among
/// its allowed tuples. The marginal trap shows up because a model trained token by token learns
/// p(word at i) per position; drawing positions independently mixes templates and modes.
/// Templates must be told apart by the words at some position (checked), so that their supports are
/// disjoint and the probability of the support is a sum over templates of products over groups.
/// </summary>
public sealed class TrapLanguage
{
    public string Name { get; }
    public IReadOnlyList<string> Words { get; }
    public IReadOnlyList<Template> Templates { get; }
    public int Length { get; }
    readonly Dictionary<string, int> wordIndex;

    public TrapLanguage(string name, IReadOnlyList<string> words, IReadOnlyList<Template> templates)
    {
        Name = name; Words = words; Templates = templates;
        if (templates.Count == 0) throw new DlmException($"language {name}: no templates");
        wordIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int w = 0; w < words.Count; w++)
        {
            if (string.IsNullOrWhiteSpace(words[w]) || words[w].Any(char.IsWhiteSpace))
                throw new DlmException($"language {name}: word {w} (\"{words[w]}\") must be non-empty and contain no whitespace");
            if (!wordIndex.TryAdd(words[w], w)) throw new DlmException($"language {name}: word \"{words[w]}\" appears twice");
        }
        Length = templates[0].Groups.Sum(g => g.Positions.Length);
        foreach (var t in templates)
        {
            var covered = t.Groups.SelectMany(g => g.Positions).OrderBy(p => p).ToArray();
            if (!covered.SequenceEqual(Enumerable.Range(0, Length)))
                throw new DlmException($"language {name}: template {t.Name}'s groups must cover positions 0..{Length - 1} exactly once");
            foreach (var g in t.Groups)
            {
                if (g.Tuples.Length == 0) throw new DlmException($"language {name}: template {t.Name} has a group with no allowed tuple");
                foreach (var tuple in g.Tuples)
                    if (tuple.Length != g.Positions.Length || tuple.Any(w => w < 0 || w >= words.Count))
                        throw new DlmException($"language {name}: template {t.Name} has a tuple that does not match its positions or names an unknown word");
            }
        }
        for (int a = 0; a < templates.Count; a++)
            for (int b = a + 1; b < templates.Count; b++)
                if (!Enumerable.Range(0, Length).Any(p => !AllowedAt(templates[a], p).Overlaps(AllowedAt(templates[b], p))))
                    throw new DlmException($"language {name}: templates {templates[a].Name} and {templates[b].Name} share words at every position; their supports must be told apart by some position");
    }

    static HashSet<int> AllowedAt(Template t, int pos)
    {
        var g = t.Groups.First(g => g.Positions.Contains(pos));
        int k = Array.IndexOf(g.Positions, pos);
        return g.Tuples.Select(tu => tu[k]).ToHashSet();
    }

    public int WordIndex(string word) => wordIndex.TryGetValue(word, out int i) ? i : -1;

    /// <summary>Exactly whether a sentence (word indices; −1 for anything not a word) is in the support.</summary>
    public bool IsValid(IReadOnlyList<int> sentence)
    {
        if (sentence.Count != Length) return false;
        foreach (var t in Templates)
            if (t.Groups.All(g => g.Tuples.Any(tu => tu.Select((w, k) => sentence[g.Positions[k]] == w).All(ok => ok))))
                return true;
        return false;
    }

    public bool IsValid(string sentence) =>
        IsValid(sentence.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(WordIndex).ToArray());

    /// <summary>Number of valid sentences.</summary>
    public long SupportSize => Templates.Sum(t => t.Groups.Aggregate(1L, (acc, g) => acc * g.Tuples.Length));

    /// <summary>A uniform draw from the support (template uniform, then each group's tuple uniform).</summary>
    public int[] Sample(Random rng)
    {
        // Uniform over the support: a template with probability proportional to its size.
        long size = SupportSize, r = rng.NextInt64(size);
        Template chosen = Templates[^1];
        foreach (var t in Templates)
        {
            long n = t.Groups.Aggregate(1L, (acc, g) => acc * g.Tuples.Length);
            if (r < n) { chosen = t; break; }
            r -= n;
        }
        var s = new int[Length];
        foreach (var g in chosen.Groups)
        {
            var tu = g.Tuples[rng.Next(g.Tuples.Length)];
            for (int k = 0; k < tu.Length; k++) s[g.Positions[k]] = tu[k];
        }
        return s;
    }

    public string Text(IReadOnlyList<int> sentence) => string.Join(' ', sentence.Select(w => w >= 0 ? Words[w] : "?"));

    /// <summary>
    /// The exact probability that drawing every position independently from <paramref name="marginals"/>
    /// ([position][word], each row a distribution over the language's words, mass off the words allowed)
    /// gives a valid sentence: Σ_templates Π_groups Σ_tuples Π_k p_{pos_k}(word_k). Exact because templates
    /// have disjoint supports and groups of a template are independent under a product distribution.
    /// </summary>
    public double ProductOfMarginalsValidity(IReadOnlyList<double[]> marginals)
    {
        if (marginals.Count != Length) throw new DlmException($"language {Name}: {marginals.Count} marginals for a length of {Length}");
        double total = 0;
        foreach (var t in Templates)
        {
            double pt = 1;
            foreach (var g in t.Groups)
            {
                double pg = 0;
                foreach (var tu in g.Tuples)
                {
                    double q = 1;
                    for (int k = 0; k < tu.Length; k++) q *= marginals[g.Positions[k]][tu[k]];
                    pg += q;
                }
                pt *= pg;
            }
            total += pt;
        }
        return total;
    }
}
