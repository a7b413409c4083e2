using DiffusionLM.Models;
using DiffusionLM.Runtime;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Runtime;

/// <summary>
/// <c>--matmul bf16</c>: libtorch's oneDNN float32 precision (process-wide, so these tests run alone) and the bf16
/// copies of a model's projections.
/// </summary>
[Collection("TorchGlobalState")]
public class MatmulPrecisionTests
{
    static (Tensor a, Tensor w) Operands(int m = 48, int k = 96, int n = 80)
    {
        using var g = new Generator(3);
        return (randn([m, k], generator: g), randn([n, k], generator: g) * 0.1f);
    }

    [Fact]
    public void TheProcessWidePrecisionRoundTripsThroughLibtorchAndWithRestoresIt()
    {
        Assert.Equal(MatmulMode.Fp32, MatmulPrecision.Current);
        var seen = MatmulPrecision.With(MatmulMode.Bf16, () => MatmulPrecision.Current);
        Assert.Equal(MatmulMode.Bf16, seen);
        Assert.Equal(MatmulMode.Fp32, MatmulPrecision.Current);
        Assert.Throws<InvalidOperationException>(() => MatmulPrecision.With<int>(MatmulMode.Bf16, () => throw new InvalidOperationException("boom")));
        Assert.Equal(MatmulMode.Fp32, MatmulPrecision.Current); // restored after a throw too
    }

    [Fact]
    public void UnderOneDnnBf16AFloat32ProductStaysWithinBf16RoundingOfTheExactOne()
    {
        var (a, w) = Operands(64, 256, 192);
        using var _ = no_grad();
        using var exact = nn.functional.linear(a.to(ScalarType.Float64), w.to(ScalarType.Float64));
        using var fast = MatmulPrecision.With(MatmulMode.Bf16, () => nn.functional.linear(a, w));
        Assert.Equal(ScalarType.Float32, fast.dtype);
        // bf16 keeps 8 bits of mantissa: each product is off by at most 2^-8 relative, the sum by sqrt(k) of that at typical scale.
        double bound = 2.0 / 256 * (a.abs().max().item<float>() * w.abs().max().item<float>()) * Math.Sqrt(256);
        Assert.True((fast.to(ScalarType.Float64) - exact).abs().max().item<double>() < bound);
    }

    [Fact]
    public void Bf16ProjectionsMultiplyTheBf16CopiesAndFallBackToFloat32UnderAutograd()
    {
        var (a, w) = Operands();
        using var bias = arange(80, dtype: ScalarType.Float32) * 0.01f;
        using var projections = new Bf16Projections([w]);
        Tensor viaCopies, expected, exact;
        using (no_grad())
        {
            viaCopies = projections.Linear(a, w, bias);
            expected = nn.functional.linear(a.to(ScalarType.BFloat16), w.to(ScalarType.BFloat16)).to(ScalarType.Float32) + bias;
            exact = nn.functional.linear(a, w, bias);
        }
        Assert.Equal(ScalarType.Float32, viaCopies.dtype);
        Assert.True(viaCopies.eq(expected).all().item<bool>(), "the bf16 path is the bf16 product of the rounded operands, float32 out");
        Assert.True(viaCopies.ne(exact).any().item<bool>(), "the bf16 path must not be the float32 product");
        // Under autograd the float32 weight is used, so gradients are the float32 model's.
        using var grad = projections.Linear(a, w, bias);
        Assert.True(grad.eq(exact).all().item<bool>());
        // A weight without a copy is multiplied in float32.
        using var other = w.clone();
        using (no_grad()) Assert.True(projections.Linear(a, other, bias).eq(exact).all().item<bool>());
    }

    [Fact]
    public void AModelInBf16MatmulMovesItsLogitsByBf16RoundingAndBackToFloat32Exactly()
    {
        var config = new ModelConfig
        {
            DModel = 64, NHeads = 4, NKvHeads = 2, NLayers = 2, MlpHiddenSize = 96, VocabSize = 60,
            MaxSequenceLength = 32, MaskTokenId = 59, EosTokenId = 58, RopeTheta = 10000,
        };
        using var m = new LladaModel(config, new Generator(5));
        m.eval();
        using var g = new Generator(7);
        using var ids = randint(0, 60, [2, 24], generator: g);
        using var _ = no_grad();
        using var before = m.Logits(ids);
        m.SetMatmul(MatmulMode.Bf16);
        Assert.Equal(MatmulMode.Bf16, m.Matmul);
        using var bf16 = m.Logits(ids);
        m.SetMatmul(MatmulMode.Fp32);
        using var after = m.Logits(ids);
        double diff = (bf16 - before).abs().max().item<float>(), scale = before.abs().max().item<float>();
        Assert.True(diff > 0, "bf16 projections must change the logits");
        Assert.True(diff < 0.03 * scale, $"bf16 moved the logits by {diff} of {scale}");
        Assert.True(after.eq(before).all().item<bool>(), "switching back to fp32 restores the float32 logits bit for bit");
    }

    [Fact]
    public void ParseNamesTheOption()
    {
        Assert.Equal(MatmulMode.Bf16, MatmulPrecision.Parse("BF16"));
        Assert.Equal(MatmulMode.Fp32, MatmulPrecision.Parse("fp32"));
        var e = Assert.Throws<DlmException>(() => MatmulPrecision.Parse("fp8"));
        Assert.Contains("--matmul", e.Message);
    }
}
