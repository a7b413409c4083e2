using Xunit;

namespace DiffusionLM.Tests;

/// <summary>
/// Tests that compare timings-independent but thread-sensitive results (bit-exact training runs) or touch
/// process-wide TorchSharp state run one at a time, never beside another test class.
/// </summary>
[CollectionDefinition("TorchGlobalState", DisableParallelization = true)]
public class TorchGlobalStateCollection { }
