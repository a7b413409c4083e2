namespace DiffusionLM.Text;

/// <summary>
/// Encodes a user's prompt so that user text stays text: a special-token string typed in it ("&lt;|mask|&gt;",
/// "&lt;|eos|&gt;", "&lt;|im_start|&gt;") becomes the ordinary tokens of those characters, not the special id, while the
/// chat template's own markers around it are still special. With <c>allowSpecial</c> the text is encoded as the
/// tokenizer does by itself. In no case can a mask id enter a prompt: the samplers treat every mask as a position to
/// fill, so one inside the prompt would be "generated" there.
/// </summary>
/// <remarks>
/// A prompt without any special string is encoded exactly as before (one <see cref="ITokenizer.Encode"/> of the
/// whole text), so tokenization, and every result of the models trained on it, is unchanged. Only around a special
/// string typed by the user is the text cut: the pieces between are encoded as usual, the string itself in halves
/// (recursively) until none of its pieces is a special token.
/// </remarks>
public static class PromptEncoder
{
    const string Sentinel = "\uE000dlm-user-message\uE001";

    public static int[] Encode(ITokenizer tokenizer, string userText, IChatTemplate? template, bool allowSpecial, string source = "--prompt")
    {
        string rendered = template?.Apply(userText) ?? userText;
        var specials = SpecialStrings(tokenizer);
        int[] ids;
        if (allowSpecial || !specials.Any(s => userText.Contains(s, StringComparison.Ordinal))) ids = tokenizer.Encode(rendered);
        else
        {
            int start = UserSpan(rendered, userText, template)
                ?? throw new DlmException($"{source}: the prompt holds a special token string and the chat template changes the message, so it cannot be kept as text; remove it or pass --allow-special-tokens");
            ids = EncodeProtected(tokenizer, rendered, [(start, userText.Length)], specials, source);
        }
        return NoMask(tokenizer, ids, source);
    }

    /// <summary>
    /// A conversation's prompt ids, the same rule applied to every message: <paramref name="render"/> (the chat template,
    /// or the contents one per line) lays the turns out, its markers stay special, and a special-token string typed in a
    /// message's content is encoded as text. Where the messages sit in the rendering is found by rendering sentinels in
    /// their place; a template that changes the contents (trims them, say) cannot be told apart from its markers, so a
    /// special string in a message is then refused rather than guessed at.
    /// </summary>
    public static int[] ForConversation(ITokenizer tokenizer, IReadOnlyList<Chat.ChatMessage> messages, Func<IReadOnlyList<Chat.ChatMessage>, string> render,
        bool allowSpecial, string source = "messages")
    {
        string rendered = render(messages);
        var specials = SpecialStrings(tokenizer);
        int[] ids;
        if (allowSpecial || !messages.Any(m => specials.Any(sp => m.Content.Contains(sp, StringComparison.Ordinal)))) ids = tokenizer.Encode(rendered);
        else
        {
            var spans = MessageSpans(messages, render, rendered)
                ?? throw new DlmException($"{source}: a message holds a special token string and the chat template changes the messages, so it cannot be kept as text; remove it");
            ids = EncodeProtected(tokenizer, rendered, spans, specials, source);
        }
        return WithBos(tokenizer, NoMask(tokenizer, ids, source));
    }

    static int[] NoMask(ITokenizer tokenizer, int[] ids, string source)
    {
        int mask = tokenizer.Special.MaskId;
        if (mask >= 0 && Array.IndexOf(ids, mask) >= 0)
            throw new DlmException($"{source}: the prompt encodes to the mask token {tokenizer.TokenText(mask)}; a mask cannot be part of a prompt (it would be filled in as if generated)");
        return ids;
    }

    /// <summary>Each message's content as a span of <paramref name="rendered"/>, or null when the rendering with the contents put back differs.</summary>
    static List<(int Start, int Length)>? MessageSpans(IReadOnlyList<Chat.ChatMessage> messages, Func<IReadOnlyList<Chat.ChatMessage>, string> render, string rendered)
    {
        string Marker(int i) => $"\uE000dlm-message-{i}\uE001";
        string marked = render(messages.Select((m, i) => m with { Content = Marker(i) }).ToList());
        var spans = new List<(int, int)>();
        var rebuilt = new System.Text.StringBuilder();
        int from = 0;
        for (int i = 0; i < messages.Count; i++)
        {
            int at = marked.IndexOf(Marker(i), from, StringComparison.Ordinal);
            if (at < 0) return null;
            rebuilt.Append(marked, from, at - from);
            spans.Add((rebuilt.Length, messages[i].Content.Length));
            rebuilt.Append(messages[i].Content);
            from = at + Marker(i).Length;
        }
        rebuilt.Append(marked, from, marked.Length - from);
        return rebuilt.ToString() == rendered ? spans : null;
    }

