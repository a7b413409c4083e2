namespace DiffusionLM.IO;

/// <summary>
/// Replaces a whole folder (a checkpoint: config.json, model.safetensors, tokenizer.json, training
/// state) so that the target is never seen half-filled.
/// </summary>
/// <remarks>
/// <para><see cref="Write"/> fills a fresh hidden sibling <c>.{name}.tmp-{pid}-{random}</c>, fsyncs
/// every file in it, then swaps it in with two renames: the old target (if any) is renamed aside to
/// <c>.{name}.old-{pid}-{random}</c>, the temporary folder is renamed to the target, and only then is the
/// old folder deleted. If the fill throws, the temporary folder is deleted and the target is untouched.</para>
/// <para>POSIX cannot atomically exchange two non-empty folders portably (renameat2 RENAME_EXCHANGE is
/// Linux-only and not reachable from .NET), so there is a window of two metadata operations between
/// the renames in which the target name does not exist. This is acceptable: the window is microseconds
/// long, a concurrent reader gets "not found" (a clear error) rather than a mix of old and new files,
/// and a crash inside the window loses nothing — both complete folders remain on disk, the old one as
/// <c>.{name}.old-*</c> and the new one as <c>.{name}.tmp-*</c>, and either can be renamed back by hand.
/// Checkpoints are written by one trainer at a time; concurrent writers to one target are not supported.</para>
/// </remarks>
public static class AtomicDirectory
{
    public static void Write(string targetDir, Action<string> fill)
    {
        ArgumentException.ThrowIfNullOrEmpty(targetDir);
        ArgumentNullException.ThrowIfNull(fill);
        var target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(targetDir));
        var name = Path.GetFileName(target);
        var parent = Path.GetDirectoryName(target);
        if (string.IsNullOrEmpty(name) || parent is null)
            throw new DlmException($"{targetDir}: cannot replace a file-system root");
        if (File.Exists(target)) throw new DlmException($"{targetDir}: is a file, expected a folder");
        Directory.CreateDirectory(parent);

        var temp = Path.Combine(parent, AtomicFile.TempName(name, "tmp"));
        Directory.CreateDirectory(temp);
        try
        {
            fill(temp);
            foreach (var file in Directory.EnumerateFiles(temp, "*", SearchOption.AllDirectories))
                AtomicFile.Fsync(file);
        }
        catch
        {
            TryDeleteDirectory(temp);
            throw;
        }

        string? old = null;
        try
        {
            if (Directory.Exists(target))
            {
                old = Path.Combine(parent, AtomicFile.TempName(name, "old"));
                Directory.Move(target, old);
            }
            // ---- window: the target name does not exist until the next line completes ----
            Directory.Move(temp, target);
        }
        catch
        {
            // Put the old folder back if it was moved aside, and drop the new one.
            if (old is not null && Directory.Exists(old) && !Directory.Exists(target))
            {
                try { Directory.Move(old, target); old = null; }
                catch (IOException) { }
            }
            TryDeleteDirectory(temp);
            throw;
        }
        if (old is not null) TryDeleteDirectory(old);
    }

    static void TryDeleteDirectory(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
