namespace DiffusionLM.Tests;

/// <summary>Paths inside the repository, found from the test assembly's folder (CI runs from a fresh clone).</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "DiffusionLM.slnx"))) return dir.FullName;
        throw new InvalidOperationException("repository root (DiffusionLM.slnx) not found above " + AppContext.BaseDirectory);
    }

    public static string Data(params string[] parts) => Path.Combine([Root, "data", .. parts]);
    public static string TinyShakespeare => Data("corpus", "tinyshakespeare", "input.txt");
}
