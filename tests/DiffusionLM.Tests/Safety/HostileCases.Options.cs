namespace DiffusionLM.Tests.Safety;

/// <summary>
/// One hostile command line: its arguments (built in a <see cref="CaseContext"/>), and what must be named in the one
/// error line (null: the input is legal and the verb must succeed).
/// </summary>
public sealed record HostileCase(string Name, Func<CaseContext, string[]> Args, string? Names);

/// <summary>
/// The hostile-input matrix (issue 12's internal errors, and our own): impossible sampler settings, samplers of the
/// wrong family, options on the wrong verb. The corrupt files are in HostileCases.Files.cs.
/// </summary>
public static partial class HostileCases
{
    public static readonly IReadOnlyList<HostileCase> All = [.. SamplerCases(), .. ProbeCases(), .. ParseCases(), .. VerbOptionCases(), .. FileCases(), .. ImportCases(), .. TrainCases(), .. BenchCases()];

    /// <summary>The arguments with the defaults added for every option that <paramref name="extra"/> does not give itself.</summary>
    static string[] With(string[] head, string[] defaults, string[] extra)
    {
        var given = extra.Where(a => a.StartsWith("--")).ToHashSet();
        var kept = new List<string>();
        for (int i = 0; i < defaults.Length; i += 2)
            if (!given.Contains(defaults[i])) kept.AddRange([defaults[i], defaults[i + 1]]);
        return [.. head, .. kept, .. extra];
    }

    static string[] Gen(string model, params string[] extra) =>
        With(["generate", "--model", model], ["--prompt", "the cat", "--gen-length", "4", "--steps", "4"], extra);

    static HostileCase G(string name, string names, params string[] extra) => new(name, c => Gen(c.Masked, extra), names);
    static HostileCase GOk(string name, params string[] extra) => new(name, c => Gen(c.Masked, extra), null);
    static HostileCase GOn(string name, Func<HostileInputFixture, string> model, string names, params string[] extra) => new(name, c => Gen(model(c.Models), extra), names);

