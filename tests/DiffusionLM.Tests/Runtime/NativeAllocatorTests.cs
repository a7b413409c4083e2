using DiffusionLM.Runtime;
using Xunit;

namespace DiffusionLM.Tests.Runtime;

/// <summary>The library tunes glibc's malloc when it loads (<see cref="NativeAllocator"/>), unless the user tuned it or opted out.</summary>
public class NativeAllocatorTests
{
    [Fact]
    public void TheAllocatorIsTunedOnLinuxUnlessTheUserTunedIt()
    {
        if (!OperatingSystem.IsLinux()) return;
        bool userTuned = new[] { "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_", "GLIBC_TUNABLES" }
            .Any(v => !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(v)))
            || Environment.GetEnvironmentVariable(NativeAllocator.OptOut) == "glibc";
        Assert.Equal(!userTuned, NativeAllocator.Applied);
    }
}
