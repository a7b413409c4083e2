using DiffusionLM.Models;
using DiffusionLM.Text;
using DiffusionLM.Training;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Teacher;

/// <summary>`dlm train --init-from` and `--tokenizer` on a causal teacher's folder (models/stories260K).</summary>
public class InitFromTests
{
    static string TeacherFolder => Path.Combine(Stories260K.RepoRoot, "models", "stories260K");

    [Fact]
    public void TheInitialisedDenoiserRunCausallyReproducesTheTeachersNextTokenLogits()
    {
        var (model, tokenizer) = InitialModels.FromCausal(new TrainingOptions { InitFrom = TeacherFolder });
        using var denoiser = model;
        using var _ = no_grad();
        var c = denoiser.Config;
        Assert.False(c.Causal);
        Assert.True(c.LogitsShift);
        Assert.Equal((513, 512, 512), (c.VocabSize, c.MaskTokenId, tokenizer.Special.MaskId));
        Assert.Equal(512, c.MaxSequenceLength); // the teacher's context: room for a prompt + 128 masks

        // The same weights with causal attention: position i + 1's (shifted) logits are the teacher's at position i.
        using var causal = new LladaModel(c with { Causal = true });
        foreach (var ((_, dst), (_, src)) in causal.named_parameters().Zip(denoiser.named_parameters())) dst.copy_(src);
        var ids = tokenizer.Encode("Once upon a time, there was a little girl named Lily. She liked to play.").Prepend(1).Select(t => (long)t).ToArray();
        using var input = tensor(ids).unsqueeze(0);
        using var teacherLogits = Stories260K.Model.Logits(input);
        using var shifted = causal.Logits(input);
        long n = ids.Length;
        var mine = shifted.narrow(1, 1, n - 1).narrow(2, 0, 512);
        var theirs = teacherLogits.narrow(1, 0, n - 1);
        double diff = (mine - theirs).abs().max().item<float>();
        Assert.True(diff < 1e-5, $"max |Δlogit| {diff}");

        // Documented initialisation of the new rows: the mean of the teacher's (tied) embedding rows.
        var wte = denoiser.named_parameters().First(p => p.name.EndsWith("wte.weight")).parameter;
        var teacherWte = Stories260K.Model.named_parameters().First(p => p.name.EndsWith("wte.weight")).parameter;
        Assert.True(wte[512].allclose(teacherWte.mean([0L]), rtol: 0, atol: 1e-7));

        // Mutation check: the comparison above sees a one-position misalignment (an unshifted denoiser).
        using var unshifted = new LladaModel(c with { Causal = true, LogitsShift = false });
        foreach (var ((_, dst), (_, src)) in unshifted.named_parameters().Zip(denoiser.named_parameters())) dst.copy_(src);
        using var wrong = unshifted.Logits(input);
        Assert.True((wrong.narrow(1, 1, n - 1).narrow(2, 0, 512) - theirs).abs().max().item<float>() > 1e-2);
    }

