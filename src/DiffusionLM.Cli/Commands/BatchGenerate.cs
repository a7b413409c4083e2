using System.Text;
using System.Text.Json;
using DiffusionLM.IO;
using DiffusionLM.Serving;

namespace DiffusionLM.Cli.Commands;

/// <summary>
/// <c>dlm generate --prompts FILE</c>: every prompt of a file, <c>--num-samples</c> times each, generated
/// <c>--batch-size</c> rows at a time through one <see cref="GenerationSession"/>, written as JSON lines
/// (one object per sample, in prompt then sample order). A batch holds consecutive samples with the same
/// settings; each batch draws from its own generator, seeded from --seed and the batch's number, so the same
/// command writes the same file byte for byte (timings are left out unless --timings asks for them).
/// </summary>
public static class BatchGenerate
{
    /// <summary>A prompt of the file with its settings (the command line's, overridden by the row's own fields).</summary>
    public sealed record PromptRow(int Index, string Text, GenerationSettings Settings);

    public sealed record Options(string PromptsFile, int NumSamples, int BatchSize, string? Out, long Seed, bool Timings);

    public static int Run(GenerationSession session, GenerationSettings baseSettings, Options o)
    {
        if (o.NumSamples <= 0) throw new DlmException($"--num-samples must be positive (got {o.NumSamples})");
        if (o.BatchSize <= 0) throw new DlmException($"--batch-size must be positive (got {o.BatchSize})");
        if (session.Config.Causal)
            throw new DlmException("--prompts: a causal model is decoded one prompt at a time; run dlm generate --prompt for each");
        var rows = Read(o.PromptsFile, baseSettings);
        foreach (var row in rows) Check(session, row, o.PromptsFile);
        var items = rows.SelectMany(r => Enumerable.Range(0, o.NumSamples).Select(s => (Row: r, Sample: s))).ToArray();
        var batches = Batches(items, o.BatchSize);
        int total = items.Length;
        var clock = System.Diagnostics.Stopwatch.StartNew();

        void WriteAll(TextWriter w) => Terminal.ProgressView.Run("generate", total, report =>
        {
            int done = 0;
            for (int b = 0; b < batches.Count; b++)
            {
                var batch = batches[b];
                var settings = batch[0].Row.Settings;
                long seed = BatchSeed(o.Seed, b);
                var prompts = batch.Select(i => session.Encode(i.Row.Text, i.Row.Settings.Chat)).ToArray();
                var outputs = session.Generate(prompts, settings, seed);
                for (int k = 0; k < batch.Length; k++)
                    w.Write(Line(batch[k].Row, batch[k].Sample, outputs[k], settings, seed, b, o.Timings) + "\n");
                done += batch.Length;
                report(done, $"batch {b + 1}/{batches.Count}");
            }
        });

        if (o.Out is null) WriteAll(Io.Out);
        else
        {
            AtomicFile.Write(o.Out, s =>
            {
                using var w = new StreamWriter(s, new UTF8Encoding(false), 1 << 16, leaveOpen: true);
                WriteAll(w);
            });
        }
        double secs = clock.Elapsed.TotalSeconds;
        Io.Err.WriteLine($"{total} samples of {rows.Count} prompts in {batches.Count} batches: {secs:F1} s ({total / Math.Max(secs, 1e-9):F2} samples/s)" +
            (o.Out is null ? "" : $" -> {o.Out}"));
        return 0;
    }

    /// <summary>Seed of batch <paramref name="b"/>: --seed for the first, then mixed with the batch number
    /// (golden-ratio increments), so neighbouring batches do not share a stream.</summary>
    public static long BatchSeed(long seed, int b) => unchecked(seed + b * (long)0x9E3779B97F4A7C15);

    /// <summary>Consecutive items, at most <paramref name="size"/> per batch, a new batch wherever the settings change.</summary>
    static List<(PromptRow Row, int Sample)[]> Batches((PromptRow Row, int Sample)[] items, int size)
    {
        var batches = new List<(PromptRow, int)[]>();
        var current = new List<(PromptRow Row, int Sample)>();
        foreach (var item in items)
        {
            if (current.Count == size || (current.Count > 0 && current[0].Row.Settings != item.Row.Settings))
            {
                batches.Add(current.ToArray());
                current.Clear();
            }
            current.Add(item);
        }
        if (current.Count > 0) batches.Add(current.ToArray());
        return batches;
    }

