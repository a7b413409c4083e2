using DiffusionLM.Import;
using DiffusionLM.Models;
using DiffusionLM.Models.Hf;
using DiffusionLM.Text;
using DiffusionLM.Text.Chat;
using static TorchSharp.torch;

namespace DiffusionLM.Fuzzing;

/// <summary>
/// A parser under fuzzing: the file name an input is written to (inside a scratch model folder), words the mutator
/// inserts, and what is done with the file: everything a verb does when it meets such a file in a model folder.
/// </summary>
public sealed record FuzzTarget(string Name, string FileName, string[] Dictionary, Action<string> Run, Action<string>? Setup = null);

public static class FuzzTargets
{
    static readonly string[] JsonWords = ["{", "}", "[", "]", "\"", ":", ",", "null", "true", "-1", "1e999", "\"\\u0000\"", "[[[[[[[[", "{\"a\":", "\"\\ud800\""];

    public static readonly IReadOnlyList<FuzzTarget> All =
    [
        new("safetensors", Checkpoint.WeightsFile, [.. JsonWords, "\"dtype\"", "\"F32\"", "\"BF16\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\""], path =>
        {
            SafeTensors.ReadHeader(path);
            foreach (var t in SafeTensors.Load(path).Values) t.Dispose();
        }),
        new("tokenizer", Checkpoint.TokenizerFile, [.. JsonWords, "\"added_tokens\"", "\"merges\"", "\"vocab\"", "\"llama2c\"", "\"<|mask|>\"", "\"Ġ\"", "\"type\""], path =>
        {
            var tokenizer = Checkpoint.LoadTokenizer(path);
            try
            {
                var ids = tokenizer.Encode("The cat sat <|eos|> on the mat. ünïcödé 123");
                tokenizer.Decode(ids, skipSpecial: false);
                foreach (var id in ids) tokenizer.TokenText(id);
            }
            finally { (tokenizer as IDisposable)?.Dispose(); }
        }),
        new("llama2c", "model.bin", [], path =>
        {
            using var model = Llama2cImporter.ReadModel(path);
        }),
        new("llama2c-tokenizer", "tokenizer.bin", [], path =>
        {
            var tokenizer = Llama2cTokenizer.ReadBin(path, Llama2cSeedVocab);
            tokenizer.Decode(tokenizer.Encode("Once upon a time ünï"), skipSpecial: false);
        }),
        new("config", Checkpoint.ConfigFile, [.. JsonWords, "\"d_model\"", "\"n_layers\"", "\"vocab_size\"", "\"rope_theta\"", "\"model_type\"", "\"Dream\"", "\"llada\"", "\"mdlm\""], path =>
        {
            // As a model folder's config: checked against the folder's weights before anything is allocated.
            var folder = Path.GetDirectoryName(path)!;
            var hf = HfConfigJson.Load(path);
            if (HfModels.Family(hf) is not null) { HfModels.Describe(hf); return; }
            var (model, _) = Checkpoint.Load(folder);
            model.Dispose();
        }, Setup: WriteTinyWeights),
        new("chat-template", "chat_template.jinja", ["{{", "}}", "{%", "%}", "{% for m in messages %}", "{% endfor %}", "{% if ", "{% endif %}", "(", ")", "[", "]", "range(", "loop.index", "messages[0]['content']", " * 99999", " ~ ", "|join", "ns.x", "{% set ns = namespace(x=1) %}", "\"", "'"], path =>
        {
            var template = new ChatTemplate(File.ReadAllText(path), new Dictionary<string, string> { ["bos_token"] = "<s>", ["eos_token"] = "</s>" }, path);
            template.Render([new ChatMessage("system", "Be brief."), new ChatMessage("user", "Why is the sky blue?"), new ChatMessage("assistant", "Rayleigh."), new ChatMessage("user", "And <|eos|>?")]);
        }),
    ];

    /// <summary>The vocabulary size of the llama2.c tokenizer seed (a file only says its size through its model).</summary>
    public const int Llama2cSeedVocab = 300;

    public static FuzzTarget Find(string name) => All.FirstOrDefault(t => t.Name == name)
        ?? throw new DlmException($"--target \"{name}\" is unknown (expected {string.Join(", ", All.Select(t => t.Name))})");

    /// <summary>A tiny model of the config seed's shape beside each config input: the weights config.json is checked against.</summary>
    static void WriteTinyWeights(string folder)
    {
        var config = new ModelConfig
        {
            DModel = 16, NHeads = 2, NKvHeads = 1, NLayers = 1, MlpHiddenSize = 32, VocabSize = 300, MaxSequenceLength = 32,
            MaskTokenId = 296, EosTokenId = 297, PadTokenId = 298, BosTokenId = 299,
        };
        using var g = new Generator(0);
        using var model = new LladaModel(config, g);
        SafeTensors.Save(Path.Combine(folder, Checkpoint.WeightsFile), Checkpoint.WeightsOf(model), new Dictionary<string, string> { ["format"] = "pt" });
        var words = Enumerable.Repeat("the cat sat on the mat. a dog ran.", 50).ToList();
        ByteLevelBpeTokenizer.Train(words, 300).Save(Path.Combine(folder, Checkpoint.TokenizerFile));
    }
}
