using System.CommandLine;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm import`: models from other tools (Hugging Face folders, llama2.c checkpoints) become model folders of the project.</summary>
public static class ImportCommand
{
    public static Command Create() =>
        new("import", "Bring a model from another tool into the project: `import hf` (LLaDA, Dream, MDLM folders) or `import llama2c`.")
        {
            ImportHfCommand.Create(),
            ImportLlama2cCommand.Create(),
        };
}
