using System.Text.Json;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using TorchSharp;

namespace DiffusionLM.Cli.Commands;

/// <summary>
/// `dlm generate` for a causal model, as llama2.c's run.c does it: the prompt is &lt;s&gt; + its tokens,
/// then --gen-length tokens left to right (argmax at temperature 0), stopping early when the model
/// writes &lt;s&gt; (the story delimiter). The completion is printed the way run.c prints pieces (after
/// &lt;s&gt; the leading space is dropped; byte tokens are raw bytes), followed by a newline.
/// </summary>
public static class CausalGenerate
{
    public static int Run(IDenoiser model, ITokenizer tokenizer, string promptText, int genLength, double temperature, long seed, bool json)
    {
        int bos = model.Config.BosTokenId;
        if (bos < 0 || bos >= model.Config.VocabSize) throw new DlmException($"config.json: a causal model needs bos_token_id (got {bos})");
        var promptIds = new[] { (long)bos }.Concat(tokenizer.Encode(promptText).Select(i => (long)i)).ToArray();
        if (promptIds.Length + genLength > model.Config.MaxSequenceLength)
            throw new DlmException($"the prompt is {promptIds.Length} tokens with <s> and --gen-length {genLength}: {promptIds.Length + genLength} in all, longer than the model's context of {model.Config.MaxSequenceLength} tokens");
        var sampler = new AutoregressiveSampler(new AutoregressiveOptions(genLength, temperature, StopToken: bos));
        using var g = new torch.Generator((ulong)seed);
        var result = sampler.Generate(model, [promptIds], g);
        var completion = result.Completions[0];
        int end = Array.IndexOf(completion, (long)bos);
        var visible = (end < 0 ? completion : completion[..end]).Select(i => (int)i).ToArray();
        string text = tokenizer is Llama2cTokenizer l2c
            ? l2c.DecodeRunC((int)promptIds[^1], visible)
            : tokenizer.Decode(visible);
        if (!json) { Io.Out.Write(text + "\n"); return 0; }
        Io.Out.WriteLine(JsonSerializer.Serialize(new { text, ids = visible, prompt_ids = promptIds, nfe = result.Nfe, stopped = end >= 0 }));
        return 0;
    }
}
