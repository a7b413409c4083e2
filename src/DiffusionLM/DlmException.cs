namespace DiffusionLM;

/// <summary>
/// An error caused by the user's input (a file, a flag, a prompt), with a message that names the
/// problem. The command line prints the message alone and exits non-zero; no stack trace.
/// </summary>
public class DlmException(string message) : Exception(message);

/// <summary>A model's logits turned NaN or +infinity (<see cref="Models.NonFinite.CheckLogits"/>): a caller that knows why
/// (training at a learning rate that diverged) catches this type and names its own option.</summary>
public sealed class NonFiniteLogitsException(string message) : DlmException(message);
