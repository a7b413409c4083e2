using System.CommandLine;
using System.Text.Json;
using DiffusionLM.Cli.Bench;
using DiffusionLM.Cli.Reports;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using TorchSharp;

namespace DiffusionLM.Cli.Commands;

/// <summary>`dlm bench peers`: DiffusionLM next to llama.cpp's diffusion loop and the Python reference on identical weights (run bench/peers.sh).</summary>
public static class BenchPeersCommand
{
    public const string Runner = "bench/Peers/bin/Release/net10.0/linux-x64/dlm-peers.dll";

    public static Command Create()
    {
        var model = ModelLocator.ModelOption();
        var runner = new Option<string?>("--runner") { Description = $"llama.cpp runner (default: {Runner}; build it with bench/peers.sh)" };
        var python = new Option<string>("--python") { Description = "the Python with torch (Debian's python3-torch)", DefaultValueFactory = _ => "/usr/bin/python3" };
        var noPython = new Option<bool>("--no-python") { Description = "leave the Python reference out" };
        var outDir = new Option<string>("--out") { Description = "folder for peers.json, peers.md and peers.png", DefaultValueFactory = _ => "bench/results" };
        var threads = new Option<int>("--threads") { Description = "threads of every engine (default: torch's)", DefaultValueFactory = _ => 0 };
        var repeats = new Option<int>("--repeats") { Description = "timed forward passes per cell (the median is reported)", DefaultValueFactory = _ => 3 };
        var genLength = new Option<int>("--gen-length") { Description = "tokens generated, one per step", DefaultValueFactory = _ => 256 };
        var block = new Option<int>("--block-length") { Description = "LLaDA block length", DefaultValueFactory = _ => 32 };
        var fast = new Option<string>("--fast-sampler") { Description = "DiffusionLM's fast setting compared (default: the fastest at equal quality in `dlm bench generation`, one token per step with the dual cache)", DefaultValueFactory = _ => "low_confidence" };
        var threshold = new Option<double>("--threshold") { Description = "its confidence threshold (samplers with --threshold only)", DefaultValueFactory = _ => 0.9 };
        var fastCache = new Option<string>("--fast-cache") { Description = "its block cache (none, prefix, dual; " + CacheModes.Help + ")", DefaultValueFactory = _ => "dual" };
        var width = new Option<int>("--bench-width") { Description = "d_model of the random LLaDA-layout bench model (8 layers of 64-wide heads)", DefaultValueFactory = _ => 512 };
        var cmd = new Command("peers", "Forward tokens/s, logits parity and end-to-end generation of DiffusionLM, llama.cpp (GGUF f32/f16/q8_0) and the Python reference on identical weights: models/default and a random tens-of-millions-parameter LLaDA-layout model.")
        {
            model, runner, python, noPython, outDir, threads, repeats, genLength, block, fast, threshold, fastCache, width,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            // Before the runner is looked for: a bad value is the user's to fix whatever else is missing.
            if (r.GetValue(threads) < 0) throw new DlmException($"--threads {r.GetValue(threads)}: must be 0 (torch's default) or more");
            OptionRanges.Positive("--repeats", r.GetValue(repeats));
            OptionRanges.Positive("--gen-length", r.GetValue(genLength));
            OptionRanges.Positive("--block-length", r.GetValue(block));
            SamplerOptionRanges.Blocks(r.GetValue(genLength), r.GetValue(genLength), r.GetValue(block), "--gen-length");
            OptionRanges.Between("--threshold", r.GetValue(threshold), 0, 1);
            if (r.GetValue(width) is var w0 && (w0 <= 0 || w0 % 64 != 0)) throw new DlmException($"--bench-width {w0}: must be a positive multiple of 64 (the heads are 64 wide)");
            int t = r.GetValue(threads) > 0 ? r.GetValue(threads) : torch.get_num_threads();
            torch.set_num_threads(t);
            var runnerDll = r.GetValue(runner) ?? ModelLocator.FindBundled(Runner)
                ?? throw new DlmException($"the llama.cpp runner {Runner} is not built; run bench/peers.sh (or dotnet build bench/Peers -c Release)");
            var script = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(runnerDll))!, "llada_generate.py");
            PeerProcess? py = r.GetValue(noPython) ? null : PeerProcess.Python(r.GetValue(python)!, script);
            var options = new PeersOptions(t, r.GetValue(repeats), [256, 1024], r.GetValue(genLength), r.GetValue(block), r.GetValue(fast)!, r.GetValue(threshold), py is not null,
                CacheModes.Parse(r.GetValue(fastCache), "--fast-cache"));
            var bench = new PeersBenchmark(options, PeerProcess.LlamaCpp(runnerDll), py, s => Io.Err.WriteLine(s));
            var work = Path.Combine(Path.GetTempPath(), $"dlm-peers-{Environment.ProcessId}");
            Directory.CreateDirectory(work);
            var results = new List<PeersModelResult>();
            try
            {
                var (def, tok) = Checkpoint.Load(ModelLocator.Resolve(r.GetValue(model)));
                using (def)
                {
                    def.eval();
                    // A story opening, as the story model continues them (with its <s>, as dlm generate encodes it).
                    var prompt = PromptEncoder.ForGeneration(tok, "Once upon a time, there was a little girl named Lily.", null, allowSpecial: false);
                    // models/default's context may be shorter than the benchmark's sequences: forward at its full context, generation as long as it fits.
                    var defOptions = options with { ForwardLengths = [def.Config.MaxSequenceLength], GenLength = Math.Min(options.GenLength, (def.Config.MaxSequenceLength - prompt.Length) / options.BlockLength * options.BlockLength) };
                    results.Add(new PeersBenchmark(defOptions, PeerProcess.LlamaCpp(runnerDll), py, s => Io.Err.WriteLine(s)).Run("models/default", def, tok, prompt, work));
                    int w = r.GetValue(width);
                    // LLaDA's own layout: unshifted logits (models/default, initialised Dream-style, shifts).
                    var big = def.Config with { DModel = w, NHeads = w / 64, NKvHeads = w / 64, NLayers = 8, MlpHiddenSize = w * 8 / 3 / 32 * 32, MaxSequenceLength = 1024, LogitsShift = false };
                    using var random = new LladaModel(big, new torch.Generator(5));
                    random.eval();
                    results.Add(bench.Run($"random-{random.ParameterCount() / 1_000_000}M", random, tok, prompt, work));
                }
            }
            finally { try { Directory.Delete(work, true); } catch (IOException) { } }
            var result = new PeersResult(BenchFiles.CpuName(), t, options, results);
            BenchFiles.Write(r.GetValue(outDir)!, "peers", result, PeersBenchReport.Markdown(result), dir => PeersBenchReport.Figure(result, Path.Combine(dir, "peers.png")), "peers.png");
            return 0;
        }));
        return cmd;
    }
}
