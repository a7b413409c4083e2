using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Training;

/// <summary>
/// An exponential moving average of a model's weights (`dlm train --ema DECAY`), in the form MDLM trains with (its
/// ema.py, from score_sde): after update n the average moves towards the weights by 1 − d_n with
/// d_n = min(DECAY, (1 + n) / (10 + n)), so a short run is not dominated by its initial weights. The average is
/// float32 like the weights, one copy per parameter; with it and its update count saved, --resume continues exactly.
/// </summary>
public sealed class WeightAverage : IDisposable
{
    /// <summary>With --ema the checkpoint's model.safetensors is the average (the model users run); the weights the
    /// optimizer steps are kept beside it in this file, for --resume.</summary>
    public const string TrainingWeightsFile = "training_weights.safetensors";

    readonly (string Name, Tensor Param)[] _params;
    readonly Dictionary<string, Tensor> _average = new();
    public double Decay { get; }
    public long Updates { get; private set; }

    /// <summary>Starts the average at the model's current weights, as if <paramref name="updates"/> updates had been made.</summary>
    public WeightAverage(nn.Module model, double decay, long updates = 0)
    {
        if (!(decay > 0 && decay < 1)) throw new DlmException($"--ema {decay}: the decay must be between 0 and 1 (exclusive); MDLM uses 0.9999");
        Decay = decay;
        Updates = updates;
        _params = model.named_parameters().Select(p => (p.name, (Tensor)p.parameter)).ToArray();
        using var _ = no_grad();
        foreach (var (name, p) in _params) _average[name] = p.detach().clone().DetachFromDisposeScope();
    }

    /// <summary>The decay of the next update.</summary>
    public double NextDecay => Math.Min(Decay, (1.0 + Updates + 1) / (10.0 + Updates + 1));

    /// <summary>One update after an optimizer step: average ← d·average + (1 − d)·weights.</summary>
    public void Update()
    {
        double d = NextDecay;
        Updates++;
        using var _ = no_grad();
        foreach (var (name, p) in _params) _average[name].mul_(d).add_(p, alpha: 1 - d);
    }

    /// <summary>
    /// Runs <paramref name="body"/> with the average in the model's parameters, and gives it the model's own weights
    /// (to save beside the average); the model's own weights are back afterwards, however <paramref name="body"/> ends.
    /// </summary>
    public T WithAverage<T>(Func<IReadOnlyDictionary<string, Tensor>, T> body)
    {
        Swap();
        try { return body(_average); }
        finally { Swap(); }
    }

    /// <summary>Exchanges the average and the parameters' values in place (the parameters stay the same tensors).</summary>
    void Swap()
    {
        using var _ = no_grad();
        foreach (var (name, p) in _params)
        {
            using var held = p.detach().clone();
            p.copy_(_average[name]);
            _average[name].copy_(held);
        }
    }

    /// <summary>Loads the optimizer's weights saved by a run with --ema into <paramref name="model"/> (whose average came from model.safetensors).</summary>
    public static void LoadTrainingWeights(nn.Module model, string dir)
    {
        string path = Path.Combine(dir, TrainingWeightsFile);
        if (!File.Exists(path)) throw new DlmException($"{path}: not found; a run with --ema keeps its training weights there for --resume");
        var saved = SafeTensors.Load(path);
        try
        {
            using var _ = no_grad();
            foreach (var (name, p) in model.named_parameters())
            {
                if (!saved.TryGetValue(name, out var t)) throw new DlmException($"{path}: tensor \"{name}\" is missing");
                if (!t.shape.SequenceEqual(p.shape))
                    throw new DlmException($"{path}: tensor \"{name}\" has shape [{string.Join(",", t.shape)}], expected [{string.Join(",", p.shape)}]");
                p.copy_(t);
            }
        }
        finally { foreach (var t in saved.Values) t.Dispose(); }
    }

    public void Dispose()
    {
        foreach (var t in _average.Values) t.Dispose();
    }
}
