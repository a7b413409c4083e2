using System.CommandLine;
using DiffusionLM.Models;
using DiffusionLM.Runtime;

namespace DiffusionLM.Cli;

/// <summary><c>--matmul fp32|bf16</c>: how a model's matrix products are multiplied at inference (see <see cref="MatmulMode"/>).</summary>
public static class MatmulOptions
{
    public static Option<string> Create() => new("--matmul")
    {
        Description = "fp32 (default): float32 products, exact up to summation order. bf16: the projections multiply bf16 copies of the weights "
            + "(float32 accumulation) and oneDNN may take other float32 products in bf16: about 2x faster on CPUs with bf16 dot products "
            + "(AVX512-BF16, AMX), far slower on others (AVX2); logits move by about 1% of their scale (dlm bench peers reports it)",
        DefaultValueFactory = _ => "fp32",
    };

    /// <summary>Parses the option and applies it (<see cref="Use"/>); fp32, libtorch's default, changes nothing.</summary>
    public static void Apply(string value, IDenoiser model)
    {
        var mode = MatmulPrecision.Parse(value);
        if (mode != MatmulMode.Fp32) Use(mode, model);
    }

    /// <summary>Sets the mode on the process (oneDNN's float32 precision) and, where the model has bf16 projections, on the model.</summary>
    public static void Use(MatmulMode mode, IDenoiser model)
    {
        MatmulPrecision.Set(mode);
        if (model is LladaModel llada) llada.SetMatmul(mode);
    }
}