    /// <summary>
    /// The prompt ids a model generates from: <see cref="Encode"/>, then <see cref="WithBos"/>. The one function that
    /// <c>dlm generate</c>, <c>dlm generate --prompts</c>, <c>dlm serve</c> and the chat client share, so the same
    /// text is the same prompt wherever it is typed.
    /// </summary>
    public static int[] ForGeneration(ITokenizer tokenizer, string userText, IChatTemplate? template, bool allowSpecial, string source = "--prompt") =>
        WithBos(tokenizer, Encode(tokenizer, userText, template, allowSpecial, source));

    /// <summary>llama2.c's convention (run.c): a text starts with &lt;s&gt;; a llama2.c story model learnt that
    /// &lt;s&gt; opens a story, so its prompts get one. Other tokenizers' ids are returned as they are.</summary>
    public static int[] WithBos(ITokenizer tokenizer, int[] ids) =>
        tokenizer is Llama2cTokenizer && tokenizer.Special.BosId >= 0 ? [tokenizer.Special.BosId, .. ids] : ids;

    /// <summary>The special-token strings of a tokenizer (its added special tokens).</summary>
    public static IReadOnlyList<string> SpecialStrings(ITokenizer tokenizer) => tokenizer switch
    {
        ByteLevelBpeTokenizer b => b.AddedTokens.Select(a => a.Content).ToList(),
        HfTokenizer h => h.SpecialContents.ToList(),
        _ => [],
    };

    /// <summary>Where the user's text starts in the rendered prompt: after the template's prefix, found by rendering a sentinel.</summary>
    static int? UserSpan(string rendered, string userText, IChatTemplate? template)
    {
        if (template is null) return 0;
        string marked = template.Apply(Sentinel);
        int at = marked.IndexOf(Sentinel, StringComparison.Ordinal);
        if (at >= 0 && rendered.Length >= at + userText.Length && string.CompareOrdinal(rendered, at, userText, 0, userText.Length) == 0) return at;
        return null;
    }

    /// <summary>The text encoded as usual, except that a special string inside one of the user's spans becomes its characters' ordinary tokens.</summary>
    static int[] EncodeProtected(ITokenizer tokenizer, string text, IReadOnlyList<(int Start, int Length)> spans, IReadOnlyList<string> specials, string source)
    {
        var specialIds = SpecialIds(tokenizer, specials);
        var ids = new List<int>();
        int done = 0;
        foreach (var (start, length) in spans.OrderBy(s => s.Start))
        {
            int end = start + length;
            for (int i = Math.Max(start, done); i < end;)
            {
                var hit = specials.Where(s => s.Length > 0 && i + s.Length <= end && string.CompareOrdinal(text, i, s, 0, s.Length) == 0)
                    .OrderByDescending(s => s.Length).FirstOrDefault();
                if (hit is null) { i++; continue; }
                if (i > done) ids.AddRange(tokenizer.Encode(text[done..i]));
                ids.AddRange(Literal(tokenizer, hit, specialIds, source));
                i += hit.Length;
                done = i;
            }
        }
        if (done < text.Length) ids.AddRange(tokenizer.Encode(text[done..]));
        return [.. ids];
    }

    /// <summary>The ordinary tokens of a special string's characters: encoded in halves until no piece is special.</summary>
    static IEnumerable<int> Literal(ITokenizer tokenizer, string s, HashSet<int> specialIds, string source)
    {
        var ids = tokenizer.Encode(s);
        if (!ids.Any(specialIds.Contains)) return ids;
        if (s.Length <= 1) throw new DlmException($"{source}: the character '{s}' can only be encoded as a special token by this tokenizer");
        int half = s.Length / 2;
        if (char.IsHighSurrogate(s[half - 1])) half++;
        return Literal(tokenizer, s[..half], specialIds, source).Concat(Literal(tokenizer, s[half..], specialIds, source)).ToArray();
    }

    static HashSet<int> SpecialIds(ITokenizer tokenizer, IReadOnlyList<string> specials)
    {
        var ids = new HashSet<int>();
        var t = tokenizer.Special;
        foreach (var id in new[] { t.MaskId, t.EosId, t.PadId, t.BosId }) if (id >= 0) ids.Add(id);
        foreach (var s in specials) if (tokenizer.Encode(s) is [var only]) ids.Add(only);
        return ids;
    }
}
