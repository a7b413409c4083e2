using DiffusionLM.Cli;

namespace DiffusionLM.Tests.Cli;

/// <summary>Runs the `dlm` command line in-process and captures what it prints.</summary>
public static class CliRunner
{
    static readonly object Gate = new();

    public static (int Code, string Out, string Err) Run(params string[] args)
    {
        lock (Gate)
        {
            var (oldOut, oldErr) = (Io.Out, Io.Err);
            var (o, e) = (new StringWriter(), new StringWriter());
            Io.Out = o; Io.Err = e;
            try { return (Program.Run(args), o.ToString(), e.ToString()); }
            finally { Io.Out = oldOut; Io.Err = oldErr; }
        }
    }
}
