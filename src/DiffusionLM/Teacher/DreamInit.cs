using DiffusionLM.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Teacher;

/// <summary>
/// Turns a causal LM into a masked-diffusion denoiser the way Dream 7B was initialised from Qwen2.5:
/// the same weights, attention made bidirectional, and the logits shifted by one (position i−1's output
/// predicts token i, as it did autoregressively; see <see cref="ModelConfig.LogitsShift"/>).
/// The vocabulary gains one row, the mask token, initialised to the mean of the embedding rows (the
/// mean of the classifier rows when untied): an input the network has never seen, but one that sits
/// in the middle of what it has, and whose logit starts at the average token's.
/// </summary>
public static class DreamInit
{
    /// <summary>The denoiser config of a teacher: vocabulary + 1 (the mask), bidirectional.</summary>
    public static ModelConfig DenoiserConfig(ModelConfig teacher, bool logitsShift, string? schedule = null) => teacher with
    {
        Schedule = schedule ?? teacher.Schedule,
        VocabSize = teacher.VocabSize + 1,
        MaskTokenId = teacher.VocabSize,
        Causal = false,
        LogitsShift = logitsShift,
        Process = DiffusionProcess.Masked,
    };

    /// <param name="schedule">the masking schedule of the denoiser (null: the teacher config's, "linear" for ours).</param>
    public static LladaModel FromCausal(LladaModel teacher, string? schedule = null)
    {
        if (!teacher.Config.Causal) throw new DlmException("Dream-style initialisation starts from a causal model");
        var model = new LladaModel(DenoiserConfig(teacher.Config, logitsShift: true, schedule));
        using var _ = no_grad();
        var source = teacher.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);
        int v = teacher.Config.VocabSize;
        foreach (var (name, p) in model.named_parameters())
        {
            var src = source[name];
            if (p.shape[0] == v + 1 && src.shape[0] == v && (name.EndsWith("wte.weight") || name == "model.transformer.ff_out.weight"))
            {
                p.narrow(0, 0, v).copy_(src);
                p.narrow(0, v, 1).copy_(src.mean([0L], keepdim: true));
            }
            else p.copy_(src);
        }
        return model;
    }

    /// <summary>A freshly initialised denoiser of the teacher's architecture and vocabulary (+ mask), for training from scratch.</summary>
    public static LladaModel Scratch(ModelConfig teacher, Generator init) => new(DenoiserConfig(teacher, logitsShift: false), init);
}
