namespace DiffusionLM.Analysis.Trap;

/// <summary>The languages the trap is measured on.</summary>
public static class TrapLanguages
{
    /// <summary>The paper's corpus {"He likes apple", "I play tennis"}: every marginal is 0.5, and 6 of the 8 independent draws are invalid.</summary>
    public static TrapLanguage Paper()
    {
        string[] words = ["He", "likes", "apple", "I", "play", "tennis"];
        CouplingGroup Fixed(int pos, int w) => new([pos], [[w]]);
        return new TrapLanguage("paper", words,
        [
            new Template("He likes apple", [Fixed(0, 0), Fixed(1, 1), Fixed(2, 2)]),
            new Template("I play tennis", [Fixed(0, 3), Fixed(1, 4), Fixed(2, 5)]),
        ]);
    }

    /// <summary>
    /// K templates of <paramref name="length"/> words with disjoint vocabularies (so every word tells the
    /// template: template agreement spans the sentence), each with <paramref name="pairs"/> paired choices
    /// at distance <paramref name="distance"/> (positions i and i + d, i &lt; pairs, chosen together among
    /// <paramref name="modes"/> modes: agreement) and the other positions free among <paramref name="free"/>
    /// words each (independent of everything but the template).
    /// </summary>
    public static TrapLanguage Coupled(int templates = 2, int length = 6, int pairs = 2, int distance = 3, int modes = 3, int free = 2)
    {
        if (templates < 1 || length < 2 || modes < 1 || free < 1 || pairs < 0)
            throw new DlmException("coupled language: templates, length, modes and free must be positive");
        if (pairs > 0 && (distance < 1 || pairs > distance || pairs - 1 + distance >= length))
            throw new DlmException($"coupled language: {pairs} pairs at distance {distance} do not fit in {length} positions (need pairs <= distance and pairs - 1 + distance < length)");
        var words = new List<string>();
        var syllables = new Syllables();
        var list = new List<Template>();
        for (int k = 0; k < templates; k++)
        {
            var groups = new List<CouplingGroup>();
            var paired = new HashSet<int>();
            for (int i = 0; i < pairs; i++)
            {
                var tuples = new int[modes][];
                for (int m = 0; m < modes; m++)
                {
                    words.Add(syllables.Next()); int a = words.Count - 1;
                    words.Add(syllables.Next()); int b = words.Count - 1;
                    tuples[m] = [a, b];
                }
                groups.Add(new CouplingGroup([i, i + distance], tuples));
                paired.Add(i); paired.Add(i + distance);
            }
            for (int p = 0; p < length; p++)
            {
                if (paired.Contains(p)) continue;
                var tuples = new int[free][];
                for (int f = 0; f < free; f++) { words.Add(syllables.Next()); tuples[f] = [words.Count - 1]; }
                groups.Add(new CouplingGroup([p], tuples));
            }
            list.Add(new Template($"T{k}", groups.ToArray()));
        }
        return new TrapLanguage($"coupled-K{templates}-n{length}-p{pairs}-d{distance}-m{modes}-f{free}", words, list);
    }

    /// <summary>"paper" or "coupled[:K,n,pairs,d,m,f]".</summary>
    public static TrapLanguage FromName(string name)
    {
        if (name == "paper") return Paper();
        if (name == "coupled") return Coupled();
        if (name.StartsWith("coupled:", StringComparison.Ordinal))
        {
            var parts = name["coupled:".Length..].Split(',');
            if (parts.Length != 6 || parts.Any(p => !int.TryParse(p, out _)))
                throw new DlmException($"language \"{name}\": expected coupled:K,n,pairs,d,m,f (six integers)");
            var v = parts.Select(int.Parse).ToArray();
            return Coupled(v[0], v[1], v[2], v[3], v[4], v[5]);
        }
        throw new DlmException($"unknown language \"{name}\" (expected paper, coupled or coupled:K,n,pairs,d,m,f)");
    }

    /// <summary>Distinct lowercase words (consonant-vowel-consonant) that a byte-level BPE learns as single tokens.</summary>
    sealed class Syllables
    {
        const string C = "bdfgklmnprstvz", V = "aeiou";
        int next;
        public string Next()
        {
            int i = next++;
            int c1 = i % C.Length, v = i / C.Length % V.Length, c2 = i / (C.Length * V.Length) % C.Length;
            if (i >= C.Length * V.Length * C.Length) throw new DlmException("coupled language: too many words");
            return $"{C[c1]}{V[v]}{C[c2]}";
        }
    }
}
