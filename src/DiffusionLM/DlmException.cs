namespace DiffusionLM;

/// <summary>
/// An error caused by the user's input (a file, a flag, a prompt), with a message that names the
/// problem. The command line prints the message alone and exits non-zero; no stack trace.
/// </summary>
public sealed class DlmException(string message) : Exception(message);
