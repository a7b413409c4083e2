using DiffusionLM.Text;

namespace DiffusionLM.Training;

/// <summary>
/// Where an SFT pair may be cut so that it looks like a question and its answer: the prompt ends with a
/// sentence (its last token ends in '.', '?' or '!', possibly followed by closing quotes or brackets) and the
/// answer starts at its first word: the next token that is not whitespace or an opening quotation mark.
/// Cutting anywhere instead teaches a model that what follows a finished sentence is a newline or a space — and then a probe of "prompt + masks"
/// sees layout, not content, next to the prompt.
/// </summary>
public sealed record SentenceBoundaries(int[] PromptEnds, int[] AnswerStarts)
{
    public int Count => PromptEnds.Length;

    /// <summary>The index of the first boundary with at least <paramref name="promptLen"/> tokens before it (Count if none).</summary>
    public int FirstWithRoomFor(int promptLen)
    {
        int i = Array.BinarySearch(PromptEnds, promptLen);
        return i >= 0 ? i : ~i;
    }

    public static SentenceBoundaries Find(ITokenizer tokenizer, int[] tokens)
    {
        var endsSentence = new Dictionary<int, bool>();
        var blank = new Dictionary<int, bool>();
        bool EndsSentence(int id)
        {
            if (endsSentence.TryGetValue(id, out var v)) return v;
            var text = tokenizer.Decode([id]).TrimEnd('"', '\'', ')', ']', '”', '’');
            return endsSentence[id] = text.Length > 0 && text[^1] is '.' or '?' or '!';
        }
        // Blanks and opening quotes before the first word: in the books an answer to a question is very often
        // a line of dialogue, and a model trained on that predicts a quotation mark, not a word, after a question.
        bool IsBlank(int id)
        {
            if (blank.TryGetValue(id, out var v)) return v;
            var text = tokenizer.Decode([id]);
            return blank[id] = text.Length > 0 && text.All(c => char.IsWhiteSpace(c) || c is '"' or '\'' or '“' or '‘');
        }
        var ends = new List<int>();
        var starts = new List<int>();
        for (int i = 0; i < tokens.Length - 1; i++)
        {
            if (!EndsSentence(tokens[i])) continue;
            int start = i + 1;
            while (start < tokens.Length && IsBlank(tokens[start])) start++;
            if (start >= tokens.Length) break;
            ends.Add(i + 1);
            starts.Add(start);
        }
        return new SentenceBoundaries(ends.ToArray(), starts.ToArray());
    }
}
