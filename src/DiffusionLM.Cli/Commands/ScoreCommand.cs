using System.CommandLine;
using System.Text.Json;
using DiffusionLM.Analysis;
using DiffusionLM.Models;
using DiffusionLM.Teacher;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm score`: exact likelihood of texts under a causal judge.</summary>
public static class ScoreCommand
{
    public static Command Create()
    {
        var judge = TeacherCorpusCommand.TeacherOption("--judge");
        var samples = new Option<string>("--data") { Description = "texts to score: JSON Lines with \"text\" (.jsonl or .jsonl.gz, e.g. a teacher corpus) or plain text, one sample per line", Required = true };
        var json = new Option<bool>("--json") { Description = "print {\"gen_ppl\", \"nll_per_token\", \"entropy\", \"tokens\"}" };
        var cmd = new Command("score",
            "Score texts under a causal judge (default: stories260K): the exact negative log-likelihood per token of <s> + text " +
            "(every token counted, the first included; no end marker), the generative perplexity exp(NLL per token), " +
            "and the unigram entropy of each text's tokens (nats, averaged over texts; repetitive text scores low).")
        {
            judge, samples, json,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            // A 260K-parameter model is bound by per-op overhead: one thread avoids OpenMP barriers that stall on a
            // busy machine, and fixes the thread count so that the sampled corpus is the same everywhere it runs.
            TorchSharp.torch.set_num_threads(1);
            var (model, tokenizer) = Checkpoint.Load(ModelLocator.Resolve(r.GetValue(judge), TeacherCorpusCommand.DefaultTeacher));
            using var _ = model;
            model.eval();
            var texts = TeacherCorpus.ReadTexts(r.GetValue(samples)!);
            if (texts.Count == 0) throw new DlmException($"{r.GetValue(samples)}: no samples");
            var score = new TeacherJudge(model, tokenizer).Score(texts);
            if (r.GetValue(json))
            {
                Io.Out.WriteLine(JsonSerializer.Serialize(new { gen_ppl = score.GenPpl, nll_per_token = score.NllPerToken, entropy = score.Entropy, tokens = score.Tokens }));
                return 0;
            }
            Io.Out.WriteLine($"{texts.Count} samples, {score.Tokens} tokens under the judge's tokenizer");
            Io.Out.WriteLine($"NLL per token   {score.NllPerToken:F4} nats");
            Io.Out.WriteLine($"gen perplexity  {score.GenPpl:F3}");
            Io.Out.WriteLine($"unigram entropy {score.Entropy:F4} nats (mean over samples)");
            return 0;
        }));
        return cmd;
    }
}
