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
/// A second writer to one target is refused by the lock of <see cref="OutputFolder"/>; folders a killed writer left
/// behind are cleaned up (or, for the old folder of a crash inside the window, put back) by <see cref="RecoverStale"/>.</para>
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
        RecoverStale(target, anyOwner: false);

        var temp = Path.Combine(parent, AtomicFile.TempName(name, "tmp"));
        Directory.CreateDirectory(temp);
        try
        {
            fill(temp);
            // The folder's manifest (IO/OutputFolder: which verb wrote it) survives every rewrite.
            string manifest = Path.Combine(target, OutputFolder.ManifestFile), carried = Path.Combine(temp, OutputFolder.ManifestFile);
            if (File.Exists(manifest) && !File.Exists(carried)) File.Copy(manifest, carried);
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

    /// <summary>
    /// Cleans up after a writer killed mid-write (kill -9, power loss): if the target is missing but an
    /// <c>.{name}.old-*</c> copy exists, the crash came between the two renames and that complete old folder is
    /// put back; then every <c>.{name}.tmp-*</c> and <c>.{name}.old-*</c> sibling left by a dead process is deleted.
    /// With <paramref name="anyOwner"/> (the caller holds the folder's lock) the owner's liveness is not asked.
    /// </summary>
    public static void RecoverStale(string targetDir, bool anyOwner)
    {
        var target = Path.TrimEndingDirectorySeparator(Path.GetFullPath(targetDir));
        var name = Path.GetFileName(target);
        var parent = Path.GetDirectoryName(target);
        if (string.IsNullOrEmpty(name) || parent is null || !Directory.Exists(parent)) return;
        List<string> stale;
        try
        {
            stale = Directory.EnumerateDirectories(parent, $".{name}.*-*")
                .Where(d => IsStaleName(Path.GetFileName(d), name, anyOwner)).ToList();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return; }
        if (!Directory.Exists(target))
        {
            var old = stale.Where(d => Path.GetFileName(d).StartsWith($".{name}.old-", StringComparison.Ordinal))
                .OrderByDescending(Directory.GetLastWriteTimeUtc).FirstOrDefault();
            if (old is not null)
            {
                try { Directory.Move(old, target); stale.Remove(old); }
                catch (IOException) { }
            }
        }
        foreach (var dir in stale) TryDeleteDirectory(dir);
    }

    /// <summary>Is <paramref name="entry"/> a <c>.{name}.tmp-{pid}-{hex}</c> or <c>.old-</c> folder whose writer is gone?</summary>
    static bool IsStaleName(string entry, string name, bool anyOwner)
    {
        foreach (var kind in new[] { "tmp", "old" })
        {
            string prefix = $".{name}.{kind}-";
            if (!entry.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var rest = entry[prefix.Length..].Split('-');
            if (rest.Length != 2 || !int.TryParse(rest[0], out int pid)) return false;
            if (pid == Environment.ProcessId) return false; // possibly a write in progress on another thread
            return anyOwner || !IsAlive(pid);
        }
        return false;
    }

    static bool IsAlive(int pid)
    {
        if (OperatingSystem.IsLinux()) return Directory.Exists($"/proc/{pid}");
        try { using var p = System.Diagnostics.Process.GetProcessById(pid); return !p.HasExited; }
        catch (ArgumentException) { return false; }
        catch (InvalidOperationException) { return false; }
    }

    static void TryDeleteDirectory(string path)
    {
        try { if (Directory.Exists(path)) Directory.Delete(path, recursive: true); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
