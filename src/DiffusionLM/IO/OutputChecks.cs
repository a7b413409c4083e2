namespace DiffusionLM.IO;

/// <summary>
/// Checks of outputs that are single files, or files written into a shared folder (bench results), made before any
/// work so that a long run never ends in "cannot write". Whole output folders follow <see cref="OutputFolder"/>.
/// </summary>
public static class OutputChecks
{
    /// <summary>A file to write: not a folder, not an input, its folder writable; an existing file is replaced only with <paramref name="force"/>.</summary>
    public static void File(string path, bool force, IEnumerable<string?>? inputs = null, string option = "--out")
    {
        if (string.IsNullOrWhiteSpace(path)) throw new DlmException($"{option} is empty");
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new DlmException($"{option} {path}: is a folder, expected a file");
        foreach (var input in inputs ?? [])
            if (!string.IsNullOrEmpty(input) && Path.GetFullPath(input) == full)
                throw new DlmException($"{option} {path}: is the input {input}; choose another {option}");
        if (System.IO.File.Exists(full) && !force)
            throw new DlmException($"{option} {path}: exists; pass --force to replace it");
        Writable(Path.GetDirectoryName(full)!, path, option);
    }

    /// <summary>A folder that files are written into (created if needed): not a file, writable.</summary>
    public static void Folder(string dir, string option = "--out")
    {
        if (string.IsNullOrWhiteSpace(dir)) throw new DlmException($"{option} is empty");
        if (System.IO.File.Exists(dir)) throw new DlmException($"{option} {dir}: is a file, expected a folder");
        Writable(Path.GetFullPath(dir), dir, option);
    }

    static void Writable(string dir, string shown, string option)
    {
        try
        {
            Directory.CreateDirectory(dir);
            var probe = Path.Combine(dir, AtomicFile.TempName("write-check", "tmp"));
            using (new FileStream(probe, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose)) { }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DlmException($"{option} {shown}: cannot write there ({e.Message})");
        }
    }
}
