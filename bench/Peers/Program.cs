using System.Diagnostics;
using System.Text.Json;
using DiffusionLM.Peers;

// dlm-peers: the llama.cpp side of `dlm bench peers`, one JSON object on stdout per call.
//   dlm-peers forward  GGUF TOKENS REPEATS THREADS   → {"seconds": [...], "rope_type", ...}
//   dlm-peers logits   GGUF IDS_FILE OUT_FILE THREADS [nofa] → raw float32 logits [L, V] of the ids (one int per line)
//   dlm-peers generate GGUF PROMPT_FILE GEN BLOCK STEPS THREADS → {"ids", "nfe", "seconds"}
try
{
    if (args.Length == 0) throw new ArgumentException("usage: dlm-peers forward|logits|generate ...");
    string gguf = args[1];
    switch (args[0])
    {
        case "forward":
        {
            int tokens = int.Parse(args[2]), repeats = int.Parse(args[3]), threads = int.Parse(args[4]);
            using var m = new LlamaCppModel(gguf, tokens, threads);
            var rng = new Random(1);
            var ids = Enumerable.Range(0, tokens).Select(_ => rng.Next(m.VocabSize)).ToArray();
            var logits = new float[tokens * m.VocabSize];
            m.Logits(ids, logits); // warm-up
            var seconds = new List<double>();
            for (int r = 0; r < repeats; r++) { var sw = Stopwatch.StartNew(); m.Logits(ids, logits); seconds.Add(sw.Elapsed.TotalSeconds); }
            Console.WriteLine(JsonSerializer.Serialize(new { seconds, rope_type = m.RopeType, is_diffusion = m.IsDiffusion, vocab = m.VocabSize }));
            break;
        }
        case "logits":
        {
            var ids = File.ReadAllLines(args[2]).Where(l => l.Length > 0).Select(int.Parse).ToArray();
            using var m = new LlamaCppModel(gguf, ids.Length, int.Parse(args[4]), args.Length > 5 && args[5] == "nofa" ? false : null);
            var logits = new float[ids.Length * m.VocabSize];
            m.Logits(ids, logits);
            var bytes = new byte[logits.Length * 4];
            Buffer.BlockCopy(logits, 0, bytes, 0, bytes.Length);
            File.WriteAllBytes(args[3], bytes);
            Console.WriteLine(JsonSerializer.Serialize(new { tokens = ids.Length, vocab = m.VocabSize }));
            break;
        }
        case "generate":
        {
            var prompt = File.ReadAllLines(args[2]).Where(l => l.Length > 0).Select(int.Parse).ToArray();
            int gen = int.Parse(args[3]), block = int.Parse(args[4]), steps = int.Parse(args[5]), threads = int.Parse(args[6]);
            using var m = new LlamaCppModel(gguf, prompt.Length + gen, threads);
            if (!m.IsDiffusion) throw new InvalidOperationException($"{gguf}: libllama does not see a diffusion model (llama_model_is_diffusion = 0)");
            var r = LlamaCppDiffusion.Generate(m, prompt, gen, block, steps);
            Console.WriteLine(JsonSerializer.Serialize(new { ids = r.Ids, nfe = r.Nfe, seconds = r.Seconds }));
            break;
        }
        default: throw new ArgumentException($"unknown verb {args[0]}");
    }
    return 0;
}
catch (Exception e)
{
    Console.Error.WriteLine(Environment.GetEnvironmentVariable("DLM_LLAMA_LOG") is null ? $"dlm-peers: {e.Message}" : $"dlm-peers: {e}");
    return 1;
}
