using Xunit;
namespace DiffusionLM.Tests;

/// <summary>Tests that touch process-wide state (TorchSharp's default generator, thread count, grad mode; the CLI's Io writers) run one at a time.</summary>
[CollectionDefinition("TorchGlobalState", DisableParallelization = true)]
public class TorchGlobalStateCollection { }
