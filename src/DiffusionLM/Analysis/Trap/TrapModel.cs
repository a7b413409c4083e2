using DiffusionLM.Corruption;
using DiffusionLM.Models;
using DiffusionLM.Text;
using DiffusionLM.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Trap;

/// <summary>How a trap model is trained: a small diffusion LM of one family (<paramref name="Process"/>) on whole sentences.</summary>
public sealed record TrapTrainingOptions(
    int Sentences = 4000, int Steps = 400, int BatchSize = 64, double LearningRate = 3e-3,
    int DModel = 64, int Layers = 2, int Heads = 4, long Seed = 0)
{
    public DiffusionProcess Process { get; init; } = DiffusionProcess.Masked;
}

/// <summary>
/// Trains a denoiser on a trap language. The corpus (one sentence per line, also written as text so that
/// <c>dlm train</c> can use it) is tokenized with a byte-level BPE large enough that every word is one
/// token; each training sequence is bos followed by one sentence (the bos is never masked, as an SFT
/// prompt), so the model sees exactly the sentences and learns p(word | visible words) by its family's objective
/// (<see cref="TrapTrainingOptions.Process"/>: masked, uniform or gaussian, the objective <c>dlm train --process</c> uses).
/// </summary>
public static class TrapModel
{
    /// <summary>The corpus: <paramref name="sentences"/> uniform draws from the support, one per line, words separated by spaces.</summary>
    public static string CorpusText(TrapLanguage language, int sentences, long seed)
    {
        var rng = new Random((int)(seed & int.MaxValue) ^ 0x5EED);
        var lines = new List<string>(sentences);
        // A leading space on every line: each word is then the pre-token " word", one BPE token.
        for (int i = 0; i < sentences; i++) lines.Add(" " + language.Text(language.Sample(rng)));
        return string.Join('\n', lines) + "\n";
    }

    /// <summary>A tokenizer with one token per word (" word"): byte-level BPE trained until no pair is left.</summary>
    public static ByteLevelBpeTokenizer Tokenizer(TrapLanguage language, string corpus)
    {
        int merges = language.Words.Sum(w => w.Length + 1) + 64;
        var tok = ByteLevelBpeTokenizer.Train([corpus], 260 + merges);
        WordTokens(tok, language);
        return tok;
    }

    /// <summary>The token id of each word (as it appears after a space); an error when a word is not one token.</summary>
    public static int[] WordTokens(ITokenizer tokenizer, TrapLanguage language)
    {
        var ids = new int[language.Words.Count];
        for (int w = 0; w < ids.Length; w++)
        {
            var enc = tokenizer.Encode(" " + language.Words[w]);
            if (enc.Length != 1)
                throw new DlmException($"language {language.Name}: word \"{language.Words[w]}\" is {enc.Length} tokens under this tokenizer; the trap needs one token per word");
            ids[w] = enc[0];
        }
        return ids;
    }

    /// <summary>The prompt every trap sample starts from: bos.</summary>
    public static long[] Prompt(ITokenizer tokenizer) => [tokenizer.Special.BosId];

    public static LladaModel Train(TrapLanguage language, ByteLevelBpeTokenizer tokenizer, string corpus, TrapTrainingOptions o,
        Action<int, double>? progress = null)
    {
        var sentences = corpus.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(language.WordIndex).ToArray()).ToArray();
        if (sentences.Any(s => !language.IsValid(s))) throw new DlmException($"language {language.Name}: the corpus holds an invalid sentence");
        int seqLen = language.Length + 1;
        var config = new ModelConfig
        {
            DModel = o.DModel, NLayers = o.Layers, NHeads = o.Heads, NKvHeads = o.Heads, MlpHiddenSize = o.DModel * 4,
            VocabSize = tokenizer.VocabSize, MaxSequenceLength = seqLen, MaskTokenId = tokenizer.Special.MaskId,
            EosTokenId = tokenizer.Special.EosId, PadTokenId = tokenizer.Special.PadId, BosTokenId = tokenizer.Special.BosId,
            Process = o.Process,
        };
        // The gaussian family's denoiser reads noisy embeddings and must know the noise level (as Preset.ToConfig sets it).
        if (o.Process.Continuous)
            config = config with { TimeConditioning = true, EmbeddingDim = o.DModel, SigmaMin = 1.0, SigmaMax = 100.0 };
        config.Validate("trap model");
        var model = new LladaModel(config, BatchSampler.StepGenerator(o.Seed, -1, 1));
        var process = DiffusionProcesses.Objective(config, model);
        TrainingLoop.Run(model, process, Batches(language, tokenizer, sentences, o.BatchSize), Settings(o), progress, $"{o.Process} trap model training");
        return model;
    }

    /// <summary>
    /// The trap models' settings in the project's one training loop. No weight decay: a trap model must fit the
    /// language's exact marginals (the trap is measured against them), and decay would pull them toward uniform.
    /// </summary>
    public static LoopSettings Settings(TrapTrainingOptions o) => new(o.Steps, o.LearningRate, WeightDecay: 0.0, Seed: o.Seed);

    /// <summary>A training batch of the step: BatchSize corpus sentences, each as bos (the prompt, never masked) + its words.</summary>
    public static Func<Generator, TrainingBatch> Batches(TrapLanguage language, ByteLevelBpeTokenizer tokenizer, int[][] sentences, int batchSize)
    {
        var wordTok = WordTokens(tokenizer, language);
        int seqLen = language.Length + 1;
        return g =>
        {
            var pick = randint(sentences.Length, [batchSize], generator: g).data<long>().ToArray();
            var ids = new long[batchSize, seqLen];
            var promptMask = new bool[batchSize, seqLen];
            for (int r = 0; r < batchSize; r++)
            {
                ids[r, 0] = tokenizer.Special.BosId;
                promptMask[r, 0] = true;
                for (int i = 0; i < language.Length; i++) ids[r, i + 1] = wordTok[sentences[pick[r]][i]];
            }
            return new TrainingBatch(tensor(ids), tensor(promptMask));
        };
    }
}