    static IEnumerable<HostileCase> SamplerCases() =>
    [
        G("llada steps 0", "--steps", "--steps", "0"),
        G("llada steps negative", "--steps", "--steps", "-1"),
        G("gen-length 0", "--gen-length", "--gen-length", "0"),
        G("block-length 0", "--block-length", "--block-length", "0"),
        G("block-length not dividing gen-length", "--block-length", "--gen-length", "4", "--block-length", "3"),
        G("steps not divisible by blocks", "--steps", "--gen-length", "8", "--block-length", "4", "--steps", "3"),
        G("temperature negative", "--temperature", "--temperature", "-1"),
        G("matmul mode unknown", "--matmul", "--matmul", "fp8"),
        GOk("matmul bf16 generates", "--matmul", "bf16"),
        G("temperature infinite", "--temperature", "--temperature", "Infinity"),
        G("cfg negative", "--cfg", "--cfg", "-1"),
        G("cfg NaN", "--cfg", "--cfg", "NaN"),
        G("gen-length overflowing the context sum", "--gen-length", "--gen-length", "2147483647", "--steps", "1"),
        G("fast_dllm threshold negative", "--threshold", "--sampler", "fast_dllm_threshold", "--threshold", "-0.5"),
        G("fast_dllm threshold NaN", "--threshold", "--sampler", "fast_dllm_threshold", "--threshold", "NaN"),
        G("fast_dllm factor 0", "--factor", "--sampler", "fast_dllm_factor", "--factor", "0"),
        G("fast_dllm factor negative", "--factor", "--sampler", "fast_dllm_factor", "--factor", "-2"),
        G("eb gamma negative", "--gamma", "--sampler", "eb", "--gamma", "-1"),
        G("eb gamma NaN", "--gamma", "--sampler", "eb", "--gamma", "NaN"),
        G("eb block-length not dividing", "--block-length", "--sampler", "eb", "--gen-length", "4", "--block-length", "3"),
        G("dream top-k 0", "--top-k", "--sampler", "dream", "--top-k", "0"),
        GOk("dream top-k beyond the vocabulary (clamped, as Dream does)", "--sampler", "dream", "--top-k", "100000", "--temperature", "1"),
        G("dream top-p 0", "--top-p", "--sampler", "dream", "--top-p", "0"),
        G("dream top-p above 1", "--top-p", "--sampler", "dream", "--top-p", "1.5"),
        G("dream alg unknown", "--alg", "--sampler", "dream", "--alg", "bogus"),
        G("dream alg-temp negative", "--alg-temp", "--sampler", "dream", "--alg-temp", "-1"),
        G("dream eps 1", "--eps", "--sampler", "dream", "--eps", "1"),
        G("dream steps 0", "--steps", "--sampler", "dream", "--steps", "0"),
        G("mdlm eps 0", "--eps", "--sampler", "mdlm", "--eps", "0"),
        G("mdlm top-p NaN", "--top-p", "--sampler", "mdlm", "--top-p", "NaN"),
        G("mdlm steps 0", "--steps", "--sampler", "mdlm", "--steps", "0"),
        G("remdm strategy unknown", "--remdm-strategy", "--sampler", "remdm", "--remdm-strategy", "bogus"),
        G("remdm eta above 1", "--eta", "--sampler", "remdm", "--eta", "2"),
        G("remdm loop t-on below t-off", "--t-on", "--sampler", "remdm_loop", "--t-on", "0.1", "--t-off", "0.5"),
        G("remdm loop alpha-on above 1", "--alpha-on", "--sampler", "remdm_loop", "--alpha-on", "1.5"),
        G("remdm steps 0", "--steps", "--sampler", "remdm_cap", "--steps", "0"),
        G("dependency_aware candidates negative", "--candidates", "--sampler", "dependency_aware", "--candidates", "-1"),
        G("dependency_aware probes negative", "--probes", "--sampler", "dependency_aware", "--probes", "-1"),
        G("dependency_aware candidates above 64", "--candidates", "--sampler", "dependency_aware", "--candidates", "100"),
        G("dependency_aware probes above 256", "--probes", "--sampler", "dependency_aware", "--probes", "1000"),
        G("steps a billion (days of calls that commit nothing)", "--steps", "--gen-length", "16", "--steps", "1000000000"),
        G("mdlm eps above 1", "--eps", "--sampler", "mdlm", "--eps", "1.5"),
        G("dependency_aware anchors negative", "--anchors-per-step", "--sampler", "dependency_aware", "--anchors-per-step", "-1"),
        G("dependency_aware threshold above 1", "--threshold", "--sampler", "dependency_aware", "--threshold", "2"),
        G("uniform sampler on a masked model", "uniform_ancestral", "--sampler", "uniform_ancestral"),
        G("uniform_eb on a masked model", "uniform_eb", "--sampler", "uniform_eb"),
        G("gaussian sampler on a masked model", "gaussian_ddpm", "--sampler", "gaussian_ddpm"),
        G("autoregressive on a masked model", "autoregressive", "--sampler", "autoregressive"),
        G("unknown sampler", "bogus", "--sampler", "bogus"),
        G("cache on a sampler without one", "--cache", "--sampler", "dream", "--cache", "prefix"),
        G("cache mode unknown", "--cache", "--cache", "bogus"),
        G("cache refresh negative", "--cache-refresh", "--cache", "dual", "--cache-refresh", "-1"),
        G("cache refresh without a cache", "--cache-refresh", "--cache-refresh", "8"),
        G("cache refresh on a sampler without a cache", "--cache-refresh", "--sampler", "dream", "--cache-refresh", "8"),
        G("remasking unknown", "--remasking", "--remasking", "bogus"),
        G("eot-id negative", "--eot-id", "--confidence-eos-eot-inf", "--eot-id", "-5"),
        G("eot-id beyond the vocabulary", "--eot-id", "--confidence-eos-eot-inf", "--eot-id", "100000"),
        GOn("masked sampler on a uniform model", m => m.Uniform, "llada", "--sampler", "llada"),
        GOn("uniform_ancestral steps 0", m => m.Uniform, "--steps", "--sampler", "uniform_ancestral", "--steps", "0"),
        GOn("uniform_eb gamma negative", m => m.Uniform, "--gamma", "--sampler", "uniform_eb", "--gamma", "-1"),
        GOn("gaussian sampler on a uniform model", m => m.Uniform, "gaussian_ddim", "--sampler", "gaussian_ddim"),
        GOn("diffusion sampler on a causal model", m => m.Causal, "dream", "--sampler", "dream"),
        GOn("causal model temperature negative", m => m.Causal, "--temperature", "--temperature", "-1"),
        GOn("causal model gen-length beyond its context", m => m.Causal, "--gen-length", "--gen-length", "100000"),
        GOn("cfg on a uniform model", m => m.Uniform, "--cfg", "--cfg", "2"),
    ];

