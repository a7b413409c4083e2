using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>RMSNorm computed in fp32 whatever the storage dtype, as LLaDA's and Llama's reference code do.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    readonly double _eps;
    public readonly TorchSharp.Modules.Parameter weight;

    public RmsNorm(string name, long dim, double eps) : base(name)
    {
        _eps = eps;
        weight = nn.Parameter(ones(dim));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var inputType = x.dtype;
        var h = x.to_type(ScalarType.Float32);
        var normed = h * rsqrt(h.pow(2).mean([-1L], keepdim: true) + _eps);
        return (weight.to_type(ScalarType.Float32) * normed).to_type(inputType).MoveToOuterDisposeScope();
    }
}
