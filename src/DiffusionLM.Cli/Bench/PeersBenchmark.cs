using System.Diagnostics;
using DiffusionLM.Models;
using DiffusionLM.Models.Gguf;
using DiffusionLM.Models.Llada;
using DiffusionLM.Runtime;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Cli.Bench;

public sealed record PeersOptions(int Threads, int Repeats, int[] ForwardLengths, int GenLength, int BlockLength, string FastSampler, double Threshold, bool Python,
    CacheMode FastCache = CacheMode.None);

public sealed record ForwardRow(string engine, int tokens, double seconds, double tokens_per_second);
public sealed record GenerationRow(string engine, string setting, int gen_length, int nfe, double seconds, double tokens_per_second, double agreement_with_one_per_step);
public sealed record ParityRow(string engine, double max_abs_diff, double max_abs_logit);
public sealed record PeersModelResult(string name, long parameters, ModelConfig config, List<ForwardRow> forward, List<ParityRow> parity, List<GenerationRow> generation, string note);

/// <summary>
/// `dlm bench peers` for one model: the same weights exported as GGUF (f32, f16, q8_0) and as a
/// Hugging Face folder, then forward throughput, logits parity and end-to-end generation measured for
/// DiffusionLM, llama.cpp's diffusion loop and the Python reference, one after the other in one run.
/// </summary>
public sealed class PeersBenchmark(PeersOptions o, PeerProcess llama, PeerProcess? python, Action<string> log)
{
    static readonly GgufDType[] Quants = [GgufDType.F32, GgufDType.F16, GgufDType.Q8_0];
    static string Tag(GgufDType d) => d switch { GgufDType.F32 => "f32", GgufDType.F16 => "f16", _ => "q8_0" };

    /// <summary>The engine names of our two modes (the report matches on them).</summary>
    public const string Ours = "DiffusionLM (TorchSharp)", OursBf16 = "DiffusionLM (TorchSharp, bf16 matmul)";

    /// <summary>Runs <paramref name="work"/> with the model's projections and the process's oneDNN products in bf16, then back to float32.</summary>
    static T Bf16<T>(LladaModel m, Func<T> work)
    {
        MatmulOptions.Use(MatmulMode.Bf16, m);
        try { return work(); }
        finally { MatmulOptions.Use(MatmulMode.Fp32, m); }
    }

