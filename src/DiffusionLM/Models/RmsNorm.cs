using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>RMSNorm computed in fp32 whatever the storage dtype, as LLaDA's and Llama's reference code do.</summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    // Held for the module's life: a temporary Scalar can be freed while libtorch reads it (see Runtime.LiveScalars).
    readonly Scalar _epsScalar;
    public readonly TorchSharp.Modules.Parameter weight;

    public RmsNorm(string name, long dim, double eps) : base(name)
    {
        _epsScalar = eps.ToScalar();
        weight = nn.Parameter(ones(dim));
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var inputType = x.dtype;
        // fp32 in, fp32 weight (every model this project trains or runs on CPU): the same arithmetic without the three
        // identity casts, which cost a window step of the dual cache about a tenth of its small ops.
        if (inputType == ScalarType.Float32 && weight.dtype == ScalarType.Float32)
            return (weight * (x * rsqrt(x.pow(2).mean([-1L], keepdim: true).add(_epsScalar, Runtime.LiveScalars.One)))).MoveToOuterDisposeScope();
        var h = x.to_type(ScalarType.Float32);
        var normed = h * rsqrt(h.pow(2).mean([-1L], keepdim: true).add(_epsScalar, Runtime.LiveScalars.One));
        return (weight.to_type(ScalarType.Float32) * normed).to_type(inputType).MoveToOuterDisposeScope();
    }
}
