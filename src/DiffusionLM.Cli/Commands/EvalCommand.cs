using System.CommandLine;
using System.Text.Json;
using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Text;
using TorchSharp;

namespace DiffusionLM.Cli.Commands;

public static class EvalCommand
{
    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var data = new Option<string?>("--data") { Description = "text file to evaluate on (or --choices)" };
        var choices = new Option<string?>("--choices") { Description = "JSON Lines of multiple-choice items {\"prompt\", \"choices\": [...], \"answer\"?: index or text}: rank each item's options by their ELBO likelihood given the prompt; accuracy when answers are given" };
        var mc = new Option<int>("--mc") { Description = "Monte-Carlo samples of the corruption per window (LLaDA's mc_num)", DefaultValueFactory = _ => 32 };
        var batch = new Option<int>("--batch-size") { Description = "corruptions per forward batch; --mc must be a multiple of it", DefaultValueFactory = _ => 8 };
        var windows = new Option<int>("--windows") { Description = "at most this many context-length windows of the file, evenly spaced", DefaultValueFactory = _ => 32 };
        var seed = new Option<long>("--seed") { Description = "seed of the Monte-Carlo draws", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "print {\"nll_per_token\", \"standard_error\", \"perplexity_bound\", \"tokens\", \"windows\"}" };

        var cmd = new Command("eval", "Bound the negative log-likelihood of a text under a diffusion LM: the Monte-Carlo ELBO (LLaDA's get_log_likelihood for masked models, the family's own negative ELBO for the others).")
        {
            model, data, choices, mc, batch, windows, seed, json,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            OptionRanges.Positive("--mc", r.GetValue(mc));
            OptionRanges.Positive("--batch-size", r.GetValue(batch));
            if (r.GetValue(mc) % r.GetValue(batch) != 0) throw new DlmException($"--mc {r.GetValue(mc)} must be a multiple of --batch-size {r.GetValue(batch)}");
            if (r.GetValue(choices) is string choiceFile)
                return ChoiceEval.Run(ModelLocator.Resolve(r.GetValue(model)), choiceFile, r.GetValue(mc), r.GetValue(batch), (ulong)r.GetValue(seed), r.GetValue(json));
            var path = r.GetValue(data) ?? throw new DlmException("give --data FILE (text to bound the likelihood of) or --choices FILE (multiple-choice items)");
            using var loaded = ModelLoader.Load(ModelLocator.Resolve(r.GetValue(model)));
            var (m, tokenizer) = (loaded.Model, loaded.Tokenizer);
            RefuseCausal(loaded);
            var text = TokenCorpus.ReadTexts([path])[0];
            var ids = tokenizer.Encode(text);
            int len = m.Config.MaxSequenceLength;
            if (ids.Length < 2) throw new DlmException($"{path}: too little text to evaluate");
            int available = Math.Max(1, ids.Length / len);
            int count = Math.Min(r.GetValue(windows), available);
            if (count <= 0) throw new DlmException("--windows must be positive");
            using var g = new torch.Generator((ulong)r.GetValue(seed));
            // Masked models keep LLaDA's estimator; the other families bound with their own negative ELBO.
            var objective = m.Config.Process.Absorbing ? null : DiffusionProcesses.Objective(m.Config);
            var perToken = new List<double>();
            int tokens = 0;
            using var plain = Io.Interactive ? null : Terminal.PlainProgress.Start();
            for (int w = 0; w < count; w++)
            {
                long start = count == 1 ? 0 : (long)w * (ids.Length - Math.Min(len, ids.Length)) / (count - 1);
                var window = ids.Skip((int)start).Take(len).Select(i => (long)i).ToArray();
                var est = objective is null
                    ? MaskedElbo.Estimate(m, [], window, r.GetValue(mc), r.GetValue(batch), g)
                    : ElboEvaluation.Estimate(objective, m, window, r.GetValue(mc), r.GetValue(batch), g);
                perToken.AddRange(est.BatchEstimates.Select(e => e / window.Length));
                tokens += window.Length;
                if (plain is null) Io.Err.Write($"\rwindow {w + 1}/{count}");
                else plain.Report($"eval: window {w + 1}/{count}", force: w + 1 == count);
            }
            if (Io.Interactive) Io.Err.WriteLine();
            double nll = perToken.Average();
            double se = perToken.Count > 1 ? Math.Sqrt(perToken.Sum(x => (x - nll) * (x - nll)) / (perToken.Count - 1) / perToken.Count) : double.NaN;
            if (r.GetValue(json))
                Io.Out.WriteLine(JsonSerializer.Serialize(new { nll_per_token = nll, standard_error = se, perplexity_bound = Math.Exp(nll), tokens, windows = count }));
            else
                Io.Out.WriteLine($"NLL ≤ {nll:F4} ± {se:F4} nats/token (ELBO, {count} windows, {tokens} tokens); perplexity ≤ {Math.Exp(nll):F2}");
            return 0;
        }));
        return cmd;
    }

    /// <summary>The ELBO bounds a diffusion model's likelihood; a causal model has none (and no mask token to corrupt with).</summary>
    public static void RefuseCausal(LoadedModel loaded)
    {
        if (loaded.Model.Config.Causal)
            throw new DlmException($"{loaded.Folder}: a causal model (config.json \"causal\": true): eval bounds the likelihood of diffusion models only");
    }
}
