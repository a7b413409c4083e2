namespace DiffusionLM.Analysis.Audit;

/// <summary>How much the audit measures; the defaults are the full run, <see cref="Quick"/> the small one.</summary>
public sealed record AuditOptions
{
    /// <summary>Times of the D1 curve, evenly spaced over [0, 1].</summary>
    public int Times { get; init; } = 21;
    /// <summary>Single-token paths of the chain simulated for D1's per-token step.</summary>
    public int PathTokens { get; init; } = 2000;
    /// <summary>Held-out windows the denoiser is scored on at every time, and their length (at most the model's context).</summary>
    public int Windows { get; init; } = 32;
    public int WindowLength { get; init; } = 64;
    /// <summary>The fixed time of the spread across positions, and the corruptions drawn per window there.</summary>
    public double SpreadT { get; init; } = 0.5;
    public int SpreadDraws { get; init; } = 8;
    /// <summary>Rows per forward of the D1 measures.</summary>
    public int Batch { get; init; } = 16;
    /// <summary>D2: the time, the samples of each side of the test, the chain's steps, the tokens of x_0.</summary>
    public double D2T { get; init; } = 0.5;
    public int D2Samples { get; init; } = 4000;
    public int D2ChainSteps { get; init; } = 10;
    public int D2Tokens { get; init; } = 16;
    /// <summary>D3/L1: prompts sampled from, their length, and the shorter of the two generation lengths (steps = this length).</summary>
    public int SamplerRows { get; init; } = 4;
    public int PromptLength { get; init; } = 8;
    public int GenLength { get; init; } = 32;
    /// <summary>L2: the trap language, samples per setting, the trap model's optimizer steps.</summary>
    public string TrapLanguage { get; init; } = "paper";
    public int TrapSamples { get; init; } = 1000;
    public int TrapTrainSteps { get; init; } = 400;
    public long Seed { get; init; }

    public static AuditOptions Quick => new()
    {
        Windows = 16, SpreadDraws = 4, PathTokens = 1000, D2Samples = 2000, GenLength = 16, TrapSamples = 500, TrapTrainSteps = 150,
    };
}

/// <summary>
/// D1: the analytic curve of I(x_t; x_0), its largest step, a single token's largest step along a path of the chain
/// on the curve's grid and on a grid four times finer (null when the family has no path model), the trained denoiser
/// against t, and the spread across positions at one t.
/// </summary>
public sealed record D1Result(
    double[] Times, double EntropyNats, double[] InformationNats, double[] InformationNormalised,
    double LargestJumpNats, double LargestJumpNormalised, double EvenStep, TokenPathResult? TokenPath, TokenPathResult? TokenPathFine,
    DenoiserCurve Denoiser, SpreadResult Spread)
{
    /// <summary>How much of one token's largest step is left on the finer grid: near 1 for a jump, 1/4 to 1/2 for a continuous fall (1/2 when the path's noise dominates).</summary>
    public double? PathStepRatio => TokenPath is { } a && TokenPathFine is { } b && a.MeanLargestStepShare > 0
        ? b.MeanLargestStepShare / a.MeanLargestStepShare : null;
}

/// <summary>The trained denoiser's accuracy and mean log-prob of x_0 against t (see <see cref="DenoiserAt"/>).</summary>
public sealed record DenoiserCurve(int Windows, int WindowLength, double[] Accuracy, double[] LogProb,
    double[] AccuracyCorrupted, double[] LogProbCorrupted, double[] CorruptedShare, double LargestAccuracyJump);

/// <summary>
/// The denoiser at one t over many windows and draws, on corrupted positions only. Across positions (averaged over
/// windows): accuracy and log-prob of x_0 per position, with a test (analysis of variance, windows as replicates) of
/// whether accuracy differs between positions beyond chance. Within a window: the standard deviation across its positions of the log-prob of x_0,
/// averaged over windows, and the mean lowest and highest position — one corruption level, very unequal losses.
/// </summary>
public sealed record SpreadResult(double T, int Draws, PositionSpread AccuracyCorrupted, PositionSpread LogProbCorrupted,
    double HeterogeneityStatistic, int HeterogeneityDegreesOfFreedom, double HeterogeneityPValue,
    double WithinWindowLogProbStd, double WithinWindowLogProbMin, double WithinWindowLogProbMax, PositionSpread CorruptedShare);

/// <summary>D2: closed form against the chain (a two-sample test); <paramref name="Available"/> false when the family has no check wired.</summary>
public sealed record D2Result(bool Available, string Method, double T, int Samples, int ChainSteps,
    double Statistic, int DegreesOfFreedom, double PValue, bool Passes, double ClosedFormStayRate, double ChainStayRate, string? Note = null);

/// <summary>D3: revisions after the first proposal, and the network calls at two lengths with the same step count.</summary>
public sealed record D3Result(string Sampler, int Steps, int Rows, int GenLength, double RevisionsPerPosition, double RevisedShare,
    int GenLengthLong, int Nfe, int NfeLong, bool StepsIndependentOfLength);

/// <summary>
/// L1: the intermediate states that are token sequences; for continuous models the rounding error at several t
/// (<see cref="RoundingError"/>: rounding x_t itself, and rounding the denoiser's x̂_0, to the nearest embedding).
/// </summary>
public sealed record L1Result(int Observations, double DiscreteShare, double ValidSequenceShare, double RealTokenShare,
    IReadOnlyList<RoundingError>? Rounding = null)
{
    /// <summary>The headline: the share of positions whose x_t at t = 0.5 rounds to another token than x_0.</summary>
    public double? RoundingErrorRate => Rounding?.FirstOrDefault(r => r.T == 0.5)?.NoisyRate;
}

/// <summary>Everything measured for one model, and the seconds each stage took.</summary>
public sealed record FamilyAudit(string Process, string Model, D1Result D1, D2Result D2, D3Result D3, L1Result L1, TrapAuditResult? L2, double Seconds)
{
    public IReadOnlyDictionary<string, double> StageSeconds { get; init; } = new Dictionary<string, double>();
}

/// <summary>audit.json: every model's measurements and the options they were measured with.</summary>
public sealed record AuditReport(IReadOnlyList<FamilyAudit> Families, AuditOptions Options, bool Quick, double Seconds);
