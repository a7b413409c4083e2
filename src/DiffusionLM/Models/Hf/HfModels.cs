using DiffusionLM.Models.Dream;
using DiffusionLM.Models.Llada;
using DiffusionLM.Models.Mdlm;
using DiffusionLM.Text;

namespace DiffusionLM.Models.Hf;

/// <summary>
/// Recognises Hugging Face model folders by their config.json and loads them: LLaDA (model_type
/// "llada" with LLaDA's own fields or architectures ["LLaDAModelLM"]), Dream (model_type "Dream") and
/// MDLM (model_type "mdlm"). The project's own checkpoints also say "llada" but carry none of LLaDA's
/// HF-only fields; they stay with <see cref="Checkpoint"/>.
/// </summary>
public static class HfModels
{
    public const string TokenizerFile = "tokenizer.json";

    /// <summary>"llada", "dream", "mdlm", or null when the folder is not a Hugging Face layout we know.</summary>
    public static string? Family(string dir)
    {
        var path = Path.Combine(dir, "config.json");
        if (!File.Exists(path)) return null;
        var c = HfConfigJson.Load(path);
        return Family(c);
    }

    public static string? Family(HfConfigJson c) =>
        LladaHfModel.IsLladaConfig(c) ? "llada" : DreamModel.IsDreamConfig(c) ? "dream" : MdlmModel.IsMdlmConfig(c) ? "mdlm" : null;

    /// <summary>The model config and every tensor name and shape the folder must hold, from config.json alone.</summary>
    public static (ModelConfig Config, List<TensorSpec> Spec) Describe(HfConfigJson c)
    {
        switch (Family(c))
        {
            case "llada": { var (cfg, dims) = LladaHfModel.ReadConfig(c); return (cfg, LladaHfModel.Spec(dims)); }
            case "dream": { var (cfg, dims) = DreamModel.ReadConfig(c); return (cfg, DreamModel.Spec(dims)); }
            case "mdlm": { var (cfg, cond) = MdlmModel.ReadConfig(c); return (cfg, MdlmModel.Spec(cfg, cond)); }
            default: throw new DlmException($"{c.Path}: model_type \"{c.ModelType}\" is not a Hugging Face layout DiffusionLM knows (llada, Dream, mdlm)");
        }
    }

    /// <summary>Checks the folder's weights against config.json from the safetensors headers only (nothing is loaded).</summary>
    public static (ModelConfig Config, SortedDictionary<string, TensorInfo> Tensors) Check(string dir)
    {
        var c = HfConfigJson.Load(Path.Combine(dir, "config.json"));
        var (config, spec) = Describe(c);
        return (config, WeightStore.Check(dir, spec));
    }

    public static IHfDenoiser LoadModel(string dir)
    {
        var c = HfConfigJson.Load(Path.Combine(dir, "config.json"));
        return Family(c) switch
        {
            "llada" => LladaHfModel.Load(dir, c),
            "dream" => DreamModel.Load(dir, c),
            "mdlm" => MdlmModel.Load(dir, c),
            _ => throw new DlmException($"{c.Path}: model_type \"{c.ModelType}\" is not a Hugging Face layout DiffusionLM knows (llada, Dream, mdlm)"),
        };
    }

    public static HfTokenizer LoadTokenizer(string dir, ModelConfig config)
    {
        var path = Path.Combine(dir, TokenizerFile);
        if (!File.Exists(path) && config.ModelType == "mdlm")
            throw new DlmException($"{path}: file not found (MDLM uses GPT-2's tokenizer: copy gpt2's tokenizer.json into the folder)");
        return HfTokenizer.Load(path, new SpecialTokens(config.MaskTokenId, config.EosTokenId, config.PadTokenId, config.BosTokenId));
    }

    /// <summary>Loads a Hugging Face folder: the tokenizer first (cheap, fails fast), then the weights.</summary>
    public static LoadedModel Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new DlmException($"{dir}: model folder not found");
        var c = HfConfigJson.Load(Path.Combine(dir, "config.json"));
        var (config, _) = Describe(c);
        var tokenizer = LoadTokenizer(dir, config);
        try { return new LoadedModel(LoadModel(dir), tokenizer, dir) { ChatTemplate = Text.Chat.ChatTemplate.Load(dir) }; }
        catch { tokenizer.Dispose(); throw; }
    }
}
