using DiffusionLM.Analysis.Trap;
using Xunit;

namespace DiffusionLM.Tests.Analysis;

public class TrapLanguageTests
{
    [Theory]
    [InlineData("He likes apple", true)]
    [InlineData("I play tennis", true)]
    [InlineData("I likes tennis", false)]
    [InlineData("He play apple", false)]
    [InlineData("He likes tennis", false)]
    [InlineData("He likes", false)]
    [InlineData("He likes apple apple", false)]
    [InlineData("He likes pear", false)]
    [InlineData("apple likes He", false)]
    public void PaperLanguageCheckerIsExact(string sentence, bool valid) =>
        Assert.Equal(valid, TrapLanguages.Paper().IsValid(sentence));

    [Fact]
    public void CoupledCheckerAcceptsExactlyTheSupport()
    {
        // 2 templates × 2 modes × 2 free choices² = 16 sentences of 4 words over 16 words: check all 16^4 sequences.
        var lang = TrapLanguages.Coupled(templates: 2, length: 4, pairs: 1, distance: 2, modes: 2, free: 2);
        Assert.Equal(16, lang.Words.Count);
        var support = OracleDenoiser.Enumerate(lang).Select(s => string.Join(',', s)).ToHashSet();
        Assert.Equal(lang.SupportSize, support.Count);
        int w = lang.Words.Count, valid = 0;
        var s = new int[4];
        for (int code = 0; code < w * w * w * w; code++)
        {
            for (int i = 0, c = code; i < 4; i++, c /= w) s[i] = c % w;
            bool ok = lang.IsValid(s);
            Assert.Equal(support.Contains(string.Join(',', s)), ok);
            if (ok) valid++;
        }
        Assert.Equal(16, valid);
    }

    [Fact]
    public void CoupledCheckerRejectsBrokenAgreementAndMixedTemplates()
    {
        var lang = TrapLanguages.Coupled(templates: 2, length: 6, pairs: 2, distance: 3, modes: 3, free: 2);
        var t0 = lang.Templates[0];
        var pair = t0.Groups[0];                  // positions 0 and 3
        var rng = new Random(3);
        var sentence = lang.Sample(rng);
        for (int tries = 0; !t0.Groups[0].Tuples.Any(tu => tu[0] == sentence[0]); tries++)
        {
            Assert.True(tries < 1000, "no sentence of template 0 drawn");
            sentence = lang.Sample(rng);
        }
        Assert.True(lang.IsValid(sentence));
        // Another mode's second word at position 3: agreement broken.
        var broken = (int[])sentence.Clone();
        broken[3] = pair.Tuples.First(tu => tu[1] != sentence[3])[1];
        Assert.False(lang.IsValid(broken));
        // The matching mode restores it.
        var fixedUp = (int[])broken.Clone();
        fixedUp[0] = pair.Tuples.First(tu => tu[1] == broken[3])[0];
        Assert.True(lang.IsValid(fixedUp));
        // A free position takes any of its words.
        var free = t0.Groups.First(g => g.Positions.Length == 1);
        var swapped = (int[])sentence.Clone();
        swapped[free.Positions[0]] = free.Tuples.First(tu => tu[0] != sentence[free.Positions[0]])[0];
        Assert.True(lang.IsValid(swapped));
        // A word of the other template anywhere: invalid.
        var mixed = (int[])sentence.Clone();
        mixed[5] = lang.Templates[1].Groups.First(g => g.Positions.Contains(5)).Tuples[0][Array.IndexOf(lang.Templates[1].Groups.First(g => g.Positions.Contains(5)).Positions, 5)];
        Assert.False(lang.IsValid(mixed));
        Assert.False(lang.IsValid([-1, 0, 0, 0, 0, 0]));
    }

    [Fact]
    public void ProductOfMarginalsOfThePaperLanguageIsOneQuarter()
    {
        var lang = TrapLanguages.Paper();
        double[] P(int a, int b) { var r = new double[6]; r[a] = 0.5; r[b] = 0.5; return r; }
        Assert.Equal(0.25, lang.ProductOfMarginalsValidity([P(0, 3), P(1, 4), P(2, 5)]), 12);
    }

    [Fact]
    public void ProductOfMarginalsAgreesWithMonteCarlo()
    {
        var lang = TrapLanguages.Coupled(templates: 2, length: 5, pairs: 2, distance: 2, modes: 2, free: 3);
        var rng = new Random(11);
        // Random marginals that favour the words allowed at each position, with some mass elsewhere.
        var marginals = Enumerable.Range(0, lang.Length).Select(i =>
        {
            var row = Enumerable.Range(0, lang.Words.Count).Select(_ => rng.NextDouble() * 0.01).ToArray();
            foreach (var t in lang.Templates)
            {
                var g = t.Groups.First(g => g.Positions.Contains(i));
                int k = Array.IndexOf(g.Positions, i);
                foreach (var tu in g.Tuples) row[tu[k]] += rng.NextDouble();
            }
            double sum = row.Sum();
            return row.Select(x => x / sum).ToArray();
        }).ToArray();
        double exact = lang.ProductOfMarginalsValidity(marginals);
        const int n = 200_000;
        int valid = 0;
        var s = new int[lang.Length];
        for (int d = 0; d < n; d++)
        {
            for (int i = 0; i < lang.Length; i++)
            {
                double u = rng.NextDouble(), c = 0;
                int w = 0;
                for (; w < marginals[i].Length - 1; w++) { c += marginals[i][w]; if (u < c) break; }
                s[i] = w;
            }
            if (lang.IsValid(s)) valid++;
        }
        double mc = (double)valid / n, se = Math.Sqrt(exact * (1 - exact) / n);
        Assert.InRange(exact, 0.005, 0.995);
        Assert.True(Math.Abs(mc - exact) < 4 * se, $"exact {exact:F5}, Monte Carlo {mc:F5} (4σ = {4 * se:F5})");
    }

    [Fact]
    public void TemplatesThatCannotBeToldApartAreRejected()
    {
        string[] words = ["a", "b"];
        var g = new CouplingGroup([0], [[0], [1]]);
        Assert.Throws<DlmException>(() => new TrapLanguage("bad", words, [new Template("x", [g]), new Template("y", [g])]));
    }
}
