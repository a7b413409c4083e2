using System.CommandLine;
using DiffusionLM.Sampling;

namespace DiffusionLM.Cli.Commands;

/// <summary><c>dlm samplers</c>: every registered sampler with its family, abilities and own options, defaults included,
/// printed from the registry (<see cref="SamplerHelp"/>), so the list cannot fall behind the code.</summary>
public static class SamplersCommand
{
    public static Command Create()
    {
        var family = new Option<string?>("--family") { Description = "only the samplers of this model family: masked, uniform, gaussian or causal" };
        var cmd = new Command("samplers", "List the samplers `dlm generate --sampler` takes, each with the options it reads and their defaults " +
            "(the run's shape, --gen-length --steps --block-length --temperature --cache --cache-refresh, is the verb's).") { family };
        cmd.SetAction(r => Io.Guard(() =>
        {
            var f = r.GetValue(family);
            var entries = SamplerRegistry.All.Where(e => f is null || e.Family == f).ToList();
            if (entries.Count == 0)
                throw new DlmException($"--family {f}: no sampler of that family (families: {string.Join(", ", SamplerRegistry.All.Select(e => e.Family).Distinct())})");
            foreach (var e in entries) Io.Out.Write(SamplerHelp.Entry(e));
            return 0;
        }));
        return cmd;
    }
}
