using System.CommandLine;
using DiffusionLM.Cli.Commands;

namespace DiffusionLM.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        // Before anything loads libtorch: its OpenMP threads must not spin (see ThreadWaitPolicy).
        DiffusionLM.Runtime.ThreadWaitPolicy.Apply();
        // Freed tensor memory stays in the heap instead of being faulted in again (see NativeAllocator).
        DiffusionLM.Runtime.NativeAllocator.Apply();
        return Run(args);
    }

    /// <summary>Runs the command line; output goes to <see cref="Io"/>, which tests may redirect.</summary>
    public static int Run(string[] args)
    {
        var root = BuildRoot();
        var config = new InvocationConfiguration { Output = Io.Out, Error = Io.Err };
        // No response files: "--prompt @notes.txt" is the text "@notes.txt", never the content of a file.
        var parsed = root.Parse(args, new ParserConfiguration { ResponseFileTokenReplacer = null });
        if (parsed.Errors.Count > 0) return ParseError(parsed);
        return parsed.Invoke(config);
    }

    /// <summary>Every verb with its options, as <see cref="Run"/> parses them (tests walk it to check the options' spellings).</summary>
    public static RootCommand BuildRoot() =>
        new(
            "dlm: DiffusionLM, a laboratory for diffusion language models.\n" +
            "Train masked diffusion LMs, sample from them with LLaDA's sampler, and measure them.\n" +
            "Every verb that takes one --model defaults to the bundled model in models/default.")
        {
            TrainCommand.Create(),
            GenerateCommand.Create(),
            SamplersCommand.Create(),
            EvalCommand.Create(),
            BenchCommand.Create(),
            InspectCommand.Create(),
            ImportCommand.Create(),
            ExportCommand.Create(),
            TrapCommand.Create(),
            ProbeCommand.Create(),
            TeacherCorpusCommand.Create(),
            ScoreCommand.Create(),
            AuditCommand.Create(),
            FuzzCommand.Create(),
            ServeCommand.Create(),
        };

    /// <summary>A parse error is one line and a pointer to the verb's help (exit 2), not the whole help page.</summary>
    static int ParseError(ParseResult parsed)
    {
        var verbs = new List<string>();
        for (var c = parsed.CommandResult; c is not null; c = c.Parent as System.CommandLine.Parsing.CommandResult)
            if (c.Parent is not null) verbs.Insert(0, c.Command.Name);
        string verb = string.Join(" ", ["dlm", .. verbs]);
        // "Unrecognized command or argument 'frobnicate'" says more than "Required command was not provided".
        var first = parsed.Errors.FirstOrDefault(e => e.Message.Contains('\'')) ?? parsed.Errors[0];
        Io.Err.WriteLine($"error: {first.Message}" + (parsed.Errors.Count > 1 ? $" (and {parsed.Errors.Count - 1} more)" : ""));
        Io.Err.WriteLine($"see `{verb} --help`");
        return 2;
    }
}
