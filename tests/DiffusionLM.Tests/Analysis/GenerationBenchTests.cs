using DiffusionLM.Analysis.Generation;
using DiffusionLM.Analysis.Quality;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using Xunit;
using Xunit.Abstractions;

namespace DiffusionLM.Tests.Analysis;

/// <summary>`dlm bench generation`: its grid covers the registry, its speeds are what it timed, its cells are seeded by label.</summary>
public class GenerationBenchTests(ITestOutputHelper output)
{
    [Fact]
    public void TheGridStartsWithTheBaselineAndCoversEveryPacedMaskedSamplerUnderEveryCache()
    {
        var grid = GenerationGrid.Build(new GenerationOptions());
        Assert.Equal("low_confidence steps=256 cache=none", grid[0].Label);
        Assert.Equal(grid.Count, grid.Select(s => s.Label).Distinct().Count());
        var paced = SamplerRegistry.OfFamily(DiffusionProcess.Masked.Spelling).Where(e => !e.Generic && e.Pace is not null).ToList();
        Assert.Contains(paced, e => e.Name == "eb");
        foreach (var e in paced)
        {
            var caches = grid.Where(s => s.Sampler == e.Name).Select(s => s.Settings.Cache).Distinct().OrderBy(c => c).ToArray();
            Assert.Equal(e.Cacheable ? Enum.GetValues<CacheMode>() : [CacheMode.None], caches);
        }
        Assert.All(grid, s => Assert.Equal(32, s.Settings.BlockLength));
        // A filtered grid keeps the baseline and nothing it did not ask for.
        var some = GenerationGrid.Build(new GenerationOptions(Samplers: ["eb"]));
        Assert.Equal(["low_confidence", "eb"], some.Select(s => s.Sampler).Distinct());
        Assert.Throws<DlmException>(() => new GenerationOptions(Samplers: ["llada"]).Validate());
        Assert.Throws<DlmException>(() => new GenerationOptions(GenLength: 100, BlockLength: 32).Validate());
    }

    [Fact]
    public void AMaskTokenInACompletionIsScoredAsTheJudgesUnknownNotAnIndexError()
    {
        // A sampler at temperature 1 can draw the mask id (512), which the judge (512 rows) cannot embed: bench quality
        // once stopped at its last cell with "index out of range in self".
        using var loaded = ModelLoader.Load(Path.Combine(RepoPaths.Root, "models", "default"));
        int mask = loaded.Model.Config.MaskTokenId;
        Assert.True(mask >= Stories260K.Model.Config.VocabSize);
        var judge = new QualityBenchmark(Stories260K.Model, Stories260K.Tokenizer, new QualityOptions(Samples: 2, GenLength: 8, BatchSize: 2));
        var ids = judge.JudgeIds([300, mask, 301, 302], loaded.Model, loaded.Tokenizer, sharesJudgeTokenizer: true);
        Assert.Equal([300, DiffusionLM.Text.Llama2cTokenizer.UnkId, 301, 302], ids);
        var cell = judge.Score("low_confidence", 8, ["Once upon a time."], [ids], nfe: 8, seconds: 1);
        Assert.True(double.IsFinite(cell.gen_ppl.value) && cell.gen_ppl.value > 1, $"gen-PPL {cell.gen_ppl.value}");
    }

    [Fact]
    public void SpeedsAreTheTimedOnesAndACellsSamplesDependOnItsLabelNotItsPlaceInTheGrid()
    {
        using var loaded = ModelLoader.Load(Path.Combine(RepoPaths.Root, "models", "default"));
        var judge = new QualityBenchmark(Stories260K.Model, Stories260K.Tokenizer, new QualityOptions(Samples: 6, GenLength: 32, BatchSize: 3));
        string[] openings = ["Once upon a time, there was a little girl.", "One day, a boy went to the park."];
        List<GenerationCell> Run(string[] samplers)
        {
            var o = new GenerationOptions(Samples: 6, GenLength: 32, BlockLength: 16, BatchSize: 3, TimingSamples: 2, DriftSamples: 1, Samplers: samplers, Quick: true);
            return new GenerationBenchmark(judge, o).Run("models/default", loaded.Model, loaded.Tokenizer, openings, GenerationGrid.Build(o));
        }
        var both = Run(["fast_dllm_threshold", "mdlm"]);
        var one = Run(["mdlm"]);
        foreach (var c in both)
            output.WriteLine($"{c.sampler} {c.setting} {c.cache}: gen-PPL {c.quality.gen_ppl.value:F2}, NFE {c.batched.nfe_per_sample:F1}, positions {c.batched.positions_per_sample:F0}, {c.batched.tokens_per_second:F0} tokens/s");

        var baseline = both[0];
        Assert.Equal(("low_confidence", "none"), (baseline.sampler, baseline.cache));
        Assert.Equal(32, baseline.batched.nfe_per_sample); // one token per step: one call per generated token
        Assert.Equal(1.0, baseline.speedup_batched);
        Assert.True(baseline.equal_quality);
        foreach (var c in both)
        {
            Assert.Equal(6 * 32 / c.batched.seconds, c.batched.tokens_per_second, 6);
            Assert.Equal(2 * 32 / c.single!.seconds, c.single.tokens_per_second, 6);
            Assert.Equal(c.batched.tokens_per_second / baseline.batched.tokens_per_second, c.speedup_batched, 9);
            Assert.Equal(6, c.quality.samples);
        }
        // The dual cache recomputes only the block: fewer positions than the same pace without it.
        var none = both.Single(c => c.sampler == "fast_dllm_threshold" && c.cache == "none");
        var dual = both.Single(c => c.sampler == "fast_dllm_threshold" && c.cache == "dual");
        Assert.True(dual.batched.positions_per_sample < 0.8 * none.batched.positions_per_sample,
            $"dual cache {dual.batched.positions_per_sample} positions vs {none.batched.positions_per_sample} without");
        // The cache's drift is measured where there is a cache: nothing at a block's first step (an exact forward), something later.
        Assert.All(both.Where(c => c.cache == "none"), c => Assert.Null(c.cache_drift));
        var drift = dual.cache_drift!;
        output.WriteLine($"dual drift: mean TV {drift.mean_tv:F4}, max {drift.max_tv:F4}, by step {string.Join(", ", drift.by_step_in_block.Select(v => v.ToString("F4")))}");
        Assert.Equal(0, drift.by_step_in_block[0]);
        Assert.True(drift.by_step_in_block.Skip(1).Max() > 0 && drift.max_tv <= 1 + 1e-6, $"drift {drift.mean_tv} / {drift.max_tv}");
        // The same cell in a smaller grid draws the same samples (its generator comes from its label), so it is judged the same.
        var mdlmBoth = both.Single(c => c.sampler == "mdlm");
        var mdlmOne = one.Single(c => c.sampler == "mdlm");
        Assert.Equal(mdlmBoth.quality.gen_ppl, mdlmOne.quality.gen_ppl);
        Assert.Equal(mdlmBoth.quality.entropy, mdlmOne.quality.entropy);
        Assert.Equal(baseline.quality.gen_ppl, one[0].quality.gen_ppl);
        // ... and a different cell does not (the check can tell samples apart).
        Assert.NotEqual(baseline.quality.gen_ppl, mdlmBoth.quality.gen_ppl);
    }
}