    public PeersModelResult Run(string name, LladaModel model, ITokenizer tok, int[] prompt, string work)
    {
        var c = model.Config;
        var gguf = Quants.ToDictionary(q => q, q => Path.Combine(work, $"{name}-{Tag(q)}.gguf"));
        foreach (var (q, path) in gguf) LladaGgufExport.Export(model, tok, path, q, name);
        string hf = Path.Combine(work, name + "-hf");
        // The HF layout cannot say "shifted": the Python runner is told so on its command line (shift / noshift).
        if (python is not null) LladaHfExport.Export(model, tok, hf, allowShiftedLogits: true);
        string shift = c.LogitsShift ? "shift" : "noshift";
        string T(int n) => n.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var forward = new List<ForwardRow>();
        foreach (int len in o.ForwardLengths.Where(l => l <= c.MaxSequenceLength))
        {
            log($"{name}: forward at {len} tokens");
            forward.Add(Row(Ours, len, OurForward(model, len)));
            forward.Add(Row(OursBf16, len, Bf16(model, () => OurForward(model, len))));
            foreach (var q in Quants)
                forward.Add(Row($"llama.cpp {Tag(q)}", len, Median(llama.Run("forward", gguf[q], T(len), T(o.Repeats), T(o.Threads))["seconds"]!.AsArray().Select(x => (double)x!))));
            if (python is not null)
                forward.Add(Row("Python (torch 1.13)", len, Median(python.Run("forward", hf, shift, T(len), T(o.Repeats), T(o.Threads))["seconds"]!.AsArray().Select(x => (double)x!))));
        }

        log($"{name}: logits parity");
        int plen = Math.Min(64, c.MaxSequenceLength);
        var g = new Generator(11);
        var ids = randint(0, c.VocabSize, [1, plen], generator: g).data<long>().Select(x => (int)x).ToArray();
        var idsFile = Path.Combine(work, "parity-ids.txt");
        File.WriteAllLines(idsFile, ids.Select(T));
        float[] OurLogits() { using (no_grad()) using (var s = NewDisposeScope()) return model.Logits(tensor(ids.Select(x => (long)x).ToArray(), [1, plen])).data<float>().ToArray(); }
        float[] ours = OurLogits();
        var parity = new List<ParityRow>();
        double scale = ours.Max(Math.Abs);
        parity.Add(new("DiffusionLM, bf16 matmul", MaxDiff(ours, Bf16(model, OurLogits)), scale));
        foreach (var q in Quants)
            parity.Add(new($"llama.cpp {Tag(q)}", MaxDiff(ours, Shifted(c, Logits(llama, gguf[q], idsFile, work))), scale));
        // libllama's default flash attention rounds through f16 on the CPU; without it f32 is exact up to summation order.
        parity.Add(new("llama.cpp f32, flash attention off", MaxDiff(ours, Shifted(c, Logits(llama, gguf[GgufDType.F32], idsFile, work, "nofa"))), scale));
        if (python is not null) parity.Add(new("Python (torch 1.13)", MaxDiff(ours, PythonLogits(python, hf, shift, idsFile, work)), scale));

        var generation = new List<GenerationRow>();
        int steps = o.GenLength; // one token per step
        if (prompt.Length + o.GenLength <= c.MaxSequenceLength)
        {
            var promptFile = Path.Combine(work, "prompt.txt");
            File.WriteAllLines(promptFile, prompt.Select(T));
            log($"{name}: generation, DiffusionLM one token per step");
            var slow = OurGenerate(model, prompt, SamplerRegistry.Create("llada", new SamplerSettings(o.GenLength, steps, o.BlockLength)));
            var reference = slow.Ids;
            generation.Add(Gen(Ours, "llada, 1 token/step", slow.Nfe, slow.Seconds, slow.Ids, reference));
            log($"{name}: generation, DiffusionLM {o.FastSampler}");
            ISampler Fast() => SamplerRegistry.Create(o.FastSampler, new SamplerSettings(o.GenLength, steps, o.BlockLength) { Threshold = o.Threshold, Cache = o.FastCache });
            string fastSetting = $"{o.FastSampler}{(SamplerRegistry.Find(o.FastSampler).Option("--threshold") is null ? ", 1 token/step" : $", threshold {o.Threshold}")}, cache {CacheModes.Name(o.FastCache)}";
            var fast = OurGenerate(model, prompt, Fast());
            generation.Add(Gen(Ours, fastSetting, fast.Nfe, fast.Seconds, fast.Ids, reference));
            log($"{name}: generation, DiffusionLM {o.FastSampler} with bf16 matmul");
            var fastBf16 = Bf16(model, () => OurGenerate(model, prompt, Fast()));
            generation.Add(Gen(OursBf16, fastSetting, fastBf16.Nfe, fastBf16.Seconds, fastBf16.Ids, reference));
            // f32 (the same arithmetic as ours) and q8_0 (llama.cpp's fastest forward here), so the ratio is not against its slowest loop.
            foreach (var q in new[] { GgufDType.F32, GgufDType.Q8_0 })
            {
                log($"{name}: generation, llama.cpp {Tag(q)}");
                var lj = llama.Run("generate", gguf[q], promptFile, T(o.GenLength), T(o.BlockLength), T(steps), T(o.Threads));
                generation.Add(Gen($"llama.cpp {Tag(q)}", "diffusion loop, 1 token/step", (int)lj["nfe"]!, (double)lj["seconds"]!, lj["ids"]!.AsArray().Select(x => (long)x!).ToArray(), reference));
            }
            if (python is not null)
            {
                log($"{name}: generation, Python reference");
                var pj = python.Run("generate", hf, shift, promptFile, T(o.GenLength), T(o.BlockLength), T(steps), T(o.Threads));
                generation.Add(Gen("Python (torch 1.13)", "LLaDA generate(), 1 token/step", (int)pj["nfe"]!, (double)pj["seconds"]!, pj["ids"]!.AsArray().Select(x => (long)x!).ToArray(), reference));
            }
        }
        string note = generation.Count == 0 ? $"no generation: prompt + {o.GenLength} tokens exceed the context ({c.MaxSequenceLength})" : "";
        return new PeersModelResult(name, model.ParameterCount(), c, forward, parity, generation, note);

        GenerationRow Gen(string engine, string setting, int nfe, double seconds, long[] idsOut, long[] reference)
        {
            int same = 0;
            for (int i = prompt.Length; i < reference.Length; i++) if (i < idsOut.Length && idsOut[i] == reference[i]) same++;
            return new(engine, setting, o.GenLength, nfe, seconds, o.GenLength / seconds, (double)same / o.GenLength);
        }
    }

