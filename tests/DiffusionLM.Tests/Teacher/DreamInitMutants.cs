using DiffusionLM.Models;
using DiffusionLM.Teacher;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Teacher;

/// <summary>Deliberately broken Dream initialisations for <see cref="DreamInitTests"/>, made from DreamInit's own output.</summary>
static class DreamInitMutants
{
    /// <summary>Dream's init without the logit shift: the same weights in a model whose position i predicts token i.</summary>
    public static LladaModel WithoutShift(LladaModel teacher)
    {
        using var right = DreamInit.FromCausal(teacher);
        var model = new LladaModel(right.Config with { LogitsShift = false });
        Copy(right, model);
        return model;
    }

    /// <summary>Dream's init whose mask row (embedding, and classifier when untied) is the first token's row, not the mean.</summary>
    public static LladaModel WithFirstRowAsMask(LladaModel teacher)
    {
        var model = DreamInit.FromCausal(teacher);
        int v = teacher.Config.VocabSize;
        using var _ = no_grad();
        foreach (var (name, p) in model.named_parameters())
            if (p.shape[0] == v + 1) p.narrow(0, v, 1).copy_(p.narrow(0, 0, 1));
        return model;
    }

    static void Copy(LladaModel from, LladaModel to)
    {
        using var _ = no_grad();
        foreach (var ((_, a), (_, b)) in to.named_parameters().Zip(from.named_parameters())) a.copy_(b);
    }
}