    static string[] Probe(CaseContext c, string model, params string[] extra) =>
        With(["probe", "--model", model], ["--prompts", c.Write("p.txt", "the cat sat\na dog ran\n"), "--masks", "4", "--top-tokens", "2", "--out", c.Path("probe")], extra);

    static HostileCase P(string name, string names, params string[] extra) => new(name, c => Probe(c, c.Masked, extra), names);

    static IEnumerable<HostileCase> ProbeCases() =>
    [
        P("probe stepwise with a uniform sampler", "uniform_ancestral", "--steps", "4", "--sampler", "uniform_ancestral"),
        P("probe stepwise with a gaussian sampler", "gaussian_ddpm", "--steps", "4", "--sampler", "gaussian_ddpm"),
        P("probe stepwise with an unknown sampler", "bogus", "--steps", "4", "--sampler", "bogus"),
        P("probe steps 0", "--steps", "--steps", "0"),
        P("probe steps not divisible by blocks", "--steps", "--steps", "3", "--block-length", "2"),
        P("probe block-length not dividing masks", "--block-length", "--steps", "4", "--block-length", "3"),
        P("probe temperature NaN", "--temperature", "--steps", "4", "--temperature", "NaN"),
        P("probe remasking unknown", "--remasking", "--steps", "4", "--remasking", "bogus"),
        P("probe masks 0", "--masks", "--masks", "0"),
        P("probe masks beyond the context", "--masks", "--masks", "100000"),
        P("probe top-tokens 0", "--top-tokens", "--top-tokens", "0"),
        P("probe batch-size 0", "--batch-size", "--batch-size", "0"),
        P("probe limit 0", "--limit", "--limit", "0"),
        P("probe limit negative", "--limit", "--limit", "-3"),
        P("probe figure-prompt out of range", "--figure-prompt", "--figure-prompt", "5"),
        new("probe on a uniform model", c => Probe(c, c.Models.Uniform), "uniform"),
        new("probe on a causal model", c => Probe(c, c.Models.Causal, "--no-unigram"), "causal"),
    ];

    static IEnumerable<HostileCase> ParseCases() =>
    [
        new("typo in an option", c => ["generate", "--prompt", "hi", "--gen-lenght", "4"], "--gen-lenght"),
        new("unknown verb", c => ["frobnicate"], "frobnicate"),
        new("sampler option on inspect", c => ["inspect", "--model", c.Masked, "--sampler", "llada"], "--sampler"),
        new("prompt on probe", c => ["probe", "--model", c.Masked, "--prompt", "hi"], "--prompt"),
        new("sampler on train", c => ["train", "--data", c.Corpus, "--out", c.Path("t"), "--sampler", "llada"], "--sampler"),
        new("steps on eval", c => ["eval", "--model", c.Masked, "--data", c.Corpus, "--steps", "4"], "--steps"),
        new("masks on score", c => ["score", "--data", c.Corpus, "--masks", "3"], "--masks"),
        new("sampler on export", c => ["export", "hf", "--model", c.Masked, "--out", c.Path("e"), "--sampler", "x"], "--sampler"),
        new("option without its value", c => ["generate", "--model", c.Masked, "--prompt", "hi", "--steps"], "--steps"),
        new("integer option given text", c => ["generate", "--model", c.Masked, "--prompt", "hi", "--steps", "abc"], "abc"),
        new("integer option beyond int32", c => ["generate", "--model", c.Masked, "--prompt", "hi", "--steps", "99999999999"], "99999999999"),
        new("option given twice", c => ["generate", "--model", c.Masked, "--prompt", "hi", "--steps", "4", "--steps", "8"], "--steps"),
    ];

