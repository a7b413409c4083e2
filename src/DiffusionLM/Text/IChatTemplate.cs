namespace DiffusionLM.Text;

/// <summary>
/// Wraps a user message the way an instruction-tuned model saw it in training (LLaDA-Instruct's
/// "&lt;|start_header_id|&gt;user..." for instance), so instruments probe the model in its own format.
/// The project's own models are trained on plain text and have none (<see cref="Models.LoadedModel.ChatTemplate"/> is null).
/// </summary>
public interface IChatTemplate
{
    /// <summary>A short name for reports ("llada-instruct").</summary>
    string Name { get; }
    /// <summary>The text to tokenize for a single-turn prompt, up to where the assistant's answer begins.</summary>
    string Apply(string userMessage);
}
