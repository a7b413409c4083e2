namespace DiffusionLM.Analysis;

/// <summary>
/// What a judge says of a set of texts: the exact per-token negative log-likelihood under an
/// autoregressive model, its exponential (generative perplexity, as MDLM and SEDD report with GPT-2),
/// and the unigram entropy of the texts' own tokens (repetitive output scores low).
/// </summary>
public sealed record JudgeScore(double GenPpl, double NllPerToken, double Entropy, long Tokens);

/// <summary>
/// Scores texts with a model of known likelihood. Texts go in as strings because a judge has its own
/// tokenizer (the stories260K teacher's, for example), not the tokenizer of the model being judged.
/// </summary>
public interface IJudge
{
    JudgeScore Score(IReadOnlyList<string> texts);
}
