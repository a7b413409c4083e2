using DiffusionLM.Models;
using DiffusionLM.Runtime;
using DiffusionLM.Sampling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Runtime;

/// <summary>The wait policy chosen at start (<see cref="ThreadWaitPolicy"/>) and one thread for small sampler runs (<see cref="SmallWorkThreads"/>).</summary>
[Collection("TorchGlobalState")]
public class ThreadWaitPolicyTests
{
    [Fact]
    public void AnIdleMachineGetsABoundedSpinABusyOnePassive()
    {
        var idle = ThreadWaitPolicy.SettingsFor(busy: false);
        Assert.Equal("PASSIVE", idle[ThreadWaitPolicy.Variable]);
        Assert.Equal(ThreadWaitPolicy.IdleSpinCount.ToString(), idle[ThreadWaitPolicy.SpinVariable]);
        Assert.InRange(ThreadWaitPolicy.IdleSpinCount, 1, 299_999); // bounded, and below libgomp's own default
        var busy = ThreadWaitPolicy.SettingsFor(busy: true);
        Assert.Equal("PASSIVE", busy[ThreadWaitPolicy.Variable]);
        Assert.False(busy.ContainsKey(ThreadWaitPolicy.SpinVariable)); // passive means no spin at all
    }

    [Fact]
    public void TheChoiceMadeAtLoadIsTheEnvironmentTheProcessRunsUnder()
    {
        Assert.NotEqual("not applied", ThreadWaitPolicy.Choice);
        if (ThreadWaitPolicy.SetByUser) { Assert.StartsWith("set by the user", ThreadWaitPolicy.Choice); return; }
        Assert.Equal("PASSIVE", Environment.GetEnvironmentVariable(ThreadWaitPolicy.Variable));
        bool spins = ThreadWaitPolicy.Choice.StartsWith("bounded spin");
        Assert.Equal(spins, Environment.GetEnvironmentVariable(ThreadWaitPolicy.SpinVariable) is not null);
        Assert.True(spins || ThreadWaitPolicy.Choice.StartsWith("passive"), ThreadWaitPolicy.Choice);
    }

    [Fact]
    public void TheRunningTasksAreReadOnLinux()
    {
        if (!OperatingSystem.IsLinux()) return;
        var others = ThreadWaitPolicy.OtherRunningTasks();
        Assert.NotNull(others);
        Assert.InRange(others!.Value, 0, 100_000);
    }

    [Fact]
    public void ASmallScopeRunsOnOneThreadAndRestoresTheCountNestedOrNot()
    {
        int before = get_num_threads();
        try
        {
            set_num_threads(2);
            using (var big = SmallWorkThreads.OneThreadIfSmall(SmallWorkThreads.SingleThreadBelowFlops))
            {
                Assert.False(big.Active);
                Assert.Equal(2, get_num_threads());
            }
            using (var small = SmallWorkThreads.OneThreadIfSmall(SmallWorkThreads.SingleThreadBelowFlops / 2))
            {
                Assert.True(small.Active);
                Assert.Equal(1, get_num_threads());
                using (SmallWorkThreads.OneThreadIfSmall(1)) Assert.Equal(1, get_num_threads());
                Assert.Equal(1, get_num_threads()); // the inner end does not restore early
            }
            Assert.Equal(2, get_num_threads());
        }
        finally { set_num_threads(before); }
    }

    [Fact]
    public void ASamplerRunOfASmallModelStepsOnOneThreadAndGivesTheCountBack()
    {
        var config = new ModelConfig
        {
            DModel = 32, NHeads = 4, NKvHeads = 2, NLayers = 2, MlpHiddenSize = 48, VocabSize = 50,
            MaxSequenceLength = 32, MaskTokenId = 49, EosTokenId = 48, RopeTheta = 10000,
        };
        Assert.True(FlopCount.Forward(config, 1, 24) < SmallWorkThreads.SingleThreadBelowFlops);
        using var m = new LladaModel(config, new Generator(5));
        m.eval();
        int before = get_num_threads();
        try
        {
            set_num_threads(2);
            var seen = new List<int>();
            var sampler = new LladaSampler(new LladaSamplerOptions(GenLength: 16, Steps: 4, BlockLength: 16)) { Observer = _ => seen.Add(get_num_threads()) };
            using var g = new Generator(0);
            using var prompt = randint(0, 48, [1, 8], generator: g);
            using (no_grad()) sampler.Generate(m, prompt, g);
            Assert.Equal([1, 1, 1, 1], seen);
            Assert.Equal(2, get_num_threads());
        }
        finally { set_num_threads(before); }
    }
}
