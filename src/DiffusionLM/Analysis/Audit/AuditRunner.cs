using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Text;
using DiffusionLM.Training;

namespace DiffusionLM.Analysis.Audit;

/// <summary>Turns model folders into <see cref="FamilyAudit"/>s: finds each one's family, held-out text and unigram.</summary>
public static class AuditRunner
{
    /// <summary>Checks every folder before any work starts, so a typo in the last one does not cost the first one's minutes.</summary>
    public static void CheckModels(IReadOnlyList<string> dirs)
    {
        if (dirs.Count == 0) throw new DlmException("no models to audit: pass --model DIR... (or --quick to train tiny ones)");
        foreach (var dir in dirs)
        {
            if (!Directory.Exists(dir)) throw new DlmException($"{dir}: model folder not found");
            string path = Path.Combine(dir, Checkpoint.ConfigFile);
            // The family first, by name, so that an unknown one is named before any other check of the config.
            string? process = null;
            try { process = File.Exists(path) ? (string?)System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path))?["process"] : null; }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException) { /* Load names the problem */ }
            if (process is not null && Spellings.Find<DiffusionProcess>(process) is null)
                throw new DlmException($"{dir}: config.json's process \"{process}\" is not one the audit knows (expected {Spellings.Known<DiffusionProcess>()})");
            var config = ModelConfig.Load(path);
            if (config.Causal) throw new DlmException($"{dir}: a causal (autoregressive) model has no diffusion process to audit");
        }
    }

    /// <summary>The family of a model folder: config.json's "process".</summary>
    public static DiffusionProcess ProcessOf(string dir) => ModelConfig.Load(Path.Combine(dir, Checkpoint.ConfigFile)).Process;

    /// <summary>
    /// The text to score a model on: <paramref name="data"/> when given, else the files the model was trained on
    /// (training_state.json), whose last 5% <c>dlm train</c> held out.
    /// </summary>
    public static IReadOnlyList<string> DataFor(string dir, IReadOnlyList<string>? data)
    {
        if (data is { Count: > 0 }) return data;
        if (!File.Exists(Path.Combine(dir, TrainingState.File)))
            throw new DlmException($"{dir}: no training_state.json to find the training text's held-out part; pass --data FILE...");
        var files = TrainingState.Load(dir).Options.Data;
        if (files.Length == 0 || files.Any(f => !File.Exists(f)))
            throw new DlmException($"{dir}: the training files named in training_state.json are not all present ({string.Join(", ", files)}); pass --data FILE...");
        return files;
    }

    /// <summary>Audits one model folder: loads it, cuts held-out windows with its own tokenizer, measures the five properties.</summary>
    public static FamilyAudit AuditModel(string dir, IReadOnlyList<string>? data, AuditOptions o, Action<int, string>? progress = null)
    {
        CheckModels([dir]);
        var files = DataFor(dir, data);
        using var loaded = ModelLoader.Load(dir);
        var model = loaded.Model;
        int length = Math.Min(o.WindowLength, model.Config.MaxSequenceLength);
        int count = Math.Max(Math.Max(o.Windows, o.SamplerRows), 1);
        var windows = FamilyAuditor.HeldOutWindows(loaded.Tokenizer, files, length, count);
        var counts = UnigramCounts.TryLoad(Path.Combine(dir, Checkpoint.UnigramFile))
            ?? TokenCorpus.Build(loaded.Tokenizer, files, TokenCorpus.ReadTexts(files), length + 1).UnigramCounts(model.Config.VocabSize);
        if (counts.Length != model.Config.VocabSize)
            throw new DlmException($"{dir}: unigram.json has {counts.Length} counts but the vocabulary has {model.Config.VocabSize} tokens");
        return FamilyAuditor.Run(dir, model, windows, InformationCurve.Probabilities(counts), o, progress);
    }
}
