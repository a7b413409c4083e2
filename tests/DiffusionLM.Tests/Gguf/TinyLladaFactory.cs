using DiffusionLM.Models;
using DiffusionLM.Text;
using TorchSharp;

namespace DiffusionLM.Tests.Gguf;

/// <summary>Small random LLaDA-layout models with a real tokenizer, for the GGUF tests.</summary>
public static class TinyLladaFactory
{
    const string Text = "the king went to the castle and the queen went to the sea; the old man sat by the fire and told a story.";

    public static (LladaModel Model, ByteLevelBpeTokenizer Tokenizer) WithBpe(int layers = 2, bool tied = false, ulong seed = 7)
    {
        var tok = ByteLevelBpeTokenizer.Train([Text], 300);
        var config = new ModelConfig
        {
            DModel = 64, NHeads = 4, NKvHeads = 2, NLayers = layers, MlpHiddenSize = 96, VocabSize = tok.VocabSize + 4,
            MaxSequenceLength = 64, RopeTheta = 500000, WeightTying = tied,
            MaskTokenId = tok.Special.MaskId, EosTokenId = tok.Special.EosId, PadTokenId = tok.Special.PadId, BosTokenId = tok.Special.BosId,
        };
        var model = new LladaModel(config, new torch.Generator(seed));
        model.eval();
        return (model, tok);
    }

    /// <summary>A masked model on stories260K's llama2.c vocabulary plus its &lt;mask&gt; id (513 ids), as the teacher corpus builds.</summary>
    public static (LladaModel Model, Llama2cTokenizer Tokenizer) WithLlama2c(ulong seed = 8)
    {
        var tok = Stories260K.Tokenizer.WithMask();
        var config = new ModelConfig
        {
            DModel = 64, NHeads = 4, NKvHeads = 2, NLayers = 2, MlpHiddenSize = 96, VocabSize = tok.VocabSize, MaxSequenceLength = 64,
            MaskTokenId = tok.Special.MaskId, EosTokenId = Llama2cTokenizer.EosId, PadTokenId = Llama2cTokenizer.UnkId, BosTokenId = Llama2cTokenizer.BosId,
        };
        var model = new LladaModel(config, new torch.Generator(seed));
        model.eval();
        return (model, tok);
    }
}
