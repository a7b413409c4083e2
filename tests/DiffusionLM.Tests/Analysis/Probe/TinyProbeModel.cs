using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Text;
using DiffusionLM.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Analysis.Probe;

/// <summary>
/// A tiny masked diffusion model trained in a few seconds on a deterministic corpus: four five-word
/// sentences with disjoint words, in a seeded random order. Inside a sentence the next word is known;
/// which sentence comes next is a 1-in-4 draw. Training is SFT-style (<see cref="BatchSampler"/> with
/// sft: an 8-token prompt that is never masked, a continuation of 1..24 tokens, eos to the end of the
/// 32-token window), so the model learns content next to the prompt, a sentence mixture further on,
/// and eos far out. Saved as a model folder (with unigram.json) for the command line.
/// </summary>
public sealed class TinyProbeModel : IDisposable
{
    public const int Context = 32, PromptTokens = 8, Masks = Context - PromptTokens;
    static readonly string[][] Sentences =
    [
        ["alpha", "bravo", "charlie", "delta", "echo"],
        ["foxtrot", "golf", "hotel", "india", "juliet"],
        ["kilo", "lima", "mike", "november", "oscar"],
        ["papa", "quebec", "romeo", "sierra", "tango"],
    ];

    readonly TempFolder _dir = new();
    public string Folder => _dir["model"];
    public LladaModel Model { get; }
    public ITokenizer Tokenizer { get; }
    public int[] Tokens { get; }
    public double FinalLoss { get; }

    public TinyProbeModel()
    {
        var rng = new Random(7);
        var text = string.Join(" ", Enumerable.Range(0, 3000).Select(_ => string.Join(" ", Sentences[rng.Next(4)]) + "."));
        // 400 tokens: enough merges that every word (and " word") is one token.
        var tokenizer = ByteLevelBpeTokenizer.Train([text], 400);
        Tokenizer = tokenizer;
        Tokens = tokenizer.Encode(text);
        var s = tokenizer.Special;
        var config = new ModelConfig
        {
            DModel = 64, NHeads = 4, NKvHeads = 2, NLayers = 2, MlpHiddenSize = 176, VocabSize = tokenizer.VocabSize,
            MaxSequenceLength = Context, MaskTokenId = s.MaskId, EosTokenId = s.EosId, PadTokenId = s.PadId, BosTokenId = s.BosId,
        };
        var model = new LladaModel(config, BatchSampler.StepGenerator(1, -1, 1));
        var sampler = new BatchSampler(Tokens, Context, 32, s.EosId, sft: true);
        var process = new MaskedProcess(MaskSchedule.FromName("linear"), s.MaskId);
        using (var optimizer = new AdamW(model.named_parameters().Select(p => (p.name, (Tensor)p.parameter))))
        {
            const int steps = 450;
            var lr = new LearningRateSchedule(1e-2, 20, steps);
            model.train();
            double recent = 0;
            for (int step = 0; step < steps; step++)
            {
                using var scope = NewDisposeScope();
                using var g = BatchSampler.StepGenerator(1, step);
                using var batch = sampler.Draw(g);
                optimizer.ZeroGrad();
                var loss = process.Loss(model, batch, g);
                loss.backward();
                optimizer.ClipGradients(1.0);
                optimizer.Step(lr.At(step));
                if (step >= steps - 20) recent += loss.item<float>() / 20;
            }
            FinalLoss = recent;
        }
        model.eval();
        var counts = new long[config.VocabSize];
        foreach (var t in Tokens) counts[t]++;
        Checkpoint.Save(Folder, model, tokenizer, counts);
        Model = model;
    }

    /// <summary>
    /// Prompts of 8 corpus tokens that end inside a sentence, so the next token is known (every
    /// occurrence of the prompt's last token in the corpus is followed by it), with that next token.
    /// </summary>
    public IReadOnlyList<(string Text, int[] Ids, int Next)> KnownNextPrompts(int count)
    {
        var successors = new Dictionary<int, HashSet<int>>();
        for (int i = 0; i + 1 < Tokens.Length; i++)
            (successors.TryGetValue(Tokens[i], out var set) ? set : successors[Tokens[i]] = []).Add(Tokens[i + 1]);
        var result = new List<(string, int[], int)>();
        for (int j = PromptTokens; j < Tokens.Length && result.Count < count; j += 13)
        {
            if (successors[Tokens[j - 1]].Count != 1) continue;
            var ids = Tokens[(j - PromptTokens)..j];
            string text = Tokenizer.Decode(ids);
            // The probe re-encodes the text; it must give back the same ids.
            if (!Tokenizer.Encode(text).SequenceEqual(ids)) continue;
            result.Add((text, ids, Tokens[j]));
        }
        return result;
    }

    public void Dispose()
    {
        Model.Dispose();
        _dir.Dispose();
    }
}
