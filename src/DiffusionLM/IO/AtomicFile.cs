using System.Text;

namespace DiffusionLM.IO;

/// <summary>
/// Writes a file so that a reader (or a crash) sees either the old content or the new one, never a
/// half-written file: the bytes go to a temporary file beside the target (same folder, hence the same
/// file system), are flushed to disk (fsync), and the temporary file is then renamed over the target.
/// A rename within one file system is atomic on POSIX and on NTFS.
/// </summary>
/// <remarks>
/// The folder entry itself is not fsynced (.NET offers no portable way to open a directory), so after a
/// power loss the rename may be lost and the old file remain; the file is never torn. If the writer
/// throws, the temporary file is deleted and the target is untouched.
/// </remarks>
public static class AtomicFile
{
    public static void WriteAllText(string path, string text) =>
        WriteAllBytes(path, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text));

    public static void WriteAllBytes(string path, byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        Write(path, s => s.Write(bytes, 0, bytes.Length));
    }

    /// <summary>Calls <paramref name="write"/> with a stream on a temporary file, then renames it over <paramref name="path"/>.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentNullException.ThrowIfNull(write);
        var full = Path.GetFullPath(path);
        if (Directory.Exists(full)) throw new DlmException($"{path}: is a folder, cannot write a file there");
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, TempName(Path.GetFileName(full), "tmp"));
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            TryDeleteFile(temp);
            throw;
        }
    }

    /// <summary>A hidden sibling name, unique to this process and call: <c>.{name}.{kind}-{pid}-{random}</c>.</summary>
    internal static string TempName(string name, string kind) =>
        $".{name}.{kind}-{Environment.ProcessId}-{Convert.ToHexString(Guid.NewGuid().ToByteArray(), 0, 6).ToLowerInvariant()}";

    internal static void TryDeleteFile(string path)
    {
        try { if (File.Exists(path)) File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    /// <summary>Flushes an existing file's data to disk (fsync). Needs write access to the file; writes nothing.</summary>
    internal static void Fsync(string path)
    {
        using var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        fs.Flush(flushToDisk: true);
    }
}
