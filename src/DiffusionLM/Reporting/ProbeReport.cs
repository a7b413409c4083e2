using System.Globalization;
using System.Text;
using System.Text.Json;
using DiffusionLM.Analysis.Probe;
using DiffusionLM.IO;

namespace DiffusionLM.Reporting;

/// <summary>
/// Writes a probe run into a folder, atomically (the folder is either the previous one or the complete
/// new one): probe.json (aggregate and per-prompt numbers), probe.csv (one row per masked position:
/// the aggregates), probe_prompts.csv (one row per prompt and position), summary.md (numbers by
/// distance band) and the figures.
/// </summary>
public static class ProbeReport
{
    public const string JsonFile = "probe.json", CsvFile = "probe.csv", PromptsCsvFile = "probe_prompts.csv", SummaryFile = "summary.md";

    /// <summary>Description of every measure, written into probe.json so the file explains itself.</summary>
    public static readonly IReadOnlyDictionary<string, string> Definitions = new Dictionary<string, string>
    {
        ["position"] = "masked position i = 1..N, the distance from the end of the prompt",
        ["entropy"] = "H(p(x_i | prompt, masks)) in nats",
        ["kl_unigram"] = "KL(p(x_i | prompt, masks) || q) in nats, q the corpus unigram of unigram.json with add-1/2 smoothing over the vocabulary",
        ["kl_unigram_no_eos"] = "the same KL with p and q both renormalised without eos (NaN/null where p is all eos): is the non-eos part unigram-like?",
        ["structural_share"] = "share of prompts whose top-1 token is structural: eos, a token of only punctuation/symbols/whitespace, or one of the most frequent 1% of tokens by the unigram",
        ["prompt_information"] = "KL(p(x_i | prompt, masks) || p(x_i | masks only)) in nats, a pointwise estimate of I(x_i; prompt); masks only = N masks and no prompt, mask i compared with mask i",
        ["eos_mass"] = "p(x_i = eos | prompt, masks)",
        ["mutual_information"] = "I(x_i; prompt) in nats for a prompt drawn uniformly from the probed set, under the model: H(mean over prompts of p) - mean over prompts of H(p); a number per position (no interval)",
        ["mixture_kl_unigram"] = "KL(mean over prompts of p(x_i | prompt, masks) || q): does the average prediction at distance i approach the corpus unigram?",
        ["content_mass"] = "probability mass on tokens that are not structural (the structural ones as in structural_share): content in the distribution rather than in the top-1",
        ["intervals"] = "95% over prompts: Student-t interval of the mean; structural_share: Wilson score interval",
    };

    public static void Write(string outDir, ProbeResult result, ProbeRunInfo info, int figurePrompt = 0)
    {
        AtomicDirectory.Write(outDir, tmp =>
        {
            File.WriteAllText(Path.Combine(tmp, JsonFile), Json(result, info));
            File.WriteAllText(Path.Combine(tmp, CsvFile), AggregateCsv(result));
            File.WriteAllText(Path.Combine(tmp, PromptsCsvFile), PromptsCsv(result));
            File.WriteAllText(Path.Combine(tmp, SummaryFile),
                $"# Probe of {info.Model} on {info.PromptsFile}: {result.Prompts.Count} prompts, {result.Options.Masks} masks\n\n" +
                TruncationLine(result) +
                ProbeBand.Markdown(ProbeBand.Of(result)));
            ProbeFigures.WriteAll(tmp, result, figurePrompt);
        });
    }

    public static string Json(ProbeResult r, ProbeRunInfo info)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            w.WriteString("model", info.Model);
            w.WriteString("prompts_file", info.PromptsFile);
            w.WriteNumber("prompt_count", r.Prompts.Count);
            w.WriteNumber("masks", r.Options.Masks);
            w.WriteNumber("top_k", r.Options.TopK);
            w.WriteBoolean("truncate_prompts", r.Options.TruncatePrompts);
            w.WriteNumber("truncated_prompts", r.Prompts.Count(p => p.TruncatedTokens > 0));
            w.WriteNumber("truncated_tokens", r.Prompts.Sum(p => (long)p.TruncatedTokens));
            if (r.ChatTemplate is null) w.WriteNull("chat_template"); else w.WriteString("chat_template", r.ChatTemplate);
            w.WriteNumber("seconds", r.Seconds);
            w.WriteStartObject("definitions");
            foreach (var (k, v) in Definitions) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteStartObject("unigram");
            w.WriteBoolean("available", r.HasUnigram);
            w.WriteString("smoothing", $"add-{UnigramReference.Pseudocount} over the vocabulary");
            w.WriteStartArray("frequent_tokens");
            foreach (var t in r.FrequentTokens) w.WriteStringValue(t);
            w.WriteEndArray();
            w.WriteEndObject();

