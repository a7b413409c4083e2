using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Text;
using DiffusionLM.Training;

namespace DiffusionLM.Analysis.Audit;

/// <summary>How <c>dlm audit --quick</c> trains its models: tiny, on one slice of text, with one tokenizer.</summary>
public sealed record QuickModelOptions
{
    /// <summary>Characters taken from the start of the corpus file.</summary>
    public int Characters { get; init; } = 200_000;
    public int VocabSize { get; init; } = 512;
    public int Steps { get; init; } = 150;
    public int SeqLen { get; init; } = 64;
    public int BatchSize { get; init; } = 16;
    public long Seed { get; init; }
    public IReadOnlyList<DiffusionProcess> Processes { get; init; } = DiffusionProcess.All;
}

/// <summary>
/// Trains one tiny model per family on the same text with the same tokenizer (trained once and passed to each run,
/// as <c>dlm train --tokenizer</c>), so that the audit compares families and nothing else.
/// </summary>
public static class QuickModels
{
    /// <summary>Writes data/corpus.txt, tokenizer.json and models/PROCESS under <paramref name="dir"/>; returns the model folders.</summary>
    public static IReadOnlyList<string> Train(string dir, string corpusFile, QuickModelOptions o, Action<string, TrainingProgress>? progress = null)
    {
        if (!File.Exists(corpusFile)) throw new DlmException($"{corpusFile}: corpus for the quick models not found");
        var text = File.ReadAllText(corpusFile);
        if (text.Length > o.Characters) text = text[..o.Characters];
        string dataDir = Path.Combine(dir, "data");
        Directory.CreateDirectory(dataDir);
        string slice = Path.Combine(dataDir, "corpus.txt");
        IO.AtomicFile.WriteAllText(slice, text);
        string tokenizerPath = Path.Combine(dir, Checkpoint.TokenizerFile);
        var tokenizer = ByteLevelBpeTokenizer.Train([text], o.VocabSize);
        Checkpoint.SaveTokenizer(tokenizer, tokenizerPath);
        var dirs = new List<string>();
        foreach (var process in o.Processes)
        {
            string modelDir = Path.Combine(dir, "models", process.Spelling);
            new Trainer { OnProgress = p => progress?.Invoke(process.Spelling, p) }.Run(new TrainingOptions
            {
                Data = [Path.GetFullPath(slice)], Preset = "tiny", Steps = o.Steps, SeqLen = o.SeqLen, BatchSize = o.BatchSize,
                Tokenizer = Path.GetFullPath(tokenizerPath), Process = process, Seed = o.Seed,
                EvalInterval = o.Steps, EvalWindows = 4, SaveInterval = o.Steps + 1,
            }, modelDir, resume: false);
            dirs.Add(modelDir);
        }
        return dirs;
    }
}
