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
    /// With --d-model/--layers/--heads/--kv-heads/--mlp the denoiser is larger than the causal model and the
    /// teacher is grown into it, its function preserved (<see cref="GrownInit"/>).
    /// </summary>
    public static (LladaModel Model, ITokenizer Tokenizer) FromCausal(TrainingOptions o)
    {
        string dir = o.InitFrom!;
        if (o.Tokenizer is not null) throw new DlmException("--init-from brings its model's tokenizer; drop --tokenizer");
        if (!o.Process.Absorbing) throw new DlmException($"--init-from makes a masked denoiser (Dream-style), not --process {o.Process}");
        if (o.Corruption != MaskedCorruption.Uniform)
            throw new DlmException($"--init-from trains with the uniform corruption (Dream's); --corruption {o.Corruption} is not supported with it");
        if (o.TimeConditioning) throw new DlmException("--init-from: the causal model has no time input; drop --time-conditioning");
        var (teacher, tokenizer) = Checkpoint.Load(dir);
        using var _ = teacher;
        if (!teacher.Config.Causal) throw new DlmException($"{dir}: --init-from needs a causal model (config \"causal\": true), this one is bidirectional");
        var withMask = DiffusionSpecials.Ensure(tokenizer, Path.Combine(dir, Checkpoint.TokenizerFile));
        if (withMask.Special.MaskId != teacher.Config.VocabSize)
            throw new DlmException($"{dir}: the mask token would be id {withMask.Special.MaskId}, but Dream-style initialisation appends it at id {teacher.Config.VocabSize}");
        bool grow = o.DModel is not null || o.Layers is not null || o.Heads is not null || o.KvHeads is not null || o.Mlp is not null;
        if (!grow) return (DreamInit.FromCausal(teacher, o.Schedule), withMask);

        // A larger denoiser than the causal model: the teacher grown into it, function preserved (GrownInit).
        var t = teacher.Config;
        var denoiser = DreamInit.DenoiserConfig(t, logitsShift: true, o.Schedule);
        var p = Shape(o, Preset.Tiny with { DModel = t.DModel, NLayers = t.NLayers, NHeads = t.NHeads, NKvHeads = t.NKvHeads, MlpHidden = t.MlpHiddenSize });
        var target = denoiser with { DModel = p.DModel, NLayers = p.NLayers, NHeads = p.NHeads, NKvHeads = p.NKvHeads, MlpHiddenSize = p.MlpHidden };
        GrownInit.CheckShape(t, target);
        var model = new LladaModel(GrownInit.Config(t, target));
        GrownInit.Fill(model, teacher, BatchSampler.StepGenerator(o.Seed, -1, 1));
        return (model, withMask);
    }
}
