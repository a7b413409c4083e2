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
        var rng = new Random(2);
        string[] lines = ["the cat sat on the mat.", "a dog ran in the park.", "my bird sang a song."];
        File.WriteAllText(Corpus, string.Join(" ", Enumerable.Range(0, 2000).Select(_ => lines[rng.Next(lines.Length)])));
        new Trainer().Run(new TrainingOptions
        {
            Data = [Corpus], Preset = "tiny", Steps = 2, SeqLen = 64, BatchSize = 2, VocabSize = 300, EvalInterval = 10, EvalWindows = 2,
        }, ModelDir, resume: false);
    }

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
