using DiffusionLM.Models.Hf;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Hf;

/// <summary>
/// <see cref="WeightStore.Linear"/> converts bf16/f16 weights into one reused fp32 buffer: the result must be
/// exactly the matmul with the weight converted on its own, and a later call must not change an earlier result.
/// </summary>
public class WeightStoreLinearTests
{
    static WeightStore Store(ScalarType dtype, out Dictionary<string, Tensor> fp32)
    {
        var g = new Generator(7);
        fp32 = new Dictionary<string, Tensor>
        {
            ["wide"] = randn([48, 16], generator: g), ["narrow"] = randn([8, 16], generator: g), ["bias"] = randn([8], generator: g),
        };
        var stored = fp32.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(dtype));
        // The reference: the stored values themselves, widened to fp32 one tensor at a time.
        fp32 = stored.ToDictionary(kv => kv.Key, kv => kv.Value.to_type(ScalarType.Float32));
        return WeightStore.FromTensors(stored);
    }

    static bool Same(Tensor a, Tensor b) => a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.Float32)]
    public void ALinearOverAStoredWeightIsTheMatmulWithThatWeightInFp32AndLaterCallsLeaveItAlone(ScalarType dtype)
    {
        using var _ = no_grad();
        using var store = Store(dtype, out var f);
        var x = randn([2, 3, 16], generator: new Generator(8));

        var wide = store.Linear(x, "wide");
        var wideCopy = wide.clone();
        var narrow = store.Linear(x, "narrow", "bias");   // reuses the buffer the wide weight was converted into
        var rows = store.LinearRows(x, "wide", 40, 8);     // the last rows of the wide weight, in the same buffer again

        Assert.Equal(ScalarType.Float32, wide.dtype);
        Assert.True(Same(wide, nn.functional.linear(x, f["wide"])));
        Assert.True(Same(narrow, nn.functional.linear(x, f["narrow"], f["bias"])));
        Assert.True(Same(rows, nn.functional.linear(x, f["wide"].narrow(0, 40, 8))));
        Assert.True(Same(wide, wideCopy), "a later call changed an earlier result: the output aliases the buffer");
    }
}
