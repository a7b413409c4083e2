using DiffusionLM.Sampling;
using Xunit;

namespace DiffusionLM.Tests.Sampling;

public class TransferScheduleTests
{
    // (masked, steps, expected): LLaDA's get_num_transfer_tokens, worked out by hand:
    // base = n // steps everywhere, +1 on the first n % steps steps.
    public static TheoryData<int, int, int[]> Table => new()
    {
        { 10, 4, [3, 3, 2, 2] },
        { 32, 16, Enumerable.Repeat(2, 16).ToArray() },     // gen 128, block 32, steps 64: 16 steps/block x 2
        { 128, 128, Enumerable.Repeat(1, 128).ToArray() },  // LLaDA's default: one token per step
        { 128, 64, Enumerable.Repeat(2, 64).ToArray() },
        { 2, 4, [1, 1, 0, 0] },                               // fewer masks than steps: zeros at the end
        { 0, 3, [0, 0, 0] },
        { 5, 1, [5] },
        { 7, 7, [1, 1, 1, 1, 1, 1, 1] },
        { 13, 5, [3, 3, 3, 2, 2] },
        { 31, 8, [4, 4, 4, 4, 4, 4, 4, 3] },
        { 1, 3, [1, 0, 0] },
    };

    [Theory]
    [MemberData(nameof(Table))]
    public void MatchesLladaTable(int masked, int steps, int[] expected)
    {
        var counts = TransferSchedule.Counts(masked, steps);
        Assert.Equal(expected, counts);
        Assert.Equal(masked, counts.Sum());
    }

    [Fact]
    public void BatchRowsUseTheirOwnCounts()
    {
        var counts = TransferSchedule.Counts([10, 3, 8], 4);
        Assert.Equal([3, 3, 2, 2], counts[0]);
        Assert.Equal([1, 1, 1, 0], counts[1]);
        Assert.Equal([2, 2, 2, 2], counts[2]);
    }

    [Fact]
    public void BlocksSplitStepsEvenly()
    {
        var o = new LladaSamplerOptions(GenLength: 128, Steps: 64, BlockLength: 32);
        o.Validate();
        Assert.Equal(4, o.NumBlocks);
        Assert.Equal(16, o.StepsPerBlock);
        Assert.Equal(Enumerable.Repeat(2, 16), TransferSchedule.Counts(32, o.StepsPerBlock));
    }

    [Fact]
    public void RejectsNonPositiveSteps()
    {
        var e = Assert.Throws<DlmException>(() => TransferSchedule.Counts(4, 0));
        Assert.Contains("steps", e.Message);
    }
}
