using System.CommandLine;

namespace DiffusionLM.Cli;

/// <summary>Finds the bundled default model (models/default) when --model is not given.</summary>
public static class ModelLocator
{
    public const string DefaultRelative = "models/default";

    public static Option<string?> ModelOption() => new("--model")
    {
        Description = "model folder (config.json, model.safetensors, tokenizer.json); default: the bundled models/default",
    };

    public static string Resolve(string? given)
    {
        if (!string.IsNullOrEmpty(given)) return given;
        foreach (var start in Starts())
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, DefaultRelative);
                if (File.Exists(Path.Combine(candidate, "config.json"))) return candidate;
            }
        }
        throw new DlmException($"no --model given and the bundled default model ({DefaultRelative}) was not found; run from the repository or pass --model DIR");
    }

    static IEnumerable<string> Starts()
    {
        var home = Environment.GetEnvironmentVariable("DLM_HOME");
        if (!string.IsNullOrEmpty(home)) yield return home;
        yield return Directory.GetCurrentDirectory();
        yield return AppContext.BaseDirectory;
    }
}
