namespace DiffusionLM.Sampling;

/// <summary>
/// How many masked positions to commit at each step of a block: LLaDA's get_num_transfer_tokens.
/// LLaDA's forward process masks linearly in time, so with the interval [0, 1] cut into equal
/// steps the expected number of tokens revealed per step is constant; the remainder goes to the
/// earliest steps, one each.
/// </summary>
public static class TransferSchedule
{
    /// <summary>
    /// Commit counts for one row: every step gets masked / steps, the first masked % steps steps one
    /// more. The counts sum to <paramref name="masked"/>; with masked &lt; steps the tail is zeros.
    /// </summary>
    /// <example>Counts(10, 4) = [3, 3, 2, 2]; Counts(2, 4) = [1, 1, 0, 0].</example>
    public static int[] Counts(int masked, int steps)
    {
        if (steps <= 0) throw new DlmException($"transfer schedule: steps must be positive (got {steps})");
        if (masked < 0) throw new DlmException($"transfer schedule: masked count must be non-negative (got {masked})");
        int q = masked / steps, r = masked % steps;
        var counts = new int[steps];
        for (int i = 0; i < steps; i++) counts[i] = q + (i < r ? 1 : 0);
        return counts;
    }

    /// <summary>Counts for a batch: each row by its own masked count, as the reference does per row.</summary>
    public static int[][] Counts(IReadOnlyList<int> maskedPerRow, int steps) =>
        maskedPerRow.Select(m => Counts(m, steps)).ToArray();
}
