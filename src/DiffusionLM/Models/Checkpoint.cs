using DiffusionLM.IO;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

/// <summary>
/// A model folder: config.json, model.safetensors, tokenizer.json, and optionally unigram.json (token
/// counts of the training corpus, for the instruments) and training state. Written atomically: a
/// folder is either the old one or the complete new one, never half of each.
/// </summary>
public static class Checkpoint
{
    public const string ConfigFile = "config.json", WeightsFile = "model.safetensors", TokenizerFile = "tokenizer.json", UnigramFile = "unigram.json";

    /// <summary>Writes a model folder atomically; <paramref name="extra"/> adds files (training state) into the same folder.</summary>
    public static void Save(string dir, LladaModel model, ITokenizer tokenizer, long[]? unigram = null, Action<string>? extra = null)
    {
        AtomicDirectory.Write(dir, tmp =>
        {
            File.WriteAllText(Path.Combine(tmp, ConfigFile), model.Config.ToJson());
            SafeTensors.Save(Path.Combine(tmp, WeightsFile), WeightsOf(model), new Dictionary<string, string> { ["format"] = "pt" });
            SaveTokenizer(tokenizer, Path.Combine(tmp, TokenizerFile));
            if (unigram is not null) UnigramCounts.Save(Path.Combine(tmp, UnigramFile), unigram);
            extra?.Invoke(tmp);
        });
    }

    public static Dictionary<string, Tensor> WeightsOf(nn.Module model)
        => model.named_parameters().ToDictionary(p => p.name, p => (Tensor)p.parameter);

    /// <summary>Loads a model folder, checking every tensor name and shape against the config.</summary>
    public static (LladaModel Model, ITokenizer Tokenizer) Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new DlmException($"{dir}: model folder not found");
        var config = ModelConfig.Load(Path.Combine(dir, ConfigFile));
        var tokenizer = LoadTokenizer(Path.Combine(dir, TokenizerFile));
        if (tokenizer.VocabSize > config.VocabSize)
            throw new DlmException($"{Path.Combine(dir, TokenizerFile)}: tokenizer has {tokenizer.VocabSize} tokens but config.json's vocab_size is {config.VocabSize}");
        // llama2.c's vocabulary has no unused ids: a smaller tokenizer belongs to another model.
        if (tokenizer is Llama2cTokenizer && tokenizer.VocabSize != config.VocabSize)
            throw new DlmException($"{Path.Combine(dir, TokenizerFile)}: tokenizer has {tokenizer.VocabSize} tokens but config.json's vocab_size is {config.VocabSize}");
        // The config is acted on only once it agrees with the weights' header: a config.json claiming 10^8 layers
        // must fail here, not in the constructor after allocating all the memory there is.
        var header = SafeTensors.ReadHeader(Path.Combine(dir, WeightsFile));
        long stored = header.Values.Sum(t => t.NumElements);
        if (config.MinimumParameters > stored)
            throw new DlmException($"{Path.Combine(dir, ConfigFile)}: describes a model of at least {config.MinimumParameters:G4} parameters but {WeightsFile} holds {stored:N0}: the config is not the one of these weights");
        var model = new LladaModel(config);
        try { LoadWeights(model, dir); }
        catch { model.Dispose(); throw; }
        return (model, tokenizer);
    }

    public static void LoadWeights(nn.Module model, string dir)
    {
        string path = Path.Combine(dir, WeightsFile);
        var expected = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        var header = SafeTensors.ReadHeader(path);
        foreach (var (name, p) in expected)
        {
            if (!header.TryGetValue(name, out var info))
                throw new DlmException($"{path}: tensor \"{name}\" is missing");
            if (!info.Shape.SequenceEqual(p.shape))
                throw new DlmException($"{path}: tensor \"{name}\" has shape [{string.Join(",", info.Shape)}], the config expects [{string.Join(",", p.shape)}]");
        }
        foreach (var name in header.Keys)
            if (!expected.ContainsKey(name))
                throw new DlmException($"{path}: unexpected tensor \"{name}\" (is config.json the one of these weights?)");
        var tensors = SafeTensors.Load(path);
        using var _ = no_grad();
        foreach (var (name, p) in expected)
        {
            using var t = tensors[name];
            NonFinite.Check(t, $"{path}: tensor \"{name}\"");
            p.copy_(t.to_type(p.dtype));
        }
    }

    public static void SaveTokenizer(ITokenizer tokenizer, string path)
    {
        switch (tokenizer)
        {
            case ByteLevelBpeTokenizer bpe: bpe.Save(path); break;
            case Llama2cTokenizer l2c: l2c.Save(path); break;
            default: throw new NotSupportedException($"cannot save a tokenizer of type {tokenizer.GetType().Name}");
        }
    }

    /// <summary>Dispatches on the file's content: model.type "llama2c" is llama2.c's BPE, anything else HF byte-level BPE.</summary>
    public static ITokenizer LoadTokenizer(string path)
    {
        // A tokenizer.json comes from a model folder: whatever is wrong with its content (invalid UTF-8 in a string,
        // a wrong type deep inside) is the file's error, reported with its name.
        try { return LoadTokenizerFile(path); }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException or KeyNotFoundException or IndexOutOfRangeException or OverflowException or InvalidCastException)
        {
            throw new DlmException($"{path}: not a valid tokenizer file ({e.GetType().Name}: {e.Message})");
        }
    }

    static ITokenizer LoadTokenizerFile(string path)
    {
        if (File.Exists(path)) IO.RegularFile.Require(path);
        if (File.Exists(path) && new FileInfo(path).Length > 0)
        {
            System.Text.Json.Nodes.JsonNode? root = null;
            try { root = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(path)); }
            catch (System.Text.Json.JsonException) { /* the byte-level loader reports it */ }
            if (Llama2cTokenizerJson.IsLlama2c(root)) return Llama2cTokenizerJson.FromJson(root, path);
        }
        return ByteLevelBpeTokenizer.Load(path);
    }
}