    static ForwardRow Row(string engine, int len, double seconds) => new(engine, len, seconds, len / seconds);

    static double Median(IEnumerable<double> xs) { var s = xs.OrderBy(x => x).ToArray(); return s[s.Length / 2]; }

    double OurForward(LladaModel m, int len)
    {
        using var g = new Generator(1);
        using var ids = randint(0, m.Config.VocabSize, [1, len], generator: g);
        using var _ = no_grad();
        void Once() { using var s = NewDisposeScope(); m.Logits(ids); }
        Once();
        return Median(Enumerable.Range(0, o.Repeats).Select(_ => { var sw = Stopwatch.StartNew(); Once(); return sw.Elapsed.TotalSeconds; }));
    }

    static (long[] Ids, int Nfe, double Seconds) OurGenerate(LladaModel m, int[] prompt, ISampler sampler)
    {
        using var _ = no_grad();
        using var g = new Generator(0);
        var sw = Stopwatch.StartNew();
        var r = sampler.Generate(m, [prompt.Select(x => (long)x).ToArray()], g);
        return (r.Ids[0], r.Nfe, sw.Elapsed.TotalSeconds);
    }

    static float[] Logits(PeerProcess p, string model, string idsFile, string work, params string[] extra)
    {
        var outFile = Path.Combine(work, "logits.bin");
        p.Run(["logits", model, idsFile, outFile, "1", .. extra]);
        return ReadFloats(outFile);
    }

    static float[] PythonLogits(PeerProcess p, string hf, string shift, string idsFile, string work)
    {
        var outFile = Path.Combine(work, "logits.bin");
        p.Run("logits", hf, shift, idsFile, outFile, "1");
        return ReadFloats(outFile);
    }

    static float[] ReadFloats(string outFile)
    {
        var bytes = File.ReadAllBytes(outFile);
        var f = new float[bytes.Length / 4];
        Buffer.BlockCopy(bytes, 0, f, 0, bytes.Length);
        return f;
    }

    /// <summary>
    /// libllama's logits are the network's own, one row per position; with diffusion.shift_logits its diffusion loop reads
    /// row i − 1 for position i. Our model's Logits already shifts (row 0 kept), so the comparison shifts libllama's rows the same way.
    /// </summary>
    static float[] Shifted(ModelConfig c, float[] logits)
    {
        if (!c.LogitsShift) return logits;
        int v = c.VocabSize, rows = logits.Length / v;
        var s = new float[logits.Length];
        Array.Copy(logits, 0, s, 0, Math.Min(v, logits.Length));
        if (rows > 1) Array.Copy(logits, 0, s, v, (rows - 1) * v);
        return s;
    }

    static double MaxDiff(float[] a, float[] b)
    {
        if (a.Length != b.Length) throw new DlmException($"logits of {b.Length} values, expected {a.Length}");
        double m = 0;
        for (int i = 0; i < a.Length; i++) m = Math.Max(m, Math.Abs(a[i] - b[i]));
        return m;
    }
}
