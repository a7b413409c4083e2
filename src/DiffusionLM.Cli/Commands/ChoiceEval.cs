using System.Text.Json;
using DiffusionLM.Corruption;
using DiffusionLM.Evaluation;
using DiffusionLM.Models;

namespace DiffusionLM.Cli.Commands;

/// <summary>dlm eval --choices: multiple-choice ranking by the Monte-Carlo ELBO.</summary>
public static class ChoiceEval
{
    public static int Run(string modelDir, string file, int mc, int batch, ulong seed, bool json)
    {
        var items = MultipleChoice.Read(file);
        using var loaded = ModelLoader.Load(modelDir);
        EvalCommand.RefuseCausal(loaded);
        var results = new List<ChoiceResult>();
        // Masked models keep LLaDA's estimator (Score's default); the other families score with their own negative ELBO.
        Func<long[], long[], TorchSharp.torch.Generator, ElboEstimate>? score = null;
        if (!loaded.Model.Config.Process.Absorbing)
        {
            var objective = DiffusionProcesses.Objective(loaded.Model.Config);
            score = (p, a, g) => ElboEvaluation.Estimate(objective, loaded.Model, p, a, mc, batch, g);
        }
        using var plain = Io.Interactive ? null : Terminal.PlainProgress.Start();
        for (int i = 0; i < items.Count; i++)
        {
            var res = MultipleChoice.Score(loaded.Model, loaded.Tokenizer, items[i], i, mc, batch, seed, score);
            results.Add(res);
            if (!json)
                Io.Out.WriteLine($"item {i}: predicted {res.Predicted}{(res.Answer is int a ? $" (answer {a}, {(res.Correct == true ? "right" : "wrong")})" : "")}; " +
                    "NLL " + string.Join(" | ", res.Nll.Select((n, k) => $"{n:F2}±{res.StandardError[k]:F2}")));
            else if (plain is null) Io.Err.Write($"\ritem {i + 1}/{items.Count}");
            plain?.Report($"eval choices: item {i + 1}/{items.Count}", force: i + 1 == items.Count);
        }
        if (json && Io.Interactive) Io.Err.WriteLine();
        var answered = results.Where(r => r.Answer is not null).ToList();
        double? accuracy = answered.Count > 0 ? answered.Count(r => r.Correct == true) / (double)answered.Count : null;
        if (json)
        {
            Io.Out.WriteLine(JsonSerializer.Serialize(new
            {
                items = results.Select(r => new { index = r.Index, nll = r.Nll, standard_error = r.StandardError, predicted = r.Predicted, answer = r.Answer, correct = r.Correct }),
                accuracy, answered = answered.Count, mc_num = mc, batch,
            }));
        }
        else if (accuracy is double acc)
            Io.Out.WriteLine($"accuracy {acc:P1} ({answered.Count(r => r.Correct == true)}/{answered.Count}; ELBO with mc_num {mc}, batch {batch})");
        return 0;
    }
}
