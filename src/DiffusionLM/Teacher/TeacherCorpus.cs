using System.IO.Compression;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using DiffusionLM.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Teacher;

/// <summary>One sampled story: its text, its length in sampled tokens, and whether the teacher ended it (with &lt;s&gt;) before the cap.</summary>
public sealed record Story(string Text, int Tokens, bool Ended);

/// <param name="Stories">how many stories.</param>
/// <param name="Seed">story i draws its coins from a generator seeded by (Seed, i) alone, so the corpus
/// does not depend on the batch size (up to the float rounding of batched matmuls).</param>
/// <param name="BatchSize">stories decoded together.</param>
/// <param name="MaxTokens">cap on a story's tokens (the teacher's context minus &lt;s&gt;: 511 for stories260K).</param>
public sealed record TeacherCorpusOptions(int Stories, long Seed, int BatchSize = 256, int MaxTokens = 511, double Temperature = 1.0);

/// <summary>
/// A corpus sampled from a causal teacher: every story starts from &lt;s&gt; and runs until the teacher
/// writes the next &lt;s&gt; (llama2.c's story delimiter, where run.c stops) or the cap. The file is JSON
/// Lines, one {"text", "tokens", "ended"} per story, gzip-compressed when the name ends in .gz.
/// </summary>
public static class TeacherCorpus
{
    /// <summary>Generator stream of the story coins (see <see cref="BatchSampler.StepGenerator"/>).</summary>
    const long CoinStream = 31;

    public static List<Story> Sample(LladaModel teacher, ITokenizer tokenizer, TeacherCorpusOptions o, Action<int>? storiesDone = null)
    {
        if (o.Stories <= 0) throw new DlmException($"--num-samples must be positive (got {o.Stories})");
        if (o.BatchSize <= 0) throw new DlmException($"--batch-size must be positive (got {o.BatchSize})");
        if (o.MaxTokens <= 0 || o.MaxTokens + 1 > teacher.Config.MaxSequenceLength)
            throw new DlmException($"--max-tokens must be in 1..{teacher.Config.MaxSequenceLength - 1} (the teacher's context minus <s>), got {o.MaxTokens}");
        int bos = teacher.Config.BosTokenId;
        var sampler = new AutoregressiveSampler(new AutoregressiveOptions(o.MaxTokens, o.Temperature, StopToken: bos, RecordTrace: false));
        var stories = new List<Story>(o.Stories);
        for (int start = 0; start < o.Stories; start += o.BatchSize)
        {
            int n = Math.Min(o.BatchSize, o.Stories - start);
            using var scope = NewDisposeScope();
            var coins = new Tensor[n];
            for (int i = 0; i < n; i++)
            {
                using var g = BatchSampler.StepGenerator(o.Seed, start + i, CoinStream);
                coins[i] = rand(new long[] { o.MaxTokens }, dtype: ScalarType.Float64, generator: g);
            }
            var prompt = full(new long[] { n, 1 }, bos, dtype: ScalarType.Int64);
            var result = sampler.GenerateWithCoins(teacher, prompt, stack(coins));
            foreach (var row in result.Completions)
            {
                int end = Array.IndexOf(row, (long)bos);
                var ids = (end < 0 ? row : row[..end]).Select(t => (int)t).ToArray();
                stories.Add(new Story(tokenizer.Decode(ids), ids.Length, end >= 0));
            }
            storiesDone?.Invoke(stories.Count);
        }
        return stories;
    }

    static readonly JsonSerializerOptions Json = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    sealed record Line(string text, int tokens, bool ended);

    /// <summary>Writes the stories atomically; deterministic bytes for the same stories (gzip with no timestamp).</summary>
    public static void Write(string path, IReadOnlyList<Story> stories)
    {
        AtomicFile.Write(path, stream =>
        {
            using var outer = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase)
                ? new GZipStream(stream, CompressionLevel.SmallestSize, leaveOpen: true)
                : (Stream)new NonClosing(stream);
            using var w = new StreamWriter(outer, new UTF8Encoding(false)) { NewLine = "\n" };
            foreach (var s in stories) w.WriteLine(JsonSerializer.Serialize(new Line(s.Text, s.Tokens, s.Ended), Json));
        });
    }

    public static List<Story> Read(string path)
    {
        if (!File.Exists(path)) throw new DlmException($"{path}: corpus file not found");
        using var file = File.OpenRead(path);
        using var input = path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase) ? new GZipStream(file, CompressionMode.Decompress) : (Stream)file;
        using var r = new StreamReader(input, Encoding.UTF8);
        var stories = new List<Story>();
        int lineNo = 0;
        for (string? line; (line = r.ReadLine()) is not null;)
        {
            lineNo++;
            if (line.Length == 0) continue;
            Line? l;
            try { l = JsonSerializer.Deserialize<Line>(line); }
            catch (JsonException e) { throw new DlmException($"{path}: line {lineNo} is not a JSON object {{\"text\": ...}} ({e.Message})"); }
            if (l?.text is null) throw new DlmException($"{path}: line {lineNo} has no \"text\"");
            stories.Add(new Story(l.text, l.tokens, l.ended));
        }
        return stories;
    }

    /// <summary>Texts of a samples file: JSON Lines with "text" (a corpus, or generated samples), or plain text with one sample per line.</summary>
    public static List<string> ReadTexts(string path)
    {
        if (!File.Exists(path)) throw new DlmException($"{path}: samples file not found");
        bool jsonl = path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".jsonl.gz", StringComparison.OrdinalIgnoreCase);
        if (jsonl) return Read(path).Select(s => s.Text).ToList();
        return File.ReadAllLines(path).Where(l => l.Length > 0).ToList();
    }

    /// <summary>Lets a writer be disposed without closing the atomic-file stream underneath (it still has to fsync).</summary>
    sealed class NonClosing(Stream inner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
    }
}
