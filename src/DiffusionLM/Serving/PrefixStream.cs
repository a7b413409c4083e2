namespace DiffusionLM.Serving;

/// <summary>
/// Turns a diffusion run into left-to-right text deltas. A masked sampler commits positions in any order, so
/// text can only be sent once it is a contiguous prefix: after every step the committed prefix is decoded, and
/// what it adds to what was already sent is the next delta. A prefix that ends inside a multi-byte character
/// (decoded as U+FFFD) is held back until the character is whole. The deltas concatenate to the final text.
/// </summary>
public sealed class PrefixStream
{
    string _sent = "";

    public string Sent => _sent;

    /// <summary>The delta the current committed prefix adds, or "" when it adds nothing (or does not extend what was sent).</summary>
    public string Offer(string prefix)
    {
        if (prefix.EndsWith('\uFFFD')) prefix = prefix.TrimEnd('\uFFFD');
        if (prefix.Length <= _sent.Length || !prefix.StartsWith(_sent, StringComparison.Ordinal)) return "";
        var delta = prefix[_sent.Length..];
        _sent = prefix;
        return delta;
    }

    /// <summary>The rest of the final text. A final text that does not extend what was sent cannot happen with
    /// final commits; should it, the rest is what follows the common part, so nothing is sent twice.</summary>
    public string Finish(string text)
    {
        int common = 0;
        while (common < _sent.Length && common < text.Length && _sent[common] == text[common]) common++;
        var delta = text[Math.Max(common, Math.Min(_sent.Length, text.Length))..];
        _sent = text;
        return delta;
    }
}
