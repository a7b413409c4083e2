using DiffusionLM.Models;
using DiffusionLM.Training;

namespace DiffusionLM.Tests.Cli;

/// <summary>A tiny masked model trained for two steps: enough to exercise every verb's input checks.</summary>
public sealed class TinyModelFixture : IDisposable
{
    readonly TempFolder _tmp = new();
    public string ModelDir => _tmp["model"];
    public string Corpus => _tmp["corpus.txt"];

    public TinyModelFixture()
    {
        WriteCorpus(Corpus);
        Train(Corpus, ModelDir, DiffusionProcess.Masked);
    }

    /// <summary>The fixtures' corpus: 2,000 seeded draws of three sentences.</summary>
    public static void WriteCorpus(string path)
    {
        var rng = new Random(2);
        string[] lines = ["the cat sat on the mat.", "a dog ran in the park.", "my bird sang a song."];
        File.WriteAllText(path, string.Join(" ", Enumerable.Range(0, 2000).Select(_ => lines[rng.Next(lines.Length)])));
    }

    /// <summary>A tiny model of <paramref name="process"/> trained for two steps on <paramref name="corpus"/>.</summary>
    public static void Train(string corpus, string dir, DiffusionProcess process) =>
        new Trainer().Run(new TrainingOptions
        {
            Data = [corpus], Preset = "tiny", Steps = 2, SeqLen = 64, BatchSize = 2, VocabSize = 300, EvalInterval = 10, EvalWindows = 2, Process = process,
        }, dir, resume: false);

    /// <summary>A copy of the model folder that a test may damage.</summary>
    public string CopyTo(TempFolder tmp)
    {
        var dir = tmp["copy"];
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(ModelDir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        return dir;
    }

    public void Dispose() => _tmp.Dispose();
}
