using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionLM.Cli;
using DiffusionLM.Evaluation;
using DiffusionLM.Models;
using DiffusionLM.Models.Hf;
using DiffusionLM.Models.Llada;
using TorchSharp;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Hf;

/// <summary>The verbs on Hugging Face folders: inspect, eval --choices, generate --chat, import hf, export hf.</summary>
[Collection("TorchGlobalState")]
public class HfCliTests(ITestOutputHelper output)
{
    const string LladaTemplateConfig = """
    {"bos_token": "<|bos|>", "eos_token": "<|eos|>",
     "chat_template": "{% for message in messages %}{% if loop.index0 == 0 %}{{ bos_token }}{% endif %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"}
    """;

    static (int Code, string Out, string Err) Run(params string[] args)
    {
        var (o, e) = (Io.Out, Io.Err);
        var so = new StringWriter(); var se = new StringWriter();
        Io.Out = so; Io.Err = se;
        try { return (Program.Run(args), so.ToString(), se.ToString()); }
        finally { Io.Out = o; Io.Err = e; }
    }

    static string TinyLlada(TempFolder dir)
    {
        var path = Path.Combine(dir.Path, "llada");
        var cfg = HfFixtures.LladaConfig(HfFixtures.Tokenizer.VocabSize);
        var (_, dims) = LladaHfModel.ReadConfig(HfFixtures.Parse(cfg));
        HfFixtures.Write(path, cfg, HfFixtures.Random(LladaHfModel.Spec(dims), 7), ScalarType.BFloat16, shards: 2, tokenizerConfig: LladaTemplateConfig);
        return path;
    }

    /// <summary>
    /// `dlm inspect --ids --json` on a golden case's checkpoint against the logits the upstream modeling code computed
    /// (Hf/Goldens/upstream_logits.json, <see cref="UpstreamGoldenTests"/>), within the golden tolerance; Dream's inspect
    /// prints the unshifted output, as upstream's. Returns the worst relative error.
    /// </summary>
    static double InspectAgainstUpstream(string name, Func<JsonObject, JsonObject> mutate)
    {
        var c = UpstreamGoldenTests.Case(name);
        using var dir = new TempFolder();
        UpstreamGoldenTests.WriteCheckpoint(c, dir.Path, mutate);
        var ids = string.Join(",", c["ids"]!.AsArray().Select(i => (long)i!));
        var (code, output, err) = Run("inspect", "--model", dir.Path, "--ids", ids, "--json");
        Assert.True(code == 0, err);
        var node = JsonNode.Parse(output)!;
        Assert.Equal((string)c["family"]!, node["family"]!.GetValue<string>());
        var printed = node["logits"]!.AsArray().SelectMany(r => r!.AsArray().Select(v => (double)v!.GetValue<float>())).ToArray();
        return UpstreamGoldenTests.WorstError(c, printed);
    }

    [Theory]
    [InlineData("llada_fp32")]
    [InlineData("llada_bf16_tied")]
    [InlineData("dream_fp32")]
    public void InspectPrintsTheUpstreamLogits(string name)
    {
        double worst = InspectAgainstUpstream(name, c => c);
        Assert.True(worst < UpstreamGoldenTests.Tolerance(UpstreamGoldenTests.Case(name)), $"{name}: inspect's logits are {worst:G3} from upstream's");
    }

    /// <summary>Mutation: the same checkpoint with a wrong RoPE base prints logits the comparison rejects.</summary>
    [Fact]
    public void InspectComparisonRejectsAWrongModel()
    {
        double worst = InspectAgainstUpstream("llada_fp32", c => { c["rope_theta"] = 10000.0; return c; });
        Assert.True(worst > UpstreamGoldenTests.Tolerance(UpstreamGoldenTests.Case("llada_fp32")), $"a wrong rope_theta is still within tolerance ({worst:G3})");
    }