    static IEnumerable<HostileCase> VerbOptionCases() =>
    [
        new("inspect ids not numbers", c => ["inspect", "--model", c.Masked, "--ids", "abc"], "--ids"),
        new("inspect ids beyond the vocabulary", c => ["inspect", "--model", c.Masked, "--ids", "99999"], "--ids"),
        new("inspect ids negative", c => ["inspect", "--model", c.Masked, "--ids", "-1"], "--ids"),
        new("inspect ids empty list", c => ["inspect", "--model", c.Masked, "--ids", ",,,"], "--ids"),
        new("inspect ids longer than the context", c => ["inspect", "--model", c.Masked, "--ids", string.Join(",", Enumerable.Repeat("1", 1000))], "--ids"),
        new("eval mc 0", c => ["eval", "--model", c.Masked, "--data", c.Corpus, "--mc", "0", "--windows", "1"], "--mc"),
        new("eval batch 0", c => ["eval", "--model", c.Masked, "--data", c.Corpus, "--batch-size", "0", "--windows", "1"], "--batch-size"),
        new("eval mc not a multiple of batch", c => ["eval", "--model", c.Masked, "--data", c.Corpus, "--mc", "3", "--batch-size", "2", "--windows", "1"], "--mc"),
        new("eval windows 0", c => ["eval", "--model", c.Masked, "--data", c.Corpus, "--windows", "0"], "--windows"),
        new("eval windows negative", c => ["eval", "--model", c.Masked, "--data", c.Corpus, "--windows", "-2"], "--windows"),
        new("eval without data", c => ["eval", "--model", c.Masked], "--data"),
        new("eval on a causal model", c => ["eval", "--model", c.Models.Causal, "--data", c.Corpus, "--windows", "1", "--mc", "2", "--batch-size", "2"], "causal"),
        new("teacher-corpus num-samples 0", c => ["teacher-corpus", "--model", c.Models.Causal, "--num-samples", "0", "--out", c.Path("s.jsonl")], "--num-samples"),
        new("teacher-corpus num-samples negative", c => ["teacher-corpus", "--model", c.Models.Causal, "--num-samples", "-1", "--out", c.Path("s.jsonl")], "--num-samples"),
        new("teacher-corpus max-tokens negative", c => ["teacher-corpus", "--model", c.Models.Causal, "--num-samples", "1", "--max-tokens", "-1", "--out", c.Path("s.jsonl")], "--max-tokens"),
        new("teacher-corpus temperature negative", c => ["teacher-corpus", "--model", c.Models.Causal, "--num-samples", "1", "--temperature", "-1", "--out", c.Path("s.jsonl")], "--temperature"),
        new("teacher-corpus batch-size 0", c => ["teacher-corpus", "--model", c.Models.Causal, "--num-samples", "1", "--batch-size", "0", "--out", c.Path("s.jsonl")], "--batch-size"),
        new("teacher-corpus on a masked model", c => ["teacher-corpus", "--model", c.Masked, "--num-samples", "1", "--out", c.Path("s.jsonl")], "causal"),
        new("teacher-corpus out is a folder", c => ["teacher-corpus", "--model", c.Models.Causal, "--num-samples", "1", "--out", c.Path("")], "dlm-test-"),
        new("fuzz target unknown", c => ["fuzz", "--target", "bogus", "--inputs", "1"], "bogus"),
        new("fuzz inputs 0", c => ["fuzz", "--inputs", "0"], "--inputs"),
        new("fuzz corpus missing", c => ["fuzz", "--target", "config", "--inputs", "1", "--corpus", c.Path("nowhere")], "nowhere"),
        new("trap num-samples 0", c => ["trap", "--out", c.Path("trap"), "--quick", "--num-samples", "0"], "--num-samples"),
        new("trap language unknown", c => ["trap", "--out", c.Path("trap"), "--quick", "--language", "bogus"], "bogus"),
        new("trap sampler unknown", c => ["trap", "--out", c.Path("trap"), "--quick", "--samplers", "bogus"], "bogus"),
        new("trap train-steps 0", c => ["trap", "--out", c.Path("trap"), "--quick", "--train-steps", "0"], "--train-steps"),
        new("audit family unknown", c => ["audit", "--out", c.Path("audit"), "--quick", "--families", "bogus"], "bogus"),
        new("serve port out of range", c => ["serve", "--model", c.Masked, "--port", "70000"], "--port"),
        new("serve queue 0", c => ["serve", "--model", c.Masked, "--port", "0", "--queue", "0"], "--queue"),
        new("serve max-tokens 0", c => ["serve", "--model", c.Masked, "--port", "0", "--max-tokens", "0"], "--max-tokens"),
        new("export hf dtype unknown", c => ["export", "hf", "--model", c.Masked, "--out", c.Path("e"), "--dtype", "f8"], "--dtype"),
        new("export gguf dtype unknown", c => ["export", "gguf", "--model", c.Masked, "--out", c.Path("e.gguf"), "--dtype", "q9"], "--dtype"),
        new("generate model folder missing", c => ["generate", "--model", c.Path("nowhere"), "--prompt", "hi"], "nowhere"),
        new("generate model is a file", c => ["generate", "--model", c.Corpus, "--prompt", "hi"], "corpus.txt"),
        new("generate num-samples without prompts file", c => Gen(c.Masked, "--num-samples", "3"), "--num-samples"),
        new("generate prompt and prompts together", c => Gen(c.Masked, "--prompts", c.Write("p.txt", "hi\n")), "--prompts"),
    ];

