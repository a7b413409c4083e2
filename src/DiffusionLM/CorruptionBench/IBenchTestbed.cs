using DiffusionLM.Corruption;
using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.CorruptionBench;

/// <summary>One testbed of `dlm bench corruption`: its data, its model, its judge and its instruments.</summary>
public interface IBenchTestbed
{
    string Name { get; }
    string Description { get; }
    int TrainSteps { get; }
    int BatchSize { get; }
    int SeqLen { get; }
    double LearningRate { get; }
    /// <summary>Token counts of the training split, for the frequency-aware corruptions.</summary>
    long[] UnigramCounts { get; }
    /// <summary>A fresh model, identical for every corruption (same seed or same teacher weights).</summary>
    LladaModel NewModel();
    TrainingBatch Draw(Generator g);
    /// <summary>Held-out rows and how many of their first tokens are given (never corrupted, not scored).</summary>
    IReadOnlyList<long[]> HeldOut { get; }
    int HeldOutPrompt { get; }
    /// <summary>The exact NLL per token of the held-out rows, where the testbed knows it.</summary>
    double? ExactNll { get; }
    double[]? ExactInformationByDistance { get; }
    /// <summary>Samples judged at each step count; <paramref name="model"/> is the trained model or a view of it (<see cref="Corruption.Masking.MaskEvidenceRemoval"/>).</summary>
    List<GenCell> Generate(IDenoiser model, IReadOnlyList<int> stepCounts, Action<string>? report);
    DecayCurve Decay(LladaModel model);
    /// <summary>The Bayes-optimal denoiser's bound per token under this objective, where the testbed has one.</summary>
    Estimate? BayesBound(Models.MaskedCorruption corruption, IDiffusionObjective objective);
}
