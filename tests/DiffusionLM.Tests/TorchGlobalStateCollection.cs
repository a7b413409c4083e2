using Xunit;

namespace DiffusionLM.Tests;

[CollectionDefinition("TorchGlobalState", DisableParallelization = true)]
public class TorchGlobalStateCollection { }
