using DiffusionLM.Models;
using DiffusionLM.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Training;

/// <summary>`dlm train --ema`: MDLM's warmed-up average, kept apart from the weights the optimizer steps, resumed exactly.</summary>
[Collection("TorchGlobalState")]
public class WeightAverageTests
{
    [Fact]
    public void UpdatesFollowMdlmsWarmedUpDecay()
    {
        using var layer = nn.Linear(2, 1, hasBias: false);
        using (no_grad()) layer.weight!.copy_(tensor(new float[] { 1, 2 }).view(1, 2));
        using var average = new WeightAverage(layer, 0.2);
        // Hand-computed: update n uses d = min(0.2, (1 + n) / (10 + n)): 2/11, then 0.2 (3/12 = 0.25 is above the cap).
        double expected0 = 1, expected1 = 2;
        foreach (var (w0, w1, d) in new[] { (3.0, 5.0, 2.0 / 11), (-1.0, 0.5, 0.2) })
        {
            using (no_grad()) layer.weight!.copy_(tensor(new[] { (float)w0, (float)w1 }).view(1, 2));
            Assert.Equal(d, average.NextDecay, 12);
            average.Update();
            expected0 = d * expected0 + (1 - d) * w0;
            expected1 = d * expected1 + (1 - d) * w1;
        }
        Assert.Equal(2, average.Updates);
        var seen = average.WithAverage(_ => layer.weight!.data<float>().ToArray());
        Assert.Equal(expected0, seen[0], 5);
        Assert.Equal(expected1, seen[1], 5);
        // Outside WithAverage the model holds its own last weights again.
        Assert.Equal(new float[] { -1, 0.5f }, layer.weight!.data<float>().ToArray());
    }

    [Fact]
    public void TheModelsOwnWeightsComeBackWhenTheBodyThrows()
    {
        using var layer = nn.Linear(2, 1, hasBias: false);
        using (no_grad()) layer.weight!.copy_(tensor(new float[] { 1, 2 }).view(1, 2));
        using var average = new WeightAverage(layer, 0.5);
        using (no_grad()) layer.weight!.copy_(tensor(new float[] { 7, 8 }).view(1, 2));
        average.Update();
        Assert.Throws<InvalidOperationException>(() => average.WithAverage<int>(trained =>
        {
            // Inside: the parameters hold the average and the body is handed the trained weights.
            Assert.Equal(new float[] { 7, 8 }, trained.Values.Single().data<float>().ToArray());
            Assert.NotEqual(new float[] { 7, 8 }, layer.weight!.data<float>().ToArray());
            throw new InvalidOperationException("body failed");
        }));
        Assert.Equal(new float[] { 7, 8 }, layer.weight!.data<float>().ToArray());
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(1.0)]
    [InlineData(double.NaN)]
    public void ADecayOutsideTheOpenIntervalIsRefused(double decay)
    {
        using var layer = nn.Linear(2, 1, hasBias: false);
        var e = Assert.Throws<DlmException>(() => new WeightAverage(layer, decay));
        Assert.Contains("--ema", e.Message);
    }

    static TrainingOptions Options(string data, int steps, double? ema) => new()
    {
        Data = [data], Preset = "tiny", Steps = steps, Seed = 7, BatchSize = 4, SeqLen = 48, VocabSize = 300,
        EvalInterval = 4, SaveInterval = 1000, EvalWindows = 4, Ema = ema,
    };

    static Dictionary<string, byte[]> Bytes(string path) => SafeTensors.Load(path).ToDictionary(kv => kv.Key, kv => kv.Value.bytes.ToArray());

    [Fact]
    public void TheAverageLeavesTrainingAloneIsSavedAsTheModelAndResumesExactly()
    {
        using var tmp = new TempFolder();
        var data = TrainerTests.Corpus(tmp);
        var plain = new Trainer().Run(Options(data, 12, null), tmp["plain"], resume: false);
        var straight = new Trainer().Run(Options(data, 12, 0.9), tmp["straight"], resume: false);

        // The optimizer's weights of the run with an average are those of the run without, bit for bit.
        Assert.Equal(plain.TrainLoss, straight.TrainLoss);
        Assert.Equal(plain.ValLoss, straight.ValLoss);
        var trained = Bytes(Path.Combine(tmp["straight"], WeightAverage.TrainingWeightsFile));
        var plainWeights = Bytes(Path.Combine(tmp["plain"], Checkpoint.WeightsFile));
        foreach (var (k, v) in plainWeights) Assert.True(v.SequenceEqual(trained[k]), k);
        Assert.False(File.Exists(Path.Combine(tmp["plain"], WeightAverage.TrainingWeightsFile)));

        // The saved model is the average: another set of weights, validated at every validation step.
        var saved = Bytes(Path.Combine(tmp["straight"], Checkpoint.WeightsFile));
        Assert.Contains(saved.Keys, k => !saved[k].SequenceEqual(trained[k]));
        Assert.Equal(straight.ValLoss.Select(v => v.Step), straight.EmaValLoss.Select(v => v.Step));
        Assert.NotEqual(straight.ValLoss.Select(v => v.Loss), straight.EmaValLoss.Select(v => v.Loss));
        Assert.Empty(plain.EmaValLoss);

        // Interrupted after 5 steps and resumed: the same average, the same trained weights, the same curves.
        using var cts = new CancellationTokenSource();
        new Trainer { OnProgress = p => { if (p.Step == 5) cts.Cancel(); } }.Run(Options(data, 12, 0.9), tmp["resumed"], false, cts.Token);
        var resumed = new Trainer().Run(Options(data, 12, 0.9), tmp["resumed"], resume: true);
        Assert.Equal(straight.TrainLoss, resumed.TrainLoss);
        Assert.Equal(straight.EmaValLoss, resumed.EmaValLoss);
        foreach (var file in new[] { Checkpoint.WeightsFile, WeightAverage.TrainingWeightsFile })
        {
            var a = Bytes(Path.Combine(tmp["straight"], file));
            var b = Bytes(Path.Combine(tmp["resumed"], file));
            foreach (var (k, v) in a) Assert.True(v.SequenceEqual(b[k]), $"{file}: {k}");
        }
    }
}
