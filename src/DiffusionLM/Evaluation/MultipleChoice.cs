using System.Text.Json;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Text;
using TorchSharp;

namespace DiffusionLM.Evaluation;

/// <summary>One multiple-choice item: a prompt, its options, and optionally the index of the right one.</summary>
public sealed record ChoiceItem(string Prompt, IReadOnlyList<string> Choices, int? Answer);

/// <summary>An item scored: the ELBO bound on −log p(choice | prompt) of every option (nats), lowest first wins.</summary>
public sealed record ChoiceResult(int Index, double[] Nll, double[] StandardError, int Predicted, int? Answer)
{
    public bool? Correct => Answer is int a ? a == Predicted : null;
}

/// <summary>
/// Multiple-choice ranking by likelihood, as LLaDA evaluates its multiple-choice benchmarks
/// (eval_llada.py, lm-eval's loglikelihood requests): each option is scored with the Monte-Carlo
/// ELBO of get_log_likelihood (<see cref="MaskedElbo"/>: the prompt never masked), and the option
/// with the highest likelihood bound (lowest NLL, summed over its tokens, not normalised) is chosen.
/// </summary>
/// <remarks>
/// File format (JSON Lines): one object per line, <c>{"prompt": "...", "choices": ["...", ...],
/// "answer": 0}</c>; "answer" is optional and may also be the text of the right option. Tokenisation
/// follows lm-eval's _encode_pair: trailing whitespace of the prompt moves to the front of the
/// option, the option's ids are those of prompt+option after the prompt's ids. All options of an item
/// use the same random stream (seed + item index), so options of equal length see the same masks.
/// </remarks>
public static class MultipleChoice
{
    public static List<ChoiceItem> Read(string path)
    {
        if (!File.Exists(path)) throw new DlmException($"{path}: file not found");
        var items = new List<ChoiceItem>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            string where = $"{path}:{lineNo}";
            JsonElement e;
            try { e = JsonDocument.Parse(line).RootElement; }
            catch (JsonException ex) { throw new DlmException($"{where}: not valid JSON ({ex.Message})"); }
            if (e.ValueKind != JsonValueKind.Object) throw new DlmException($"{where}: expected a JSON object");
            if (!e.TryGetProperty("prompt", out var p) || p.ValueKind != JsonValueKind.String)
                throw new DlmException($"{where}: missing string field \"prompt\"");
            if (!e.TryGetProperty("choices", out var c) || c.ValueKind != JsonValueKind.Array || c.GetArrayLength() < 2
                || c.EnumerateArray().Any(x => x.ValueKind != JsonValueKind.String || x.GetString()!.Length == 0))
                throw new DlmException($"{where}: \"choices\" must be an array of at least two non-empty strings");
            var choices = c.EnumerateArray().Select(x => x.GetString()!).ToList();
            int? answer = null;
            if (e.TryGetProperty("answer", out var a) && a.ValueKind != JsonValueKind.Null)
            {
                if (a.ValueKind == JsonValueKind.Number && a.TryGetInt32(out var i) && i >= 0 && i < choices.Count) answer = i;
                else if (a.ValueKind == JsonValueKind.String && choices.IndexOf(a.GetString()!) is var j && j >= 0) answer = j;
                else throw new DlmException($"{where}: \"answer\" must be an option index (0..{choices.Count - 1}) or the text of an option");
            }
            items.Add(new ChoiceItem(p.GetString()!, choices, answer));
        }
        if (items.Count == 0) throw new DlmException($"{path}: no items");
        return items;
    }

    /// <summary>lm-eval's _encode_pair: (prompt ids, option ids).</summary>
    public static (long[] Prompt, long[] Choice) EncodePair(ITokenizer tokenizer, string prompt, string choice)
    {
        int spaces = prompt.Length - prompt.TrimEnd().Length;
        if (spaces > 0) { choice = prompt[^spaces..] + choice; prompt = prompt[..^spaces]; }
        var whole = tokenizer.Encode(prompt + choice);
        var ctx = tokenizer.Encode(prompt);
        var cont = whole.Skip(ctx.Length).ToArray();
        if (cont.Length == 0) throw new DlmException($"option \"{choice}\" encodes to no tokens after its prompt");
        return (ctx.Select(i => (long)i).ToArray(), cont.Select(i => (long)i).ToArray());
    }

    /// <param name="score">ELBO of (prompt ids, option ids) under a generator: defaults to <see cref="MaskedElbo.Estimate"/>.</param>
    public static ChoiceResult Score(IDenoiser model, ITokenizer tokenizer, ChoiceItem item, int index, int mcNum, int batch, ulong seed,
        Func<long[], long[], torch.Generator, ElboEstimate>? score = null)
    {
        score ??= (p, a, g) => MaskedElbo.Estimate(model, p, a, mcNum, batch, g);
        var nll = new double[item.Choices.Count];
        var se = new double[item.Choices.Count];
        for (int k = 0; k < item.Choices.Count; k++)
        {
            var (p, a) = EncodePair(tokenizer, item.Prompt, item.Choices[k]);
            using var g = new torch.Generator(seed + (ulong)index);
            var est = score(p, a, g);
            nll[k] = est.Nll;
            se[k] = est.StandardError;
        }
        int best = Array.IndexOf(nll, nll.Min());
        return new ChoiceResult(index, nll, se, best, item.Answer);
    }
}