    static string Line(PromptRow row, int sample, GenerationOutput output, GenerationSettings s, long seed, int batch, bool timings)
    {
        var settings = new Dictionary<string, object?>
        {
            ["sampler"] = output.Sampler, ["gen_length"] = s.GenLength, ["steps"] = s.StepsOrDefault, ["block_length"] = s.BlockLength ?? s.GenLength,
            ["temperature"] = s.Temperature, ["remasking"] = s.Remasking, ["threshold"] = s.Threshold, ["cfg"] = s.CfgScale,
            ["cache"] = s.Cache, ["cache_refresh"] = s.CacheRefreshOrDefault, ["chat"] = s.Chat, ["seed"] = seed, ["batch"] = batch,
        };
        var line = new Dictionary<string, object?>
        {
            ["prompt_index"] = row.Index, ["sample"] = sample, ["prompt"] = row.Text, ["text"] = output.Text,
            ["ids"] = output.Ids, ["nfe"] = output.Nfe, ["finish_reason"] = output.FinishReason,
        };
        if (timings) line["seconds"] = Math.Round(output.Seconds, 4);
        line["settings"] = settings;
        return JsonSerializer.Serialize(line);
    }

    static void Check(GenerationSession session, PromptRow row, string file)
    {
        try { row.Settings.Validate(session.Config); }
        catch (DlmException e) { throw new DlmException($"{file}: prompt {row.Index + 1}: {e.Message}"); }
        int len = session.Encode(row.Text, row.Settings.Chat).Length, context = session.Config.MaxSequenceLength;
        if (len + row.Settings.GenLength > context)
            throw new DlmException($"{file}: prompt {row.Index + 1} is {len} tokens and gen_length {row.Settings.GenLength}: {len + row.Settings.GenLength} in all, longer than the model's context of {context} tokens");
    }

    /// <summary>One prompt per line; or JSON lines ({"prompt": ..., optional settings}) when the file ends in .jsonl
    /// or its first line is an object. Blank lines are skipped.</summary>
    public static IReadOnlyList<PromptRow> Read(string path, GenerationSettings baseSettings)
    {
        if (!File.Exists(path)) throw new DlmException($"--prompts {path}: no such file");
        var lines = File.ReadAllLines(path);
        var nonBlank = lines.Select((l, n) => (Line: l, Number: n + 1)).Where(x => x.Line.Trim().Length > 0).ToArray();
        if (nonBlank.Length == 0) throw new DlmException($"--prompts {path}: the file holds no prompt");
        bool jsonl = path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase) || nonBlank[0].Line.TrimStart().StartsWith('{');
        var rows = new List<PromptRow>();
        foreach (var (line, number) in nonBlank)
        {
            if (!jsonl) { rows.Add(new PromptRow(rows.Count, line, baseSettings)); continue; }
            rows.Add(JsonRow(path, number, line, rows.Count, baseSettings));
        }
        return rows;
    }

    static readonly HashSet<string> RowFields = ["prompt", .. SettingsFields.Names];

    static PromptRow JsonRow(string path, int number, string line, int index, GenerationSettings baseSettings)
    {
        string where = $"{path}:{number}";
        JsonDocument doc;
        try { doc = JsonDocument.Parse(line); }
        catch (JsonException e) { throw new DlmException($"{where}: not valid JSON ({e.Message.Split('.')[0]})"); }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new DlmException($"{where}: expected a JSON object with a \"prompt\" field");
            foreach (var p in root.EnumerateObject())
                if (!RowFields.Contains(p.Name))
                    throw new DlmException($"{where}: unknown field \"{p.Name}\" (known: {string.Join(", ", RowFields)})");
            if (!root.TryGetProperty("prompt", out var prompt) || prompt.ValueKind != JsonValueKind.String)
                throw new DlmException($"{where}: \"prompt\" must be a string" + (root.TryGetProperty("prompt", out var bad) ? $" (got {SettingsFields.Describe(bad)})" : " (missing)"));
            try { return new PromptRow(index, prompt.GetString()!, SettingsFields.Read(root, baseSettings)); }
            catch (DlmException e) { throw new DlmException($"{where}: {e.Message}"); }
        }
    }
}
