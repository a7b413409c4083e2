using System.CommandLine;

namespace DiffusionLM.Cli;

/// <summary>The --force option of every verb that writes a folder (the rule itself is <see cref="DiffusionLM.IO.OutputFolder"/>).</summary>
public static class OutputOptions
{
    public static Option<bool> Force(string? what = null) => new("--force")
    {
        Description = what ?? "replace --out when it holds an earlier output of dlm (a folder not written by dlm is never replaced)",
    };

    /// <summary>How a verb treats an existing output of its own: replaced with --force, refused otherwise.</summary>
    public static IO.OutputFolder.Existing Existing(bool force) => force ? IO.OutputFolder.Existing.Replace : IO.OutputFolder.Existing.Refuse;
}
