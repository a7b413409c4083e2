using System.Text.Json;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.IO;

namespace DiffusionLM.Cli.Reports;

/// <summary>What every `dlm bench` verb writes: NAME.json (the machine-readable twin), NAME.md (printed too) and its figures.</summary>
public static class BenchFiles
{
    static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <param name="figures">writes the figures into the folder; <paramref name="figureNames"/> says which, for the closing line.</param>
    public static void Write<T>(string dir, string name, T result, string markdown, Action<string> figures, string figureNames)
    {
        Directory.CreateDirectory(dir);
        string json = Path.Combine(dir, name + ".json");
        AtomicFile.WriteAllText(json, JsonSerializer.Serialize(result, Indented) + "\n");
        AtomicFile.WriteAllText(Path.Combine(dir, name + ".md"), markdown);
        figures(dir);
        Io.Out.Write(markdown);
        Io.Out.WriteLine($"wrote {json}, {name}.md, {figureNames}");
    }

    /// <summary>The CPU's model name: benchmark figures are only comparable on one machine.</summary>
    public static string CpuName()
    {
        try { return File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name"))?.Split(':', 2)[1].Trim() ?? "unknown"; }
        catch (IOException) { return "unknown"; }
    }
}
