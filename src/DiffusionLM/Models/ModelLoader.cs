using DiffusionLM.Text;

namespace DiffusionLM.Models;

/// <summary>A denoiser with its tokenizer, as loaded from a folder; disposing it frees the weights.</summary>
public sealed record LoadedModel(IDenoiser Model, ITokenizer Tokenizer, string Folder) : IDisposable
{
    /// <summary>How the model expects a user turn to be wrapped (tokenizer_config.json's chat_template); null for models trained on plain text.</summary>
    public IChatTemplate? ChatTemplate { get; init; }

    public void Dispose()
    {
        (Model as IDisposable)?.Dispose();
        (Tokenizer as IDisposable)?.Dispose();
    }
}

/// <summary>
/// The one entry point that turns a model folder into a denoiser: the project's own checkpoints
/// (LLaDA layout), and Hugging Face folders of LLaDA, Dream and MDLM, recognised by config.json's
/// model_type (see <see cref="Hf.HfModels"/>).
/// </summary>
public static class ModelLoader
{
    public static LoadedModel Load(string dir)
    {
        if (Directory.Exists(dir) && Hf.HfModels.Family(dir) is not null) return Hf.HfModels.Load(dir);
        var (model, tokenizer) = Checkpoint.Load(dir);
        model.eval();
        // Our own checkpoints have a chat template only when trained in a frame (train --sft-format qa).
        try { return new LoadedModel(model, tokenizer, dir) { ChatTemplate = Text.Chat.ChatTemplate.Load(dir) }; }
        catch { model.Dispose(); throw; }
    }
}