    [Fact]
    public void InspectDescribesATemplatedFolder()
    {
        using var dir = new TempFolder();
        var path = TinyLlada(dir);
        var node = JsonNode.Parse(Run("inspect", "--model", path, "--json").Out)!;
        Assert.Equal("llada", node["family"]!.GetValue<string>());
        Assert.True(node["chat_template"]!.GetValue<bool>());
        Assert.Contains("parameters", Run("inspect", "--model", path).Out);
    }

    [Fact]
    public void EvalChoicesRanksAndScores()
    {
        using var dir = new TempFolder();
        var path = TinyLlada(dir);
        var file = dir["items.jsonl"];
        File.WriteAllLines(file, [
            """{"prompt": "The cat sat on the ", "choices": ["mat", "moon and the stars"], "answer": 0}""",
            """{"prompt": "One two", "choices": [" three", " four"], "answer": " four"}""",
            """{"prompt": "No answer here", "choices": [" a", " b"]}""",
        ]);
        var (code, output, err) = Run("eval", "--model", path, "--choices", file, "--mc", "4", "--batch-size", "2", "--json");
        Assert.True(code == 0, err);
        var node = JsonNode.Parse(output)!;
        var items = node["items"]!.AsArray();
        Assert.Equal(3, items.Count);
        Assert.Equal(2, node["answered"]!.GetValue<int>());
        foreach (var it in items)
        {
            var nll = it!["nll"]!.AsArray().Select(x => x!.GetValue<double>()).ToArray();
            Assert.All(nll, x => Assert.True(x > 0 && double.IsFinite(x)));
            Assert.Equal(Array.IndexOf(nll, nll.Min()), it["predicted"]!.GetValue<int>());
        }
        int right = items.Take(2).Count(it => it!["correct"]!.GetValue<bool>());
        Assert.Equal(right / 2.0, node["accuracy"]!.GetValue<double>());
        // Malformed items are named by file and line.
        File.WriteAllLines(file, ["""{"prompt": "x", "choices": ["only one"]}"""]);
        var bad = Run("eval", "--model", path, "--choices", file);
        Assert.Equal(2, bad.Code);
        Assert.Contains($"{file}:1", bad.Err);
    }

    [Fact]
    public void EncodePairMovesTrailingSpaceToTheChoice()
    {
        var tok = HfFixtures.Tokenizer;
        var (p, c) = MultipleChoice.EncodePair(tok, "The cat sat on the ", "mat");
        Assert.Equal(tok.Encode("The cat sat on the").Select(i => (long)i), p);
        Assert.Equal(tok.Encode("The cat sat on the mat").Skip(p.Length).Select(i => (long)i), c);
    }

    [Fact]
    public void GenerateWithChatTemplateAndEosOptions()
    {
        using var dir = new TempFolder();
        var path = TinyLlada(dir);
        var (code, output, err) = Run("generate", "--model", path, "--prompt", "hello", "--chat", "--gen-length", "8", "--steps", "4",
            "--logits-eos-inf", "--confidence-eos-eot-inf", "--eot-id", "3", "--json");
        Assert.True(code == 0, err);
        var node = JsonNode.Parse(output)!;
        var tok = HfFixtures.Tokenizer;
        var prompt = node["prompt_ids"]!.AsArray().Select(x => (int)x!.GetValue<long>()).ToArray();
        Assert.Equal(tok.Encode("<|bos|><|start_header_id|>user<|end_header_id|>\n\nhello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"), prompt);
        var ids = node["ids"]!.AsArray().Select(x => x!.GetValue<long>()).ToArray();
        Assert.Equal(8, ids.Length);
        Assert.DoesNotContain((long)tok.Special.EosId, ids); // --logits-eos-inf: EOS is never generated
        Assert.DoesNotContain((long)tok.Special.MaskId, ids);
    }

