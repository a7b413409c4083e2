using DiffusionLM.Models;
using static TorchSharp.torch;

namespace DiffusionLM.Teacher;

/// <summary>
/// Dream-style initialisation into a larger denoiser than the causal model (wider residual stream, more
/// heads, a wider MLP, more layers), so that a two-core machine can start a bigger model from a pretrained
/// one instead of from scratch. The growth preserves the function exactly (Net2Net's idea, done with zeros):
/// <list type="bullet">
/// <item>the residual stream gains dimensions that start at zero: every weight that <i>writes</i> into them
/// (embedding columns, attention and MLP output rows) is zero, and every new unit's output weights
/// (new heads' columns of attn_out, new MLP units' columns of ff_out) are zero too;</item>
/// <item>every weight that <i>reads</i> (new q/k/v heads, new MLP units, the reading columns on new
/// dimensions) is random at the teacher matrix's own scale: it meets zeros today, so it changes nothing, and
/// it gives the zero weights a gradient, so the new capacity is trained from the first step;</item>
/// <item>RMSNorm averages over the wider stream, so the old dimensions' norm weights are scaled by
/// sqrt(d_old / d_new) and eps by d_old / d_new, which makes the normalised old dimensions exactly the teacher's;</item>
/// <item>new layers are appended after the teacher's with zero output projections: identities at the start.</item>
/// </list>
/// New heads are appended after the old ones with the same head size and the same query heads per key/value
/// head, so every old query head still reads its old key/value head.
/// </summary>
public static class GrownInit
{
    /// <summary>Checks that <paramref name="target"/> contains the teacher's shape, naming what does not.</summary>
    public static void CheckShape(ModelConfig teacher, ModelConfig target)
    {
        const string who = "--init-from";
        if (target.DModel < teacher.DModel) throw new DlmException($"{who} can grow a model, not shrink it: --d-model {target.DModel} is below the causal model's {teacher.DModel}");
        if (target.NLayers < teacher.NLayers) throw new DlmException($"{who}: --layers {target.NLayers} is below the causal model's {teacher.NLayers}");
        if (target.MlpHiddenSize < teacher.MlpHiddenSize) throw new DlmException($"{who}: --mlp {target.MlpHiddenSize} is below the causal model's {teacher.MlpHiddenSize}");
        if (target.HeadDim != teacher.HeadDim)
            throw new DlmException($"{who} keeps the head size {teacher.HeadDim}: --d-model / --heads is {target.HeadDim} (use --heads {target.DModel / teacher.HeadDim})");
        int group = teacher.NHeads / teacher.NKvHeads;
        if (target.NHeads / target.NKvHeads != group || target.NHeads % target.NKvHeads != 0)
            throw new DlmException($"{who} keeps {group} query heads per key/value head: --heads {target.NHeads} needs --kv-heads {target.NHeads / group}");
        if (target.WeightTying != teacher.WeightTying) throw new DlmException($"{who}: weight tying must match the causal model's");
    }

    /// <summary>The grown denoiser's config: the target shape with eps scaled so the old dimensions' norm is exact.</summary>
    public static ModelConfig Config(ModelConfig teacher, ModelConfig target) =>
        target with { RmsNormEps = teacher.RmsNormEps * teacher.DModel / target.DModel };

    /// <summary>
    /// Copies the causal teacher into <paramref name="model"/> (already shaped as the grown denoiser, vocabulary
    /// = teacher's + 1) as described above; <paramref name="g"/> draws the reading weights.
    /// </summary>
    public static void Fill(LladaModel model, LladaModel teacher, Generator g)
    {
        var t = teacher.Config;
        var c = model.Config;
        using var _ = no_grad();
        var source = teacher.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        int v = t.VocabSize;
        double normScale = Math.Sqrt((double)t.DModel / c.DModel);
        foreach (var (name, p) in model.named_parameters())
        {
            source.TryGetValue(name, out var src); // null for an appended layer
            string kind = name.Split('.')[^2]; // model.transformer.blocks.3.q_proj.weight → q_proj
            switch (kind)
            {
                case "wte":
                    p.zero_();
                    p.narrow(0, 0, v).narrow(1, 0, t.DModel).copy_(src!);
                    p.narrow(0, v, 1).narrow(1, 0, t.DModel).copy_(src!.mean([0L], keepdim: true));
                    break;
                case "attn_norm" or "ff_norm" or "ln_f":
                    p.fill_(1f);
                    if (src is not null) p.narrow(0, 0, t.DModel).copy_(src * normScale);
                    else p.narrow(0, 0, t.DModel).fill_(normScale); // an appended layer: the teacher's dimensions at unit scale
                    break;
                case "q_proj" or "k_proj" or "v_proj" or "ff_proj" or "up_proj":
                    Reading(p, src, ReferenceStd(source, name, kind), g);
                    break;
                case "attn_out":
                    Writing(p, src);
                    break;
                case "ff_out" when name.Contains(".blocks."):
                    Writing(p, src);
                    break;
                case "ff_out": // the untied head reads the stream: new columns random, mask row the mean
                    Reading(p, null, src!.std().item<float>(), g);
                    p.narrow(0, 0, v).narrow(1, 0, t.DModel).copy_(src);
                    p.narrow(0, v, 1).narrow(1, 0, t.DModel).copy_(src.mean([0L], keepdim: true));
                    break;
                default:
                    throw new DlmException($"growing a model does not know how to initialise {name}");
            }
        }
    }

    /// <summary>Random at <paramref name="std"/>, with the teacher's block in the top-left corner.</summary>
    static void Reading(Tensor p, Tensor? src, double std, Generator g)
    {
        using (var r = normal(0.0, std, p.shape, generator: g)) p.copy_(r);
        if (src is not null) p.narrow(0, 0, src.shape[0]).narrow(1, 0, src.shape[1]).copy_(src);
    }

    /// <summary>Zero, with the teacher's block in the top-left corner (nothing new writes into the stream yet).</summary>
    static void Writing(Tensor p, Tensor? src)
    {
        p.zero_();
        if (src is not null) p.narrow(0, 0, src.shape[0]).narrow(1, 0, src.shape[1]).copy_(src);
    }

    /// <summary>The scale of new reading weights: the teacher's matrix of that kind (layer 0's for an appended layer).</summary>
    static double ReferenceStd(Dictionary<string, Tensor> source, string name, string kind)
    {
        var match = source.TryGetValue(name, out var own) ? own : source.First(kv => kv.Key.EndsWith("." + kind + ".weight")).Value;
        return match.std().item<float>();
    }
}
