using System.Reflection;
using System.Text.Json.Nodes;

namespace DiffusionLM.IO;

/// <summary>
/// The one rule every verb that writes a folder follows, so that an output can never destroy a user's data:
/// a verb writes only where nothing exists, where an empty folder exists, or where a folder this tool wrote
/// (one holding <see cref="ManifestFile"/>, naming the verb and version) exists, and replaces the last only
/// with <c>--force</c> (or when it continues its own work: <c>train --resume</c>). An output equal to or
/// inside an input is refused. The folder is checked (a folder, writable) and locked before any work, so a
/// second writer is refused at once; stale temporary folders of a killed write are cleaned up.
/// </summary>
/// <remarks>
/// The lock is an advisory <c>flock</c> on a hidden sibling file <c>.{name}.lock</c> (what .NET takes for
/// <see cref="FileShare.None"/> on Unix). The kernel drops it when the holder dies, even by SIGKILL, so a
/// stale lock file never blocks anyone; the file itself is left in place on purpose (deleting it would let
/// two writers lock two different files of one name).
/// </remarks>
public sealed class OutputFolder : IDisposable
{
    public const string ManifestFile = ".dlm-output.json";

    /// <summary>Files by which folders of earlier versions (written before the manifest existed) are known as ours.</summary>
    static readonly string[] LegacySignatures = ["training_state.json", "probe.json", "audit.json", "trap.json"];

    readonly FileStream _lock;
    readonly bool _createdHere;

    /// <summary>The absolute path of the folder.</summary>
    public string Path { get; }

    /// <summary>True when the folder already held this tool's output (which the verb may now replace or continue).</summary>
    public bool HeldOutput { get; }

    OutputFolder(string path, FileStream lockFile, bool createdHere, bool heldOutput)
    {
        Path = path; _lock = lockFile; _createdHere = createdHere; HeldOutput = heldOutput;
    }

    /// <summary>How a verb may treat a folder of its own output that is already there.</summary>
    public enum Existing { Refuse, Replace, Continue }

    /// <param name="path">the --out value</param>
    /// <param name="verb">the verb, written into the manifest ("train", "export hf")</param>
    /// <param name="existing">what to do with an existing folder of this tool's output: refuse, or allow (--force, --resume)</param>
    /// <param name="inputs">files and folders the verb reads: the output may be neither one of them nor inside one (nor, when <paramref name="replaces"/>, contain one)</param>
    /// <param name="replaces">the verb replaces the whole folder (rather than writing files into it)</param>
    /// <param name="option">the option's name, for messages</param>
    public static OutputFolder Claim(string path, string verb, Existing existing, IEnumerable<string?>? inputs = null, bool replaces = true, string option = "--out")
    {
        if (string.IsNullOrWhiteSpace(path)) throw new DlmException($"{option} is empty");
        string full;
        try { full = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(path)); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException) { throw new DlmException($"{option} {path}: not a valid path ({e.Message})"); }
        string name = System.IO.Path.GetFileName(full);
        string? parent = System.IO.Path.GetDirectoryName(full);
        if (string.IsNullOrEmpty(name) || parent is null) throw new DlmException($"{option} {path}: a file-system root cannot be an output folder");
        if (File.Exists(full)) throw new DlmException($"{option} {path}: is a file, expected a folder");
        CheckInputs(path, full, inputs, replaces, option);