    /// <summary>The bench verbs' options (issue 12's sweep): each refused before any model loads or trains.</summary>
    static HostileCase B(string name, string names, params string[] args) => new(name, c => args.Select(a => a == "{out}" ? c.Path("bench") : a).ToArray(), names);

    internal static string[] Quality(CaseContext c, params string[] extra) =>
        With(["bench", "quality", "--model", c.Masked, "--judge", c.Models.Causal],
            ["--prompts", c.Write("openings.txt", "Once upon a time\nThe dog ran\n"), "--corpus", c.Write("stories.jsonl", "{\"text\": \"Lily had a red ball.\"}\n{\"text\": \"Tom saw a big dog.\"}\n"),
             "--num-samples", "2", "--gen-length", "4", "--steps", "4", "--batch-size", "2", "--elbo-stories", "2", "--mc", "2", "--threads", "1", "--out", c.Path("quality")], extra);

    static IEnumerable<HostileCase> BenchCases() =>
    [
        B("bench repeats 0 (was silently 1)", "--repeats", "bench", "--repeats", "0"),
        B("bench llada8b seq-len negative (was an internal error)", "--seq-len", "bench", "llada8b", "--seq-len", "-1", "--layers", "1"),
        B("bench llada8b seq-len 0", "--seq-len", "bench", "llada8b", "--seq-len", "0", "--layers", "1"),
        B("bench llada8b seq-len beyond LLaDA's context", "--seq-len", "bench", "llada8b", "--seq-len", "5000", "--layers", "1"),
        B("bench wait-policy repeats 0", "--repeats", "bench", "wait-policy", "--repeats", "0"),
        B("bench wait-policy threads 0 (was a child's abort)", "--threads", "bench", "wait-policy", "--threads", "0"),
        B("bench wait-policy unknown policy", "--policies", "bench", "wait-policy", "--policies", "SPINNY"),
        B("bench wait-policy negative spin count", "--policies", "bench", "wait-policy", "--policies", "spin:-5"),
        B("bench wait-policy busy negative", "--busy", "bench", "wait-policy", "--busy", "-1"),
        B("bench teacher lr-scratch 0", "--lr-scratch", "bench", "teacher", "--lr-scratch", "0", "--out", "{out}"),
        // Finite weights, overflowing logits: the evaluation's logits check used to end the run without naming the option.
        B("bench teacher lr-scratch huge (trains, then diverges)", "--lr-scratch", "bench", "teacher", "--lr-scratch", "2147483648", "--train-steps", "1", "--batch-size", "2",
            "--gen-length", "8", "--num-samples", "2", "--elbo-windows", "2", "--mc", "2", "--steps", "8", "--threads", "1", "--out", "{out}"),
        B("bench teacher lr-finetune NaN", "--lr-finetune", "bench", "teacher", "--lr-finetune", "NaN", "--out", "{out}"),
        B("bench teacher train-steps 0", "--train-steps", "bench", "teacher", "--train-steps", "0", "--out", "{out}"),
        B("bench teacher mc 0", "--mc", "bench", "teacher", "--mc", "0", "--out", "{out}"),
        B("bench teacher elbo-windows negative", "--elbo-windows", "bench", "teacher", "--elbo-windows", "-1", "--out", "{out}"),
        B("bench teacher gen-length 0", "--gen-length", "bench", "teacher", "--gen-length", "0", "--out", "{out}"),
        B("bench teacher steps 0", "--steps", "bench", "teacher", "--steps", "0", "--out", "{out}"),
        B("bench teacher threads 0 (was silently 1)", "--threads", "bench", "teacher", "--threads", "0", "--out", "{out}"),
        B("bench teacher temperature 1e308 (was an internal error)", "--temperature", "bench", "teacher", "--temperature", "1e308", "--out", "{out}"),
        new("bench quality temperature 1e308 (was an internal error)", c => Quality(c, "--temperature", "1e308"), "--temperature"),
        new("bench quality mc 0", c => Quality(c, "--mc", "0"), "--mc"),
        // With --gen-length 4 and --steps 4: a block of 3 does not divide the continuation; 2 blocks of 2 share the 4 steps (2 each).
        new("bench quality block-length not dividing gen-length", c => Quality(c, "--block-length", "3"), "--block-length"),
        new("bench quality block-length 0", c => Quality(c, "--block-length", "0"), "--block-length"),
        new("bench quality 2 steps cannot be shared by 4 blocks", c => Quality(c, "--block-length", "1", "--steps", "2"), "--steps"),
        new("bench quality block-length 2 shares 4 steps over 2 blocks", c => Quality(c, "--block-length", "2"), null),
        new("bench quality elbo-stories negative", c => Quality(c, "--elbo-stories", "-1"), "--elbo-stories"),
        // The help promises "0: skip": no held-out figure, and no NaN in quality.json (it was an internal error).
        new("bench quality elbo-stories 0 skips the held-out ELBO", c => Quality(c, "--elbo-stories", "0"), null),
        B("bench generation temperature 1e308 (was an internal error)", "--temperature", "bench", "generation", "--temperature", "1e308", "--out", "{out}"),
        B("bench corruption hmm-steps 0", "--hmm-steps", "bench", "corruption", "--quick", "--hmm-steps", "0", "--out", "{out}"),
        B("bench corruption story-steps negative", "--story-steps", "bench", "corruption", "--quick", "--story-steps", "-1", "--out", "{out}"),
        B("bench corruption num-samples 1", "--num-samples", "bench", "corruption", "--quick", "--num-samples", "1", "--out", "{out}"),
        B("bench corruption threads 0 (was silently 1)", "--threads", "bench", "corruption", "--quick", "--threads", "0", "--out", "{out}"),
        B("bench peers repeats 0", "--repeats", "bench", "peers", "--repeats", "0", "--out", "{out}"),
        B("bench peers threads negative", "--threads", "bench", "peers", "--threads", "-1", "--out", "{out}"),
        B("bench peers threshold NaN", "--threshold", "bench", "peers", "--threshold", "NaN", "--out", "{out}"),
        B("bench peers bench-width not a multiple of 64", "--bench-width", "bench", "peers", "--bench-width", "100", "--out", "{out}"),
        B("bench peers block-length 0", "--block-length", "bench", "peers", "--block-length", "0", "--out", "{out}"),
        new("trap natural-num-samples 0 (was an internal error)", c => ["trap", "--out", c.Path("trap"), "--quick", "--natural-model", c.Masked, "--natural-num-samples", "0"], "--natural-num-samples"),
        new("trap natural-gen-length negative", c => ["trap", "--out", c.Path("trap"), "--quick", "--natural-model", c.Masked, "--natural-gen-length", "-1"], "--natural-gen-length"),
        G("temperature 1000 (the Gumbel noise leaves float64; generate printed nothing)", "--temperature", "--temperature", "1000"),
        P("probe temperature 1e308", "--temperature", "--steps", "4", "--temperature", "1e308"),
        T("train lr 1e308 (diverged after the last step: an error that named no option)", "--lr", "--lr", "1e308"),
        T("train ema 1 (an average that never moves)", "--ema", "--ema", "1"),
        T("train ema negative", "--ema", "--ema", "-0.5"),
    ];
}
