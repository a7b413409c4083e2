using Xunit;
using DiffusionLM.Text;
using DiffusionLM.Training;
using TorchSharp;

namespace DiffusionLM.Tests.Training;

/// <summary>SFT pairs cut at sentence ends (train --sft-cut sentence): the prompt ends a sentence, the answer starts with a word.</summary>
public class SentenceCutTests
{
    const string Text = "Is it good? Yes, it is.\n\nAnd then the rest came home! \"Why not?\" she said. The end of it all was near and far and wide";

    static ByteLevelBpeTokenizer Tokenizer() => ByteLevelBpeTokenizer.Train([Text], 300);

    [Fact]
    public void Boundaries_are_exactly_the_sentence_ends_and_answers_start_at_a_word()
    {
        var tok = Tokenizer();
        var ids = tok.Encode(Text);
        var b = SentenceBoundaries.Find(tok, ids);
        // "good?", "is.", "home!", "not?\"", "said." : five sentence ends, each followed by more text.
        Assert.Equal(5, b.Count);
        var answers = b.AnswerStarts.Select(s => tok.Decode(ids[s..]).Split(' ', StringSplitOptions.RemoveEmptyEntries)[0]).ToArray();
        Assert.Equal(["Yes,", "And", "Why", "she", "The"], answers);
        for (int k = 0; k < b.Count; k++)
        {
            var prompt = tok.Decode(ids[..b.PromptEnds[k]]).TrimEnd('"');
            Assert.Contains(prompt[^1], ".?!");
            Assert.False(string.IsNullOrWhiteSpace(tok.Decode([ids[b.AnswerStarts[k]]])));
        }
    }

    [Fact]
    public void Sentence_cut_batches_put_a_sentence_end_last_in_the_prompt_and_a_word_first_in_the_answer()
    {
        var tok = Tokenizer();
        var text = string.Concat(Enumerable.Repeat(Text + ". ", 20));
        var ids = tok.Encode(text);
        var cuts = SentenceBoundaries.Find(tok, ids);
        int eos = tok.Special.EosId;
        var sampler = new BatchSampler(ids, 40, 16, eos, sft: true, cuts, minAnswer: 20);
        using var g = new torch.Generator(3);
        using var batch = sampler.Draw(g);
        var rows = batch.Ids.data<long>().ToArray();
        var prompt = batch.PromptMask!.data<bool>().ToArray();
        for (int r = 0; r < 16; r++)
        {
            int p = Enumerable.Range(0, 40).Count(j => prompt[r * 40 + j]);
            var last = tok.Decode([(int)rows[r * 40 + p - 1]]).TrimEnd('"');
            Assert.Contains(last[^1], ".?!");
            var first = tok.Decode([(int)rows[r * 40 + p]]);
            Assert.False(string.IsNullOrWhiteSpace(first), $"row {r}: the answer starts with blank \"{first}\"");
            // --min-answer: at least 20 answer tokens before the eos padding.
            Assert.DoesNotContain((long)eos, rows.Skip(r * 40 + p).Take(20));
        }
        // The draw is a function of the seed.
        using var g2 = new torch.Generator(3);
        using var again = sampler.Draw(g2);
        Assert.Equal(rows, again.Ids.data<long>().ToArray());
    }

    [Fact]
    public void Qa_frame_wraps_every_prompt_and_the_saved_template_renders_the_same_text()
    {
        var tok = Tokenizer();
        var text = string.Concat(Enumerable.Repeat(Text + ". ", 20));
        var ids = tok.Encode(text);
        var frame = QaFormat.Tokens(tok);
        var sampler = new BatchSampler(ids, 60, 8, tok.Special.EosId, sft: true, SentenceBoundaries.Find(tok, ids), minAnswer: 10, frame);
        using var g = new torch.Generator(5);
        using var batch = sampler.Draw(g);
        var rows = batch.Ids.data<long>().ToArray();
        var prompt = batch.PromptMask!.data<bool>().ToArray();
        for (int r = 0; r < 8; r++)
        {
            int p = Enumerable.Range(0, 60).Count(j => prompt[r * 60 + j]);
            var row = rows.Skip(r * 60).Take(60).Select(i => (int)i).ToArray();
            Assert.Equal(frame.Prefix, row[..frame.Prefix.Length]);
            Assert.Equal(frame.Suffix, row[(p - frame.Suffix.Length)..p]);
            // The frame is part of the prompt: never masked, and the answer follows "A:" at once.
            Assert.All(Enumerable.Range(0, p), j => Assert.True(prompt[r * 60 + j]));
            Assert.EndsWith("\nA:", tok.Decode(row[..p]));
        }
        using var dir = new TempFolder();
        QaFormat.WriteChatTemplate(dir.Path);
        var template = DiffusionLM.Text.Chat.ChatTemplate.Load(dir.Path)!;
        Assert.Equal("Q: Why not?\nA:", template.Apply("Why not?"));
        // The rendered prompt tokenizes into the training frame: prefix, the words, suffix.
        var rendered = tok.Encode(template.Apply("Why not?"));
        Assert.Equal(frame.Prefix, rendered[..frame.Prefix.Length]);
        Assert.Equal(frame.Suffix, rendered[^frame.Suffix.Length..]);
    }
}