            w.WriteStartObject("aggregate");
            Intervals(w, "entropy", r.Aggregate.Entropy);
            Intervals(w, "kl_unigram", r.Aggregate.KlUnigram);
            Intervals(w, "kl_unigram_no_eos", r.Aggregate.KlUnigramNoEos);
            Intervals(w, "structural_share", r.Aggregate.StructuralShare);
            Intervals(w, "content_mass", r.Aggregate.ContentMass);
            Intervals(w, "prompt_information", r.Aggregate.PromptInformation);
            Intervals(w, "eos_mass", r.Aggregate.EosMass);
            Numbers(w, "mutual_information", r.Aggregate.MutualInformation);
            Numbers(w, "mixture_kl_unigram", r.Aggregate.MixtureKlUnigram);
            w.WriteEndObject();

            w.WriteStartObject("masks_only");
            Numbers(w, "entropy", r.MasksOnly.Entropy);
            Numbers(w, "kl_unigram", r.MasksOnly.KlUnigram);
            Numbers(w, "eos_mass", r.MasksOnly.EosMass);
            TopArray(w, "top", r.MasksOnly.Top);
            w.WriteEndObject();

            w.WriteStartArray("prompts");
            for (int i = 0; i < r.Prompts.Count; i++)
            {
                var p = r.Prompts[i];
                w.WriteStartObject();
                w.WriteNumber("index", i);
                w.WriteString("id", p.Prompt.Id);
                w.WriteString("source", p.Prompt.Source);
                w.WriteString("text", p.Prompt.Text);
                w.WriteNumber("prompt_tokens", p.PromptTokens);
                w.WriteNumber("truncated_tokens", p.TruncatedTokens);
                Numbers(w, "entropy", p.Entropy);
                Numbers(w, "kl_unigram", p.KlUnigram);
                Numbers(w, "kl_unigram_no_eos", p.KlUnigramNoEos);
                Numbers(w, "prompt_information", p.PromptInformation);
                Numbers(w, "eos_mass", p.EosMass);
                Numbers(w, "content_mass", p.ContentMass);
                w.WriteStartArray("top1_structural");
                foreach (var b in p.Top1Structural) w.WriteBooleanValue(b);
                w.WriteEndArray();
                TopArray(w, "top", p.Top);
                w.WriteEndObject();
            }
            w.WriteEndArray();

            if (r.Stepwise is { } s)
            {
                w.WriteStartObject("stepwise");
                w.WriteString("sampler", s.Options.Sampler);
                w.WriteNumber("steps", s.Options.Steps);
                w.WriteNumber("block_length", s.Options.BlockLength ?? r.Options.Masks);
                w.WriteString("remasking", s.Options.Remasking);
                w.WriteNumber("temperature", s.Options.Temperature);
                w.WriteNumber("seed", s.Options.Seed);
                w.WriteString("rows", "entropy[j][i]: position i after j denoising steps (j = 0 is the single pass), over the prompts where it is still masked");
                w.WriteStartArray("entropy");
                foreach (var row in s.MeanEntropy) { w.WriteStartArray(); foreach (var v in row) Interval(w, v); w.WriteEndArray(); }
                w.WriteEndArray();
                w.WriteStartArray("masked_share");
                foreach (var row in s.MaskedShare) { w.WriteStartArray(); foreach (var v in row) Number(w, v); w.WriteEndArray(); }
                w.WriteEndArray();
                w.WriteStartArray("completions");
                foreach (var c in s.Completions) w.WriteStringValue(c);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(stream.ToArray());
    }

    static void Number(Utf8JsonWriter w, double v) { if (double.IsFinite(v)) w.WriteNumberValue(Math.Round(v, 6)); else w.WriteNullValue(); }

    static void Numbers(Utf8JsonWriter w, string name, double[]? values)
    {
        if (values is null) { w.WriteNull(name); return; }
        w.WriteStartArray(name);
        foreach (var v in values) Number(w, v);
        w.WriteEndArray();
    }

    static void Interval(Utf8JsonWriter w, Interval v)
    {
        w.WriteStartObject();
        w.WritePropertyName("mean"); Number(w, v.Mean);
        w.WritePropertyName("ci_low"); Number(w, v.Low ?? double.NaN);
        w.WritePropertyName("ci_high"); Number(w, v.High ?? double.NaN);
        w.WriteNumber("n", v.N);
        w.WriteEndObject();
    }

