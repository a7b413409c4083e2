using DiffusionLM.Analysis.Trap;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Teacher;
using DiffusionLM.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Training;

/// <summary>
/// One training loop: the trap's models and the teacher benchmark's denoisers are trained by
/// <see cref="TrainingLoop"/>, with the settings they state, and nothing else. Each test trains a model
/// through its caller and again by the loop directly; the weights must agree bit for bit, and a loop run
/// with one setting changed (the drift the loop removed) must not.
/// </summary>
[Collection("TorchGlobalState")]
public class TrainingLoopTests
{
    [Fact]
    public void TrapModelsTrainThroughTheLoop()
    {
        var language = TrapLanguages.Paper();
        var o = new TrapTrainingOptions(Sentences: 200, Steps: 6, BatchSize: 8, DModel: 16, Layers: 1, Heads: 2, Seed: 3);
        var corpus = TrapModel.CorpusText(language, o.Sentences, o.Seed);
        var tokenizer = TrapModel.Tokenizer(language, corpus);
        using var viaCaller = TrapModel.Train(language, tokenizer, corpus, o);

        var sentences = corpus.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(language.WordIndex).ToArray()).ToArray();
        LladaModel Direct(LoopSettings s)
        {
            var model = new LladaModel(viaCaller.Config, BatchSampler.StepGenerator(o.Seed, -1, 1));
            TrainingLoop.Run(model, DiffusionProcesses.Objective(model.Config, model), TrapModel.Batches(language, tokenizer, sentences, o.BatchSize), s);
            return model;
        }
        using var direct = Direct(TrapModel.Settings(o));
        Assert.True(SameWeights(viaCaller, direct), "TrapModel.Train must be TrainingLoop.Run with TrapModel.Settings");
        using var drifted = Direct(TrapModel.Settings(o) with { WeightDecay = 0.1 });
        Assert.False(SameWeights(viaCaller, drifted), "the check must see a different weight decay");
    }

    [Fact]
    public void TeacherBenchDenoisersTrainThroughTheLoop()
    {
        var stories = TeacherCorpus.Sample(Stories260K.Model, Stories260K.Tokenizer, new TeacherCorpusOptions(12, 5, 12, MaxTokens: 60));
        var o = new TeacherBenchOptions(TrainSteps: 4, BatchSize: 3, GenLength: 16, StepCounts: [16], Samples: 2, ElboWindows: 2, McSamples: 2, HeldOutFraction: 0.25);
        var bench = new TeacherBenchmark(Stories260K.Model, Stories260K.Tokenizer, o);
        var train = stories.Take(9).SelectMany(s => Stories260K.Tokenizer.Encode(s.Text).Prepend(1)).ToArray();

        using var viaCaller = DreamInit.FromCausal(Stories260K.Model);
        bench.Train("dream-init", viaCaller, train, o.FinetuneLr);
        LladaModel Direct(LoopSettings s)
        {
            var model = DreamInit.FromCausal(Stories260K.Model);
            var process = new MaskedProcess(MaskSchedule.FromName(model.Config.Schedule), model.Config.MaskTokenId);
            TrainingLoop.Run(model, process, new BatchSampler(train, o.SeqLen, o.BatchSize, 2, sft: false).Draw, s);
            return model;
        }
        using var direct = Direct(bench.Settings(o.FinetuneLr));
        Assert.True(SameWeights(viaCaller, direct), "TeacherBenchmark.Train must be TrainingLoop.Run with its settings");
        using var drifted = Direct(bench.Settings(o.FinetuneLr) with { GradClip = 1e-3 });
        Assert.False(SameWeights(viaCaller, drifted), "the check must see a different clip");
    }

    [Fact]
    public void WarmupIsATenthOfTheRunAtMost()
    {
        Assert.Equal(10, TrainingLoop.Warmup(50, 100));
        Assert.Equal(50, TrainingLoop.Warmup(50, 1000));
        Assert.Equal(1, TrainingLoop.Warmup(50, 5));
        var s = TrainingLoop.Schedule(new LoopSettings(100, 1e-3));
        Assert.Equal(10, s.WarmupSteps);
        Assert.Equal(1e-3, s.At(9), 12); // the peak is reached at the end of the warm-up
    }

    static bool SameWeights(LladaModel a, LladaModel b)
    {
        using var _ = no_grad();
        return a.named_parameters().Zip(b.named_parameters()).All(p => p.First.name == p.Second.name && p.First.parameter.allclose(p.Second.parameter, rtol: 0, atol: 0));
    }
}
