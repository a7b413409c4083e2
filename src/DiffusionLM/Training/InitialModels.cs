using DiffusionLM.Models;
using DiffusionLM.Teacher;
using DiffusionLM.Text;

namespace DiffusionLM.Training;

/// <summary>Where a new run's weights come from: a preset (with size overrides), or a causal model (Dream-style).</summary>
public static class InitialModels
{
    /// <summary>The preset with the run's --d-model/--layers/--heads/--kv-heads/--mlp overrides, checked.</summary>
    public static Preset Shape(TrainingOptions o, Preset preset)
    {
        var p = preset with
        {
            DModel = o.DModel ?? preset.DModel, NLayers = o.Layers ?? preset.NLayers, NHeads = o.Heads ?? preset.NHeads,
            NKvHeads = o.KvHeads ?? preset.NKvHeads, MlpHidden = o.Mlp ?? preset.MlpHidden,
        };
        if (p.DModel <= 0 || p.NLayers <= 0 || p.NHeads <= 0 || p.NKvHeads <= 0 || p.MlpHidden <= 0)
            throw new DlmException("--d-model, --layers, --heads, --kv-heads and --mlp must be positive");
        if (p.DModel % p.NHeads != 0) throw new DlmException($"--d-model {p.DModel} must be a multiple of --heads {p.NHeads}");
        if ((p.DModel / p.NHeads) % 2 != 0) throw new DlmException($"the head size {p.DModel / p.NHeads} (--d-model / --heads) must be even for rotary embeddings");
        if (p.NHeads % p.NKvHeads != 0) throw new DlmException($"--heads {p.NHeads} must be a multiple of --kv-heads {p.NKvHeads}");
        if (p.DModel > 8192 || p.NLayers > 256 || p.MlpHidden > 65536) throw new DlmException("model size beyond what this trainer supports (d-model ≤ 8192, layers ≤ 256, mlp ≤ 65536)");
        return p;
    }

    /// <summary>
    /// Dream-style: the causal model's weights, attention made bidirectional, logits shifted by one, the
    /// vocabulary grown by the mask (<see cref="DreamInit"/>); the tokenizer is the causal model's plus the mask.
    /// </summary>
    public static (LladaModel Model, ITokenizer Tokenizer) FromCausal(TrainingOptions o)
    {
        string dir = o.InitFrom!;
        if (o.Tokenizer is not null) throw new DlmException("--init-from brings its model's tokenizer; drop --tokenizer");
        if (o.DModel is not null || o.Layers is not null || o.Heads is not null || o.KvHeads is not null || o.Mlp is not null)
            throw new DlmException("--init-from keeps its model's size; drop --d-model/--layers/--heads/--kv-heads/--mlp");
        if (o.Process != "masked") throw new DlmException($"--init-from makes a masked denoiser (Dream-style), not --process {o.Process}");
        if (o.TimeConditioning) throw new DlmException("--init-from: the causal model has no time input; drop --time-conditioning");
        var (teacher, tokenizer) = Checkpoint.Load(dir);
        using var _ = teacher;
        if (!teacher.Config.Causal) throw new DlmException($"{dir}: --init-from needs a causal model (config \"causal\": true), this one is bidirectional");
        var withMask = DiffusionSpecials.Ensure(tokenizer, Path.Combine(dir, Checkpoint.TokenizerFile));
        if (withMask.Special.MaskId != teacher.Config.VocabSize)
            throw new DlmException($"{dir}: the mask token would be id {withMask.Special.MaskId}, but Dream-style initialisation appends it at id {teacher.Config.VocabSize}");
        var model = DreamInit.FromCausal(teacher, o.Schedule);
        return (model, withMask);
    }
}
