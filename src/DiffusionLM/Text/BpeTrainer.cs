namespace DiffusionLM.Text;

/// <summary>
/// Learns byte-level BPE merges from word counts, as Hugging Face's BpeTrainer does: each unique
/// pre-tokenized word is stored once with its count, pair counts are kept up to date incrementally
/// (only words containing the merged pair are touched), and a lazy max-heap picks the next pair.
/// </summary>
internal static class BpeTrainer
{
    /// <param name="Tokens">Token strings by id: the 256 byte chars in byte order, then merge results.</param>
    /// <param name="Merges">Merges in rank order, as (left id, right id, merged id).</param>
    internal sealed record Result(List<string> Tokens, List<(int Left, int Right, int Merged)> Merges);

    /// <summary>Orders the heap: higher count first, then the smaller (left, right) pair, so that
    /// ties break the same way on every run whatever the hash order.</summary>
    private sealed class PairOrder : IComparer<(long Count, long Pair)>
    {
        public static readonly PairOrder Instance = new();
        public int Compare((long Count, long Pair) x, (long Count, long Pair) y) =>
            x.Count != y.Count ? y.Count.CompareTo(x.Count) : x.Pair.CompareTo(y.Pair);
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    public static Result Train(IReadOnlyList<(byte[] Bytes, long Count)> words, int maxTokens, long minPairCount)
    {
        var tokens = new List<string>(maxTokens);
        var ids = new Dictionary<string, int>();
        for (int b = 0; b < 256; b++)
        {
            tokens.Add(ByteLevelAlphabet.ByteToChar[b].ToString());
            ids[tokens[b]] = b;
        }

        var symbols = new List<int>[words.Count];
        var pairCounts = new Dictionary<long, long>();
        var wordsWithPair = new Dictionary<long, HashSet<int>>();
        for (int w = 0; w < words.Count; w++)
        {
            var (bytes, count) = words[w];
            symbols[w] = new List<int>(bytes.Length);
            foreach (var b in bytes) symbols[w].Add(b);
            for (int i = 0; i + 1 < bytes.Length; i++)
            {
                long key = Key(bytes[i], bytes[i + 1]);
                pairCounts[key] = pairCounts.GetValueOrDefault(key) + count;
                AddWord(wordsWithPair, key, w);
            }
        }

        var heap = new PriorityQueue<long, (long, long)>(PairOrder.Instance);
        foreach (var (key, count) in pairCounts) heap.Enqueue(key, (count, key));

        var merges = new List<(int, int, int)>();
        var deltas = new Dictionary<long, long>();
        while (tokens.Count < maxTokens && heap.TryDequeue(out long pair, out var queued))
        {
            long actual = pairCounts.GetValueOrDefault(pair);
            if (actual != queued.Item1)
            {
                // Stale entry: counts of old pairs only ever fall, so re-queue at the true count.
                if (actual > 0) heap.Enqueue(pair, (actual, pair));
                continue;
            }
            if (actual < minPairCount) break;

            int left = (int)(pair >> 32), right = (int)pair;
            string merged = tokens[left] + tokens[right];
            // Two different pairs can spell the same string ("a"+"bc", "ab"+"c"): one token for both,
            // as HF does, so the vocabulary never holds a string twice.
            if (!ids.TryGetValue(merged, out int mergedId))
            {
                mergedId = tokens.Count;
                tokens.Add(merged);
                ids[merged] = mergedId;
            }
            merges.Add((left, right, mergedId));

            if (!wordsWithPair.Remove(pair, out var affected)) continue;
            deltas.Clear();
            foreach (int w in affected)
            {
                var word = symbols[w];
                if (!Contains(word, left, right)) continue; // the set is never pruned, only grown
                long count = words[w].Count;
                for (int i = 0; i + 1 < word.Count; i++) Add(deltas, Key(word[i], word[i + 1]), -count);
                MergeInPlace(word, left, right, mergedId);
                for (int i = 0; i + 1 < word.Count; i++)
                {
                    long key = Key(word[i], word[i + 1]);
                    Add(deltas, key, count);
                    if (word[i] == mergedId || word[i + 1] == mergedId) AddWord(wordsWithPair, key, w);
                }
            }
            foreach (var (key, delta) in deltas)
            {
                if (delta == 0) continue;
                long now = pairCounts.GetValueOrDefault(key) + delta;
                if (now <= 0) pairCounts.Remove(key);
                else pairCounts[key] = now;
                if (delta > 0) heap.Enqueue(key, (now, key));
            }
        }
        return new Result(tokens, merges);
    }

    private static void AddWord(Dictionary<long, HashSet<int>> index, long key, int word)
    {
        if (!index.TryGetValue(key, out var set)) index[key] = set = [];
        set.Add(word);
    }

    private static void Add(Dictionary<long, long> deltas, long key, long delta) =>
        deltas[key] = deltas.GetValueOrDefault(key) + delta;

    private static bool Contains(List<int> word, int left, int right)
    {
        for (int i = 0; i + 1 < word.Count; i++)
            if (word[i] == left && word[i + 1] == right) return true;
        return false;
    }

    /// <summary>Leftmost, non-overlapping: "a a a" merged on (a, a) gives "aa a".</summary>
    private static void MergeInPlace(List<int> word, int left, int right, int merged)
    {
        int read = 0, write = 0, n = word.Count;
        while (read < n)
        {
            if (read + 1 < n && word[read] == left && word[read + 1] == right)
            {
                word[write++] = merged;
                read += 2;
            }
            else word[write++] = word[read++];
        }
        word.RemoveRange(write, n - write);
    }
}
