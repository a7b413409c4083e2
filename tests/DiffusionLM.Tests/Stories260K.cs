using DiffusionLM.Import;
using DiffusionLM.Models;
using DiffusionLM.Text;

namespace DiffusionLM.Tests;

/// <summary>The bundled stories260K files (data/models/stories260K in the repository), loaded once per test run.</summary>
public static class Stories260K
{
    public static string Dir { get; } = Find();
    public static string Bin => Path.Combine(Dir, "stories260K.bin");
    public static string Tok => Path.Combine(Dir, "tok512.bin");
    public static string Golden => Path.Combine(Dir, "golden_greedy_256.txt");
    public static string RepoRoot => Path.GetFullPath(Path.Combine(Dir, "..", "..", ".."));

    static readonly Lazy<LladaModel> _model = new(() => Llama2cImporter.ReadModel(Bin));
    static readonly Lazy<Llama2cTokenizer> _tokenizer = new(() => Llama2cTokenizer.ReadBin(Tok, 512));
    /// <summary>Shared, read-only: never train or modify it in a test.</summary>
    public static LladaModel Model => _model.Value;
    public static Llama2cTokenizer Tokenizer => _tokenizer.Value;

    static string Find()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "data", "models", "stories260K");
            if (File.Exists(Path.Combine(candidate, "stories260K.bin"))) return candidate;
        }
        throw new InvalidOperationException("data/models/stories260K not found above the test binaries");
    }
}