    [Fact]
    public void AGrownDenoiserStillComputesTheTeacherAndItsNewWeightsLearn()
    {
        // Wider stream, twice the heads, a wider MLP and two appended layers.
        var o = new TrainingOptions { InitFrom = TeacherFolder, DModel = 128, Heads = 16, KvHeads = 8, Mlp = 300, Layers = 7 };
        var (model, tokenizer) = InitialModels.FromCausal(o);
        using var grown = model;
        var c = grown.Config;
        Assert.Equal((128, 16, 8, 300, 7, 513), (c.DModel, c.NHeads, c.NKvHeads, c.MlpHiddenSize, c.NLayers, c.VocabSize));
        Assert.True(grown.ParameterCount() > 3 * Stories260K.Model.ParameterCount());

        using var causal = new LladaModel(c with { Causal = true });
        using (no_grad())
            foreach (var ((_, dst), (_, src)) in causal.named_parameters().Zip(grown.named_parameters())) dst.copy_(src);
        var ids = tokenizer.Encode("Once upon a time, there was a little girl named Lily. She liked to play.").Prepend(1).Select(t => (long)t).ToArray();
        using var input = tensor(ids).unsqueeze(0);
        long n = ids.Length;
        using (no_grad())
        {
            using var theirs = Stories260K.Model.Logits(input);
            using var mine = causal.Logits(input);
            // fp32 rounding only: the norm weights were scaled by sqrt(1/2) and the matmuls sum over zeros.
            double scale = theirs.abs().max().item<float>();
            double diff = (mine.narrow(1, 1, n - 1).narrow(2, 0, 512) - theirs.narrow(1, 0, n - 1)).abs().max().item<float>();
            Assert.True(diff < 1e-6 * scale, $"max |Δlogit| {diff} at logits up to {scale}");

            // Mutation check: without the norm-weight scaling the grown model is a different function.
            var lnF = causal.named_parameters().First(p => p.name.EndsWith("ln_f.weight")).parameter;
            lnF.mul_(Math.Sqrt(2));
            using var unscaled = causal.Logits(input);
            Assert.True((unscaled.narrow(1, 1, n - 1).narrow(2, 0, 512) - theirs.narrow(1, 0, n - 1)).abs().max().item<float>() > 1e-2);
        }

        // The new capacity is not dead: one backward pass reaches the zero-initialised writing weights.
        var loss = nn.functional.cross_entropy(grown.Logits(input).view(-1, c.VocabSize), input.view(-1));
        loss.backward();
        var grads = grown.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);
        Assert.True(grads["model.transformer.wte.weight"].narrow(1, 64, 64).abs().max().item<float>() > 0, "new embedding columns get no gradient");
        Assert.True(grads["model.transformer.blocks.0.attn_out.weight"].narrow(1, 64, 64).abs().max().item<float>() > 0, "new heads' output weights get no gradient");
        Assert.True(grads["model.transformer.blocks.6.ff_out.weight"].abs().max().item<float>() > 0, "an appended layer gets no gradient");
        Assert.True(grads["model.transformer.blocks.3.ff_out.weight"].narrow(0, 64, 64).abs().max().item<float>() > 0, "writes into the new dimensions get no gradient");
    }

    [Fact]
    public void ALlama2cTokenizerGainsAMaskThatRoundTripsAndLeavesItsIdsAlone()
    {
        var path = Path.Combine(TeacherFolder, Checkpoint.TokenizerFile);
        var plain = Checkpoint.LoadTokenizer(path);
        Assert.Equal(-1, plain.Special.MaskId);
        var withMask = DiffusionSpecials.Ensure(plain, path);
        Assert.Equal((513, 512), (withMask.VocabSize, withMask.Special.MaskId));
        Assert.Equal((plain.Special.EosId, plain.Special.PadId, plain.Special.BosId), (withMask.Special.EosId, withMask.Special.PadId, withMask.Special.BosId));
        const string text = "Tom and his dog ran to the park. \"Look!\" said Tom.";
        Assert.Equal(plain.Encode(text), withMask.Encode(text));
        Assert.Equal(Stories260K.Tokenizer.Encode(text), withMask.Encode(text)); // the teacher's own (.bin) ids

        using var dir = new TempFolder();
        var saved = dir["tokenizer.json"];
        Checkpoint.SaveTokenizer(withMask, saved);
        var loaded = Checkpoint.LoadTokenizer(saved);
        Assert.Equal((513, 512), (loaded.VocabSize, loaded.Special.MaskId));
        Assert.Equal(withMask.Encode(text), loaded.Encode(text));
        Assert.Equal(text, loaded.Decode(loaded.Encode(text)));
    }

    [Fact]
    public void InitFromRefusesWhatItCannotHonour()
    {
        Assert.Contains("drop --tokenizer", Assert.Throws<DlmException>(() => InitialModels.FromCausal(new TrainingOptions { InitFrom = TeacherFolder, Tokenizer = "x" })).Message);
        Assert.Contains("not shrink it", Assert.Throws<DlmException>(() => InitialModels.FromCausal(new TrainingOptions { InitFrom = TeacherFolder, DModel = 32, Heads = 4, KvHeads = 2 })).Message);
        Assert.Contains("keeps the head size 8", Assert.Throws<DlmException>(() => InitialModels.FromCausal(new TrainingOptions { InitFrom = TeacherFolder, DModel = 128 })).Message);
        Assert.Contains("needs --kv-heads 8", Assert.Throws<DlmException>(() => InitialModels.FromCausal(new TrainingOptions { InitFrom = TeacherFolder, DModel = 128, Heads = 16 })).Message);
        Assert.Contains("not --process uniform", Assert.Throws<DlmException>(() => InitialModels.FromCausal(new TrainingOptions { InitFrom = TeacherFolder, Process = DiffusionProcess.Uniform })).Message);
        var bidirectional = Path.Combine(Stories260K.RepoRoot, "models", "default");
        Assert.Contains("needs a causal model", Assert.Throws<DlmException>(() => InitialModels.FromCausal(new TrainingOptions { InitFrom = bidirectional })).Message);
    }

    [Fact]
    public void SizeOptionsOverrideThePresetAndAreChecked()
    {
        var p = InitialModels.Shape(new TrainingOptions { DModel = 96, Layers = 3, Heads = 6, KvHeads = 2, Mlp = 200 }, Preset.Tiny);
        Assert.Equal((96, 3, 6, 2, 200), (p.DModel, p.NLayers, p.NHeads, p.NKvHeads, p.MlpHidden));
        Assert.Equal(Preset.Tiny, InitialModels.Shape(new TrainingOptions(), Preset.Tiny));
        Assert.Contains("multiple of --heads", Assert.Throws<DlmException>(() => InitialModels.Shape(new TrainingOptions { DModel = 100, Heads = 3 }, Preset.Tiny)).Message);
        Assert.Contains("multiple of --kv-heads", Assert.Throws<DlmException>(() => InitialModels.Shape(new TrainingOptions { Heads = 4, KvHeads = 3 }, Preset.Tiny)).Message);
        Assert.Contains("must be even", Assert.Throws<DlmException>(() => InitialModels.Shape(new TrainingOptions { DModel = 12, Heads = 4, KvHeads = 2 }, Preset.Tiny)).Message);
    }
}
