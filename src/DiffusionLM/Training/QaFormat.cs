using System.Text.Json;
using DiffusionLM.Text;
using DiffusionLM.Text.Chat;

namespace DiffusionLM.Training;

/// <summary>
/// The question-and-answer frame of SFT pairs (train --sft-format qa): every pair is "Q: {prompt}\nA:{answer}",
/// and the model is saved with the chat template that renders a user message the same way. Without a marker
/// between prompt and answer a bidirectional denoiser cannot tell where the prompt ends (unmasked answer tokens
/// look exactly like prompt tokens), so "what comes right after a question" is never learnt as such; LLaDA's
/// chat template plays this role with its special header tokens.
/// </summary>
public static class QaFormat
{
    public const string Name = "qa";
    /// <summary>Text before the prompt. "Q:" then the prompt's own leading space, as "Q: " + text tokenizes.</summary>
    public const string Prefix = "Q:";
    /// <summary>Text between prompt and answer; the answer starts with its own first word.</summary>
    public const string Suffix = "\nA:";
    /// <summary>The Jinja chat template written to tokenizer_config.json: a user message in the training frame.</summary>
    public const string ChatTemplateSource = "{% for message in messages %}{% if message['role'] == 'user' %}Q: {{ message['content'] }}\nA:{% endif %}{% endfor %}";

    public static (int[] Prefix, int[] Suffix) Tokens(ITokenizer tokenizer) => (tokenizer.Encode(Prefix), tokenizer.Encode(Suffix));

    /// <summary>Writes tokenizer_config.json with the chat template into a checkpoint folder being written.</summary>
    public static void WriteChatTemplate(string dir)
    {
        var json = JsonSerializer.Serialize(new Dictionary<string, string> { ["chat_template"] = ChatTemplateSource }, new JsonSerializerOptions { WriteIndented = true });
        File.WriteAllText(Path.Combine(dir, ChatTemplate.ConfigFile), json + "\n");
    }
}
