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

    public static string Resolve(string? given) => Resolve(given, DefaultRelative);

    /// <summary>The given folder, else <paramref name="relative"/> (a bundled model) found above the working or program folder.</summary>
    public static string Resolve(string? given, string relative)
    {
        if (!string.IsNullOrEmpty(given)) return given;
        return FindBundled(relative, "config.json")
            ?? throw new DlmException($"no --model given and the bundled model ({relative}) was not found; run from the repository or pass --model DIR");
    }

    /// <summary>A path relative to the repository root (found upwards from DLM_HOME, the working or program folder) whose <paramref name="probe"/> exists.</summary>
    public static string? FindBundled(string relative, string? probe = null)
    {
        foreach (var start in Starts())
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, relative);
                if (probe is null ? File.Exists(candidate) : File.Exists(Path.Combine(candidate, probe))) return candidate;
            }
        }
        return null;
    }

    static IEnumerable<string> Starts()
    {
        var home = Environment.GetEnvironmentVariable("DLM_HOME");
        if (!string.IsNullOrEmpty(home)) yield return home;
        yield return Directory.GetCurrentDirectory();
        yield return AppContext.BaseDirectory;
    }
}