    static void Intervals(Utf8JsonWriter w, string name, Interval[]? values)
    {
        if (values is null) { w.WriteNull(name); return; }
        w.WriteStartArray(name);
        foreach (var v in values) Interval(w, v);
        w.WriteEndArray();
    }

    static void TopArray(Utf8JsonWriter w, string name, TokenProbability[][] top)
    {
        w.WriteStartArray(name);
        foreach (var position in top)
        {
            w.WriteStartArray();
            foreach (var t in position)
            {
                w.WriteStartObject();
                w.WriteNumber("id", t.Id);
                w.WriteString("text", t.Text);
                w.WritePropertyName("p"); Number(w, t.Probability);
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndArray();
    }

    static string F(double v) => double.IsFinite(v) ? v.ToString("G6", CultureInfo.InvariantCulture) : "";
    static string F(double? v) => v is null ? "" : F(v.Value);

    /// <summary>How many prompts lost their first tokens to fit prompt + N masks in the context (always stated).</summary>
    public static string TruncationLine(ProbeResult r)
    {
        var cut = r.Prompts.Where(p => p.TruncatedTokens > 0).ToList();
        return cut.Count == 0
            ? "No prompt was cut: every one fits the context with its masks.\n\n"
            : $"{cut.Count} of {r.Prompts.Count} prompts were cut from the left to fit the context with {r.Options.Masks} masks " +
              $"({cut.Sum(p => (long)p.TruncatedTokens)} tokens dropped in all, at most {cut.Max(p => p.TruncatedTokens)} from one; their last tokens, next to the masks, are kept).\n\n";
    }

    /// <summary>RFC 4180 field: quoted when it holds a comma, quote or line break.</summary>
    public static string CsvField(string s) =>
        s.IndexOfAny([',', '"', '\n', '\r']) < 0 ? s : "\"" + s.Replace("\"", "\"\"") + "\"";

    public static string AggregateCsv(ProbeResult r)
    {
        var sb = new StringBuilder();
        var a = r.Aggregate;
        var columns = new (string Name, Interval[]? Values)[]
        {
            ("entropy", a.Entropy), ("kl_unigram", a.KlUnigram), ("kl_unigram_no_eos", a.KlUnigramNoEos),
            ("structural_share", a.StructuralShare), ("content_mass", a.ContentMass), ("prompt_information", a.PromptInformation), ("eos_mass", a.EosMass),
        };
        sb.Append("position");
        foreach (var (name, _) in columns) sb.Append($",{name},{name}_ci_low,{name}_ci_high");
        sb.Append(",mutual_information,mixture_kl_unigram,masks_only_entropy,masks_only_top1\n");
        for (int i = 0; i < r.Options.Masks; i++)
        {
            sb.Append(i + 1);
            foreach (var (_, values) in columns)
                sb.Append(values is null ? ",,," : $",{F(values[i].Mean)},{F(values[i].Low)},{F(values[i].High)}");
            sb.Append(',').Append(F(a.MutualInformation[i])).Append(',').Append(F(a.MixtureKlUnigram?[i]));
            sb.Append(',').Append(F(r.MasksOnly.Entropy[i])).Append(',').Append(CsvField(r.MasksOnly.Top[i][0].Text)).Append('\n');
        }
        return sb.ToString();
    }

    public static string PromptsCsv(ProbeResult r)
    {
        var sb = new StringBuilder("prompt_index,prompt_id,position,entropy,kl_unigram,kl_unigram_no_eos,prompt_information,eos_mass,top1_structural,content_mass");
        for (int j = 0; j < r.Options.TopK; j++) sb.Append($",top{j + 1}_id,top{j + 1}_text,top{j + 1}_p");
        sb.Append('\n');
        for (int p = 0; p < r.Prompts.Count; p++)
        {
            var x = r.Prompts[p];
            for (int i = 0; i < r.Options.Masks; i++)
            {
                sb.Append($"{p},{CsvField(x.Prompt.Id)},{i + 1},{F(x.Entropy[i])},{F(x.KlUnigram?[i])},{F(x.KlUnigramNoEos?[i])},{F(x.PromptInformation[i])},{F(x.EosMass[i])},{(x.Top1Structural[i] ? 1 : 0)},{F(x.ContentMass[i])}");
                foreach (var t in x.Top[i]) sb.Append($",{t.Id},{CsvField(t.Text)},{F(t.Probability)}");
                sb.Append('\n');
            }
        }
        return sb.ToString();
    }
}

/// <summary>Where a probe run came from, for the report.</summary>
public sealed record ProbeRunInfo(string Model, string PromptsFile);
