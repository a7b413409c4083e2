using DiffusionLM.Corruption;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Training;

/// <summary>
/// Draws training batches from a token stream. Every draw for step s comes from a generator seeded by
/// (seed, s) alone, so a resumed run sees exactly the batches and masks of an uninterrupted one
/// without saving any random state.
/// </summary>
/// <param name="boundaries">SFT only: cut pairs at sentence ends (prompt = the text before a sentence end,
/// answer = from the next non-blank token) instead of anywhere; null: anywhere.</param>
/// <param name="minAnswer">SFT only: the shortest answer in tokens (before eos padding); answers are minAnswer..the rest of the window.</param>
/// <param name="frame">SFT only: token ids put before and after every prompt (<see cref="QaFormat"/>); null: none.</param>
public sealed class BatchSampler(int[] tokens, int seqLen, int batchSize, int eosId, bool sft, SentenceBoundaries? boundaries = null, int minAnswer = 1,
    (int[] Prefix, int[] Suffix)? frame = null)
{
    /// <summary>Shortest prompt of an SFT pair; prompts are 8..seqLen/4 tokens.</summary>
    public const int MinPrompt = 8;

    public static Generator StepGenerator(long seed, long step, long stream = 0)
    {
        // SplitMix64 of (seed, step, stream): nearby steps get unrelated generator seeds.
        ulong z = (ulong)seed * 0x9E3779B97F4A7C15UL ^ (ulong)step * 0xBF58476D1CE4E5B9UL ^ (ulong)stream * 0x94D049BB133111EBUL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return new Generator(z & 0x7FFFFFFFFFFFFFFFUL);
    }

    public TrainingBatch Draw(Generator g)
    {
        var rng = new Random((int)(randint(int.MaxValue, [1], generator: g).item<long>() & int.MaxValue));
        var ids = new long[batchSize, seqLen];
        bool[,]? prompt = sft ? new bool[batchSize, seqLen] : null;
        for (int r = 0; r < batchSize; r++)
        {
            int start = rng.Next(0, tokens.Length - seqLen + 1);
            if (!sft)
            {
                for (int j = 0; j < seqLen; j++) ids[r, j] = tokens[start + j];
                continue;
            }
            // An SFT pair cut from running text: a prompt, a continuation of random length, then eos
            // to the end of the window. The eos padding is part of the answer (LLaDA's SFT), so the
            // model learns where answers end as well as what they say.
            int[] prefix = frame?.Prefix ?? [], suffix = frame?.Suffix ?? [];
            int promptLen = rng.Next(MinPrompt, Math.Max(MinPrompt + 1, seqLen / 4 + 1));
            // The answer gets what the prompt and its frame leave of the window.
            int room = seqLen - promptLen - prefix.Length - suffix.Length;
            int answerLen = rng.Next(Math.Min(minAnswer, room), room + 1);
            // The answer starts right after the prompt, or (sentence cuts) at the first non-blank token after it.
            int answerStart = start + promptLen;
            if (boundaries is { Count: > 0 })
            {
                // Only sentence ends with a whole prompt before them (the first few of the text lack one).
                int first = boundaries.FirstWithRoomFor(promptLen);
                if (first == boundaries.Count) throw new DlmException($"--sft-cut sentence: no sentence end has {promptLen} tokens before it");
                int k = first + rng.Next(boundaries.Count - first);
                int end = boundaries.PromptEnds[k];
                start = end - promptLen;
                answerStart = Math.Max(boundaries.AnswerStarts[k], end);
                answerLen = Math.Min(answerLen, tokens.Length - answerStart);
            }
            // [prefix][prompt][suffix] is never masked; then the answer, then eos to the end of the window.
            int head = prefix.Length + promptLen + suffix.Length;
            for (int j = 0; j < seqLen; j++)
            {
                ids[r, j] = j < prefix.Length ? prefix[j]
                    : j < prefix.Length + promptLen ? tokens[start + j - prefix.Length]
                    : j < head ? suffix[j - prefix.Length - promptLen]
                    : j < head + answerLen ? tokens[answerStart + j - head]
                    : eosId;
                prompt![r, j] = j < head;
            }
        }
        return new TrainingBatch(tensor(ids), prompt is null ? null : tensor(prompt));
    }

    /// <summary>
    /// A fixed set of held-out batches, the same at every evaluation, shaped like the training batches:
    /// evenly spaced windows of the validation split, or (SFT) pairs drawn from it with a fixed seed,
    /// so that an SFT model is validated on the task it is trained on.
    /// </summary>
    public static IReadOnlyList<TrainingBatch> ValidationBatches(int[] tokens, int seqLen, int count, int eosId, bool sft, long seed, SentenceBoundaries? boundaries = null, int minAnswer = 1,
        (int[] Prefix, int[] Suffix)? frame = null)
    {
        const int chunk = 16;
        count = Math.Max(1, count);
        var batches = new List<TrainingBatch>();
        if (sft)
        {
            for (int done = 0, i = 0; done < count; done += chunk, i++)
            {
                using var g = StepGenerator(seed, -2 - i, 3);
                batches.Add(new BatchSampler(tokens, seqLen, Math.Min(chunk, count - done), eosId, sft: true, boundaries, minAnswer, frame).Draw(g).Detached());
            }
            return batches;
        }
        using var windows = FixedWindows(tokens, seqLen, count);
        for (long first = 0; first < windows.shape[0]; first += chunk)
            batches.Add(new TrainingBatch(windows.narrow(0, first, Math.Min(chunk, windows.shape[0] - first)).clone()).Detached());
        return batches;
    }

    /// <summary>Up to <paramref name="count"/> evenly spaced windows of the tokens, as one [count, seqLen] tensor.</summary>
    public static Tensor FixedWindows(int[] tokens, int seqLen, int count)
    {
        count = Math.Max(1, Math.Min(count, tokens.Length / seqLen));
        var ids = new long[count, seqLen];
        long stride = Math.Max(seqLen, (tokens.Length - seqLen) / Math.Max(1, count - 1));
        for (int r = 0; r < count; r++)
        {
            long start = Math.Min(r * stride, tokens.Length - seqLen);
            for (int j = 0; j < seqLen; j++) ids[r, j] = tokens[start + j];
        }
        return tensor(ids);
    }
}
