using System.CommandLine;

namespace DiffusionLM.Cli;

/// <summary>Options about how prompt text is read (the rule itself is <see cref="DiffusionLM.Text.PromptEncoder"/>).</summary>
public static class PromptOptions
{
    public static Option<bool> AllowSpecialTokens() => new("--allow-special-tokens")
    {
        Description = "encode special-token strings typed in a prompt (\"<|eos|>\", \"<|im_start|>\") as the special tokens; by default they are ordinary text. A mask token is never allowed in a prompt",
    };
}
