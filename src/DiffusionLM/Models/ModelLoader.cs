using DiffusionLM.Text;

namespace DiffusionLM.Models;

/// <summary>A denoiser with its tokenizer, as loaded from a folder; disposing it frees the weights.</summary>
public sealed record LoadedModel(IDenoiser Model, ITokenizer Tokenizer, string Folder) : IDisposable
{
    /// <summary>How the model expects a user turn to be wrapped; null for models trained on plain text (ours).</summary>
    public IChatTemplate? ChatTemplate { get; init; }

    public void Dispose() => (Model as IDisposable)?.Dispose();
}

/// <summary>
/// The one entry point that turns a model folder into a denoiser. Today: the project's own checkpoints
/// (LLaDA layout). Other layouts (Hugging Face LLaDA, Dream, MDLM) are recognised here by config.json.
/// </summary>
public static class ModelLoader
{
    public static LoadedModel Load(string dir)
    {
        var (model, tokenizer) = Checkpoint.Load(dir);
        model.eval();
        return new LoadedModel(model, tokenizer, dir);
    }
}
