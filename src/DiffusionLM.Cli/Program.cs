using System.CommandLine;
using DiffusionLM.Cli.Commands;

namespace DiffusionLM.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args);

    /// <summary>Runs the command line; output goes to <see cref="Io"/>, which tests may redirect.</summary>
    public static int Run(string[] args)
    {
        var root = new RootCommand(
            "dlm: DiffusionLM, a laboratory for diffusion language models.\n" +
            "Train masked diffusion LMs, sample from them with LLaDA's sampler, and measure them.\n" +
            "Every verb that takes --model defaults to the bundled model in models/default.")
        {
            TrainCommand.Create(),
            GenerateCommand.Create(),
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
            ServeCommand.Create(),
        };
        var config = new InvocationConfiguration { Output = Io.Out, Error = Io.Err };
        return root.Parse(args).Invoke(config);
    }
}