        try { Directory.CreateDirectory(parent); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DlmException($"{option} {path}: cannot create its parent folder ({e.Message})"); }
        var lockFile = TakeLock(path, System.IO.Path.Combine(parent, $".{name}.lock"), option);
        try
        {
            // The lock is held: no live writer uses this name, so whatever a killed one left is stale.
            AtomicDirectory.RecoverStale(full, anyOwner: true);
            bool created = false, held = false;
            if (!Directory.Exists(full))
            {
                Directory.CreateDirectory(full);
                created = true;
            }
            else if (Directory.EnumerateFileSystemEntries(full).Any(e => System.IO.Path.GetFileName(e) != ManifestFile))
            {
                string? owner = Owner(full);
                if (owner is null)
                    throw new DlmException($"{option} {path}: the folder exists and was not written by dlm (no {ManifestFile}); it is left alone: choose a new {option} or empty it yourself");
                if (existing == Existing.Refuse)
                    throw new DlmException($"{option} {path}: holds the output of `dlm {owner}`; pass --force to replace it");
                held = true;
            }
            WriteManifest(full, verb, path, option);
            return new OutputFolder(full, lockFile, created, held);
        }
        catch
        {
            lockFile.Dispose();
            throw;
        }
    }

    /// <summary>The verb that wrote <paramref name="dir"/> (from its manifest, or a legacy signature file), or null if it is not ours.</summary>
    public static string? Owner(string dir)
    {
        string manifest = System.IO.Path.Combine(dir, ManifestFile);
        if (File.Exists(manifest))
        {
            try { return JsonNode.Parse(File.ReadAllText(manifest))?["verb"]?.GetValue<string>() ?? "?"; }
            catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or FormatException) { return "?"; }
        }
        foreach (var signature in LegacySignatures)
            if (File.Exists(System.IO.Path.Combine(dir, signature))) return signature.Split('.')[0].Replace("_state", "");
        return null;
    }

    /// <summary>Releases the lock; a folder this call created and nothing was written into is removed again.</summary>
    public void Dispose()
    {
        try
        {
            if (_createdHere && Directory.Exists(Path) && Directory.EnumerateFileSystemEntries(Path).All(e => System.IO.Path.GetFileName(e) == ManifestFile))
                Directory.Delete(Path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        _lock.Dispose();
    }

    static void CheckInputs(string path, string full, IEnumerable<string?>? inputs, bool replaces, string option)
    {
        foreach (var input in inputs ?? [])
        {
            if (string.IsNullOrEmpty(input)) continue;
            string inFull = System.IO.Path.TrimEndingDirectorySeparator(System.IO.Path.GetFullPath(input));
            if (SamePath(full, inFull) || IsInside(full, inFull))
                throw new DlmException($"{option} {path}: is {(SamePath(full, inFull) ? "the input" : "inside the input")} {input}; writing it would destroy what is being read: choose another {option}");
            if (replaces && IsInside(inFull, full) && Directory.Exists(full))
                throw new DlmException($"{option} {path}: holds the input {input}; replacing the folder would delete it: choose another {option}");
        }
    }

    static bool SamePath(string a, string b) => string.Equals(a, b, StringComparison.Ordinal);

    static bool IsInside(string child, string parent) =>
        child.StartsWith(parent.EndsWith(System.IO.Path.DirectorySeparatorChar) ? parent : parent + System.IO.Path.DirectorySeparatorChar, StringComparison.Ordinal);

    static FileStream TakeLock(string path, string lockPath, string option)
    {
        try { return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
        catch (UnauthorizedAccessException e) { throw new DlmException($"{option} {path}: not writable ({e.Message})"); }
        catch (IOException e) when (File.Exists(lockPath) || Directory.Exists(lockPath))
        {
            throw new DlmException($"{option} {path}: another dlm process is writing it (lock {lockPath} is held); wait for it or choose another {option} ({e.Message})");
        }
        catch (IOException e) { throw new DlmException($"{option} {path}: cannot lock it ({e.Message})"); }
    }

    static void WriteManifest(string dir, string verb, string path, string option)
    {
        var manifest = new JsonObject
        {
            ["verb"] = verb,
            ["version"] = Version,
            ["written_utc"] = DateTime.UtcNow.ToString("yyyy-MM-ddTHH:mm:ssZ"),
        };
        try { AtomicFile.WriteAllText(System.IO.Path.Combine(dir, ManifestFile), manifest.ToJsonString() + "\n"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { throw new DlmException($"{option} {path}: not writable ({e.Message})"); }
    }

    static string Version =>
        typeof(OutputFolder).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(OutputFolder).Assembly.GetName().Version?.ToString() ?? "unknown";
}
