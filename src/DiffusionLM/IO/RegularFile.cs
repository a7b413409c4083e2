using System.Runtime.InteropServices;

namespace DiffusionLM.IO;

/// <summary>
/// Refuses to read anything but a regular file (or a symbolic link to one): opening a FIFO blocks until a writer
/// appears, and a device (/dev/zero, /dev/urandom) never ends, so a model folder holding one would hang a verb.
/// </summary>
public static class RegularFile
{
    const uint TypeMask = 0xF000, Regular = 0x8000, Directory = 0x4000;

    /// <summary>Throws a <see cref="DlmException"/> naming <paramref name="path"/> unless it is a regular file.</summary>
    public static void Require(string path, string? what = null)
    {
        string label = what is null ? path : $"{path} ({what})";
        if (!File.Exists(path))
            throw new DlmException(System.IO.Directory.Exists(path) ? $"{label}: is a folder, expected a file" : $"{label}: file not found");
        if (TypeOf(path) is uint type && type != Regular)
            throw new DlmException($"{label}: not a regular file ({Describe(type)}); only regular files are read");
    }

    /// <summary>The S_IFMT bits of stat(2) (following links), or null where they cannot be read.</summary>
    static uint? TypeOf(string path)
    {
        if (!OperatingSystem.IsLinux()) return null;
        // struct stat of glibc: st_mode is at byte 24 on x86-64, at byte 16 on arm64 (and most other 64-bit ABIs).
        int offset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 24 : 16;
        var buffer = new byte[256];
        try { if (stat(path, buffer) != 0) return null; }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException) { return null; }
        return BitConverter.ToUInt32(buffer, offset) & TypeMask;
    }

    static string Describe(uint type) => type switch
    {
        0x1000 => "a FIFO",
        0x2000 => "a character device",
        0x6000 => "a block device",
        0xC000 => "a socket",
        Directory => "a folder",
        _ => $"file type 0x{type:X}",
    };

    [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
    static extern int stat([MarshalAs(UnmanagedType.LPUTF8Str)] string path, byte[] buffer);
}
