using Xunit;
using DiffusionLM.IO;

namespace DiffusionLM.Tests.IO;

public class AtomicFileTests
{
    [Fact]
    public void Writes_text_bytes_and_streams_and_replaces_existing_files()
    {
        using var dir = new TempFolder();
        var path = dir["sub/config.json"];
        AtomicFile.WriteAllText(path, "{\"a\": 1}");
        Assert.Equal("{\"a\": 1}", File.ReadAllText(path));
        AtomicFile.WriteAllBytes(path, [1, 2, 3]);
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
        AtomicFile.Write(path, s => s.Write([9, 8]));
        Assert.Equal([9, 8], File.ReadAllBytes(path));
        Assert.Equal(["config.json"], Directory.GetFileSystemEntries(dir["sub"]).Select(Path.GetFileName));
    }

    [Fact]
    public void A_writer_that_throws_leaves_the_old_file_and_no_temp_file()
    {
        using var dir = new TempFolder();
        var path = dir["state.bin"];
        File.WriteAllText(path, "old");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write([1, 2, 3, 4]);
            throw new InvalidOperationException("boom");
        }));
        Assert.Equal("old", File.ReadAllText(path));
        Assert.Equal(["state.bin"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }
}

public class AtomicDirectoryTests
{
    static void Fill(string folder, string content)
    {
        File.WriteAllText(Path.Combine(folder, "config.json"), content);
        Directory.CreateDirectory(Path.Combine(folder, "state"));
        File.WriteAllText(Path.Combine(folder, "state", "step.txt"), content);
    }

    [Fact]
    public void Creates_the_target_when_absent()
    {
        using var dir = new TempFolder();
        var target = dir["ckpt"];
        AtomicDirectory.Write(target, f => Fill(f, "v1"));
        Assert.Equal("v1", File.ReadAllText(Path.Combine(target, "config.json")));
        Assert.Equal(["ckpt"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_successful_fill_replaces_the_old_folder_entirely()
    {
        using var dir = new TempFolder();
        var target = dir["ckpt"];
        AtomicDirectory.Write(target, f => { Fill(f, "v1"); File.WriteAllText(Path.Combine(f, "stale.txt"), "x"); });
        AtomicDirectory.Write(target + "/", f => Fill(f, "v2"));
        Assert.Equal("v2", File.ReadAllText(Path.Combine(target, "config.json")));
        Assert.Equal("v2", File.ReadAllText(Path.Combine(target, "state", "step.txt")));
        Assert.False(File.Exists(Path.Combine(target, "stale.txt")));
        Assert.Equal(["ckpt"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName)); // no .tmp-/.old- left
    }

    [Fact]
    public void A_fill_that_throws_leaves_the_previous_target_intact_and_no_temp_folder()
    {
        using var dir = new TempFolder();
        var target = dir["ckpt"];
        AtomicDirectory.Write(target, f => Fill(f, "v1"));
        string? seen = null;
        var e = Assert.Throws<IOException>(() => AtomicDirectory.Write(target, f =>
        {
            seen = f;
            Fill(f, "half-written");
            throw new IOException("disk full");
        }));
        Assert.Equal("disk full", e.Message);
        Assert.NotNull(seen);
        Assert.NotEqual(Path.GetFullPath(target), Path.GetFullPath(seen!));
        Assert.Equal(Path.GetFullPath(dir.Path), Path.GetDirectoryName(Path.GetFullPath(seen!))); // a sibling
        Assert.False(Directory.Exists(seen));
        Assert.Equal("v1", File.ReadAllText(Path.Combine(target, "config.json")));
        Assert.Equal("v1", File.ReadAllText(Path.Combine(target, "state", "step.txt")));
        Assert.Equal(["ckpt"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void A_fill_that_throws_with_no_previous_target_leaves_nothing()
    {
        using var dir = new TempFolder();
        var target = dir["ckpt"];
        Assert.Throws<InvalidOperationException>(() => AtomicDirectory.Write(target, f => { Fill(f, "x"); throw new InvalidOperationException(); }));
        Assert.Empty(Directory.GetFileSystemEntries(dir.Path));
    }

    [Fact]
    public void A_file_in_the_way_is_an_error()
    {
        using var dir = new TempFolder();
        var target = dir["ckpt"];
        File.WriteAllText(target, "not a folder");
        var e = Assert.Throws<DlmException>(() => AtomicDirectory.Write(target, f => Fill(f, "x")));
        Assert.Contains(target, e.Message);
        Assert.Equal(["ckpt"], Directory.GetFileSystemEntries(dir.Path).Select(Path.GetFileName));
    }
}
