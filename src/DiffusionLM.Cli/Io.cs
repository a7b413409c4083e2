using DiffusionLM;

namespace DiffusionLM.Cli;

/// <summary>
/// Where the command line writes, and the one place that turns errors into messages: a user error
/// (<see cref="DlmException"/>) prints "error: ..." and exits 2; anything else prints its message and
/// exits 3, with the stack trace only when DLM_DEBUG=1.
/// </summary>
public static class Io
{
    public static TextWriter Out { get; set; } = Console.Out;
    public static TextWriter Err { get; set; } = Console.Error;

    /// <summary>True when progress bars may be drawn: stderr is a terminal and we are not redirected for tests.</summary>
    public static bool Interactive => ReferenceEquals(Err, Console.Error) && !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("CI") is null;

    public static int Guard(Func<int> action)
    {
        try { return action(); }
        catch (DlmException e) { Err.WriteLine($"error: {e.Message}"); return 2; }
        catch (OperationCanceledException) { Err.WriteLine("cancelled"); return 130; }
        catch (Exception e)
        {
            Err.WriteLine($"error: {e.GetType().Name}: {e.Message}");
            if (Environment.GetEnvironmentVariable("DLM_DEBUG") == "1") Err.WriteLine(e);
            else Err.WriteLine("(internal error; set DLM_DEBUG=1 for the stack trace)");
            return 3;
        }
    }
}
