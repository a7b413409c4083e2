using DiffusionLM.Text;
using DiffusionLM.Training;
using Xunit;
using Xunit.Abstractions;

namespace DiffusionLM.Tests.Training;

[Collection("TorchGlobalState")]
public class LearningTests(ITestOutputHelper output)
{
    /// <summary>
    /// About a minute of training on Tiny Shakespeare must beat the best context-free predictor: a model
    /// that had learned only token frequencies would sit at the unigram entropy.
    /// </summary>
    [Fact]
    public void TinyModelBeatsTheUnigramEntropyOnTinyShakespeare()
    {
        using var tmp = new TempFolder();
        var state = new Trainer().Run(new TrainingOptions
        {
            // 260 = the 256 bytes and the 4 special tokens: byte-level, where context pays off fastest.
            Data = [RepoPaths.TinyShakespeare], Preset = "tiny", Steps = 700, SeqLen = 64, BatchSize = 16, VocabSize = 260,
            LearningRate = 3e-3, EvalInterval = 100, EvalWindows = 64, Seed = 1,
        }, tmp["model"], resume: false);
        var counts = UnigramCounts.TryLoad(Path.Combine(tmp["model"], "unigram.json"))!;
        double n = counts.Sum();
        double entropy = -counts.Where(c => c > 0).Sum(c => c / n * Math.Log(c / n));
        double val = state.ValLoss[^1].Loss;
        output.WriteLine($"unigram entropy {entropy:F3} nats/token; validation ELBO {val:F3} (curve: {string.Join(", ", state.ValLoss.Select(v => v.Loss.ToString("F3")))})");
        Assert.True(val < entropy - 0.3, $"validation ELBO {val:F3} is not clearly below the unigram entropy {entropy:F3}");
    }
}