    /// <summary>`import hf` of a golden case's checkpoint: the imported folder computes the upstream code's logits.</summary>
    [Fact]
    public void ImportCopiesACheckedFolder()
    {
        var c = UpstreamGoldenTests.Case("llada_fp32");
        using var dir = new TempFolder();
        UpstreamGoldenTests.WriteCheckpoint(c, dir["golden"], x => x);
        File.WriteAllText(Path.Combine(dir["golden"], "tokenizer_config.json"), LladaTemplateConfig);
        var (code, output, err) = Run("import", "hf", "--from", dir["golden"], "--out", dir["imported"]);
        Assert.True(code == 0, err);
        Assert.Contains("imported llada", output);
        Assert.True(File.Exists(Path.Combine(dir["imported"], "tokenizer_config.json")));
        using var b = ModelLoader.Load(dir["imported"]);
        using var ids = tensor(c["ids"]!.AsArray().Select(i => (long)i!).ToArray()).unsqueeze(0);
        using var _ = no_grad();
        using var lb = b.Model.Logits(ids);
        double worst = UpstreamGoldenTests.WorstError(c, lb[0].to_type(ScalarType.Float64).contiguous().data<double>().ToArray());
        Assert.True(worst < UpstreamGoldenTests.Tolerance(c), $"the imported folder's logits are {worst:G3} from upstream's");
    }

    /// <summary>A two-layer LLaDA-layout model in the fixtures' tokenizer, as the export tests save it.</summary>
    static ModelConfig TinyConfig(DiffusionLM.Text.ITokenizer tok) => new()
    {
        DModel = 32, NHeads = 4, NKvHeads = 2, NLayers = 2, MlpHiddenSize = 48, VocabSize = tok.VocabSize, MaxSequenceLength = 32,
        MaskTokenId = tok.Special.MaskId, EosTokenId = tok.Special.EosId, PadTokenId = tok.Special.PadId, RopeTheta = 10000,
    };

    [Fact]
    public void ExportRefusesAModelWithShiftedLogits()
    {
        // LLaDA's layout has no field for Dream-style shifted logits: every reader would predict the wrong positions.
        using var dir = new TempFolder();
        var tok = HfFixtures.Tokenizer;
        var config = TinyConfig(tok) with { NLayers = 1, LogitsShift = true };
        using (var m = new LladaModel(config, new Generator(3))) Checkpoint.Save(dir["ours"], m, tok);
        var (code, _, err) = Run("export", "hf", "--model", dir["ours"], "--out", dir["hf"]);
        Assert.Equal(2, code);
        Assert.Contains("shifted", err);
        Assert.False(Directory.Exists(dir["hf"]), "a refused export left a folder");
    }

    [Fact]
    public void ExportWritesLladasLayoutWithTheSameLogits()
    {
        using var dir = new TempFolder();
        var tok = HfFixtures.Tokenizer;
        var config = TinyConfig(tok);
        using (var m = new LladaModel(config, new Generator(3))) Checkpoint.Save(dir["ours"], m, tok);
        var (code, _, err) = Run("export", "hf", "--model", dir["ours"], "--out", dir["hf"]);
        Assert.True(code == 0, err);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir["hf"], "config.json")))!;
        Assert.Equal("llada", cfg["model_type"]!.GetValue<string>());
        Assert.Equal("llama", cfg["block_type"]!.GetValue<string>());
        Assert.Equal(config.VocabSize, cfg["embedding_size"]!.GetValue<int>());
        using var ours = ModelLoader.Load(dir["ours"]);
        using var theirs = ModelLoader.Load(dir["hf"]);
        Assert.IsType<LladaModel>(ours.Model);
        Assert.IsType<LladaHfModel>(theirs.Model);
        using var ids = tensor(new long[] { 4, 8, 15, 16, 23, 42 }).unsqueeze(0);
        using var _ = no_grad();
        using var a = ours.Model.Logits(ids);
        using var b = theirs.Model.Logits(ids);
        Assert.True(a.allclose(b, rtol: 1e-4, atol: 1e-4), $"max diff {(a - b).abs().max().item<float>()}");
    }

    /// <summary>
    /// `dlm export hf` anchored to the upstream modeling code: the llada_fp32 golden checkpoint (the weights
    /// modeling_llada.py computed Hf/Goldens/upstream_logits.json from) is imported with `dlm import hf`, read into the
    /// project's own model (our LladaModel of its config, its tensors loaded by our checkpoint loader under LLaDA's names,
    /// which are ours) and saved as a project checkpoint, exported with `dlm export hf`, passed through
    /// <paramref name="tamper"/>, and loaded again as a Hugging Face folder. Returns the worst relative error of that
    /// folder's logits against upstream's (<see cref="UpstreamGoldenTests.WorstError"/>).
    /// </summary>
    static double ExportedGoldenAgainstUpstream(Action<string> tamper)
    {
        var c = UpstreamGoldenTests.Case("llada_fp32");
        using var dir = new TempFolder();
        UpstreamGoldenTests.WriteCheckpoint(c, dir["golden"], x => x);
        var (code, _, err) = Run("import", "hf", "--from", dir["golden"], "--out", dir["imported"]);
        Assert.True(code == 0, err);
        var hfConfig = JsonNode.Parse(File.ReadAllText(Path.Combine(dir["imported"], "config.json")))!.AsObject();
        var (config, _) = LladaHfModel.ReadConfig(HfFixtures.Parse(hfConfig));
        using (var m = new LladaModel(config))
        {
            Checkpoint.LoadWeights(m, dir["imported"]);
            Checkpoint.Save(dir["ours"], m, HfFixtures.Tokenizer);
        }
        (code, _, err) = Run("export", "hf", "--model", dir["ours"], "--out", dir["hf"]);
        Assert.True(code == 0, err);
        tamper(dir["hf"]);
        using var exported = ModelLoader.Load(dir["hf"]);
        Assert.IsType<LladaHfModel>(exported.Model);
        using var ids = tensor(c["ids"]!.AsArray().Select(i => (long)i!).ToArray()).unsqueeze(0);
        using var _ng = no_grad();
        using var logits = exported.Model.Logits(ids);
        return UpstreamGoldenTests.WorstError(c, logits[0].to_type(ScalarType.Float64).contiguous().data<double>().ToArray());
    }

    [Fact]
    public void ExportOfTheUpstreamGoldenComputesUpstreamsLogits()
    {
        double worst = ExportedGoldenAgainstUpstream(_ => { });
        double tolerance = UpstreamGoldenTests.Tolerance(UpstreamGoldenTests.Case("llada_fp32"));
        output.WriteLine($"import hf → project checkpoint → export hf: worst relative error against upstream {worst:G3} (tolerance {tolerance})");
        Assert.True(worst < tolerance, $"the exported folder's logits are {worst:G3} from upstream's (tolerance {tolerance})");
    }

    /// <summary>
    /// Mutation: an export that writes q_proj and k_proj with each head's rows interleaved ([0, d/2, 1, d/2 + 1, …],
    /// the Meta ↔ Hugging Face rotary permutation applied where LLaDA wants none) is rejected by the same comparison:
    /// q·k without rotation is unchanged by a common permutation, so only a check that runs LLaDA's RoPE sees it.
    /// </summary>
    [Fact]
    public void MutantExportWithInterleavedRotaryRowsIsRejected()
    {
        double worst = ExportedGoldenAgainstUpstream(InterleaveRotaryRows);
        output.WriteLine($"interleaved q/k rows: worst relative error against upstream {worst:G3}");
        Assert.True(worst > UpstreamGoldenTests.Tolerance(UpstreamGoldenTests.Case("llada_fp32")), $"a permuted export is still within tolerance ({worst:G3})");
    }

    static void InterleaveRotaryRows(string folder)
    {
        var path = Path.Combine(folder, SafeTensors.SingleFileName);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        int headDim = config["d_model"]!.GetValue<int>() / config["n_heads"]!.GetValue<int>();
        var tensors = SafeTensors.Load(path);
        foreach (var name in tensors.Keys.Where(n => n.EndsWith("q_proj.weight") || n.EndsWith("k_proj.weight")).ToList())
        {
            var w = tensors[name];
            long rows = w.shape[0], cols = w.shape[1];
            tensors[name] = w.view(rows / headDim, 2, headDim / 2, cols).transpose(1, 2).reshape(rows, cols).contiguous();
        }
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        foreach (var t in tensors.Values) t.Dispose();
    }
}
