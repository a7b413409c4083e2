using System.Text.Json.Nodes;
using DiffusionLM.Models;
using DiffusionLM.Models.Dream;
using DiffusionLM.Models.Hf;
using DiffusionLM.Models.Llada;
using DiffusionLM.Models.Mdlm;
using Xunit;
using Xunit.Abstractions;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Hf;

/// <summary>
/// The loaders against the upstream modeling code itself: Hf/Goldens/upstream_logits.json holds the
/// logits that Fast-dLLM's modeling_llada.py and modeling_dream.py and MDLM's models/dit.py (with
/// diffusion.py's SUBS) computed on tiny checkpoints whose weights <see cref="GoldenWeights"/> rebuilds
/// bit for bit (tools/goldens/upstream_logits.py made the file; its command is in the file). Each case
/// writes that checkpoint in the released layout (fp32 or bf16), loads it through ModelLoader and
/// compares: 1e-4 where upstream computed in fp32 (on the fp32 or bf16-rounded weights, as the loaders
/// do), 2e-2 where it ran under bf16 autocast (MDLM's own mode).
/// </summary>
public class UpstreamGoldenTests(ITestOutputHelper output)
{
    static readonly string GoldenPath = Path.Combine(RepoPaths.Root, "tests", "DiffusionLM.Tests", "Hf", "Goldens", "upstream_logits.json");
    static readonly Lazy<JsonObject> Doc = new(() => JsonNode.Parse(File.ReadAllText(GoldenPath))!.AsObject());

    internal static JsonObject Case(string name) =>
        Doc.Value["cases"]!.AsArray().Select(c => c!.AsObject()).Single(c => (string)c["name"]! == name);

    [Fact]
    public void GoldenFileSaysHowItWasMade()
    {
        var d = Doc.Value;
        Assert.Equal("tools/goldens/upstream_logits.py", (string)d["made_by"]!);
        Assert.Contains("upstream_logits.py", (string)d["command"]!);
        Assert.Equal(40, ((string)d["upstream"]!["NVlabs/Fast-dLLM"]!).Length);
        Assert.Equal(40, ((string)d["upstream"]!["kuleshov-group/mdlm"]!).Length);
        Assert.True(File.Exists(Path.Combine(RepoPaths.Root, "tools", "goldens", "upstream_logits.py")));
    }

    [Theory]
    [InlineData("llada_fp32")]
    [InlineData("llada_bf16_tied")]
    [InlineData("dream_fp32")]
    [InlineData("dream_bf16")]
    [InlineData("mdlm_fp32")]
    [InlineData("mdlm_fp32_time")]
    [InlineData("mdlm_bf16_time")]
    public void LoaderMatchesUpstream(string name)
    {
        var c = Case(name);
        double worst = Worst(c, config => config);
        output.WriteLine($"{name}: worst relative error {worst:G3}");
        Assert.True(worst < Tolerance(c), $"{name}: max |upstream − ours| / max(1, |upstream|) = {worst:G3} (tolerance {Tolerance(c)})");
    }

    /// <summary>Mutation: a checkpoint read with a wrong RoPE base (or a wrong norm epsilon) is rejected by the same comparison.</summary>
    [Theory]
    [InlineData("llada_fp32", "rope_theta", 10000.0)]
    [InlineData("dream_fp32", "rope_theta", 10000.0)]
    [InlineData("dream_bf16", "rms_norm_eps", 0.3)]
    public void ComparisonRejectsAWrongModel(string name, string field, double wrong)
    {
        var c = Case(name);
        double worst = Worst(c, config => { config[field] = wrong; return config; });
        Assert.True(worst > Tolerance(c), $"{name} with {field} = {wrong} still within tolerance ({worst:G3})");
    }

    /// <summary>Mutation for MDLM: the wrong diffusion time (σ of t = 0.9 instead of the golden's) is rejected.</summary>
    [Fact]
    public void ComparisonRejectsTheWrongTime()
    {
        var c = Case("mdlm_fp32_time");
        c = c.DeepClone().AsObject();
        c["time"] = 0.9;
        Assert.True(Worst(c, config => config) > Tolerance(c));
    }

    internal static double Tolerance(JsonObject c) => (string)c["compute"]! == "float32" ? 1e-4 : 2e-2;

    /// <summary>Builds the case's checkpoint (config passed through <paramref name="mutate"/>), loads it and returns the worst relative error.</summary>
    static double Worst(JsonObject c, Func<JsonObject, JsonObject> mutate)
    {
        using var dir = new TempFolder();
        WriteCheckpoint(c, dir.Path, mutate);
        using var loaded = ModelLoader.Load(dir.Path);
        var ids = tensor(c["ids"]!.AsArray().Select(i => (long)i!).ToArray()).unsqueeze(0);
        using var logits = loaded.Model switch
        {
            DreamModel d => d.ModelLogits(ids), // upstream's logits are unshifted
            MdlmModel m => m.Logits(ids, time: tensor(new[] { (float)(double)c["time"]! })),
            var m => m.Logits(ids),
        };
        return WorstError(c, logits[0].to_type(ScalarType.Float64).contiguous().data<double>().ToArray());
    }

    /// <summary>
    /// Writes the case's checkpoint in the released layout into <paramref name="dir"/>: its config (passed through
    /// <paramref name="mutate"/>, special ids the test tokenizer's) and the <see cref="GoldenWeights"/> tensors, after
    /// checking that the upstream module's parameter names and shapes are exactly our layout's.
    /// </summary>
    internal static void WriteCheckpoint(JsonObject c, string dir, Func<JsonObject, JsonObject> mutate)
    {
        string family = (string)c["family"]!;
        var dtype = (string)c["dtype"]! == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
        var config = c["config"]!.DeepClone().AsObject();
        // Special ids do not enter the forward pass; the test tokenizer's own ones keep the folder loadable.
        var sp = HfFixtures.Tokenizer.Special;
        if (family != "mdlm")
        {
            config["mask_token_id"] = sp.MaskId; config["eos_token_id"] = sp.EosId; config["pad_token_id"] = sp.PadId;
            if (family == "dream") config["bos_token_id"] = sp.BosId;
        }
        var parsed = HfFixtures.Parse(config);
        List<TensorSpec> spec = family switch
        {
            "llada" => LladaHfModel.Spec(LladaHfModel.ReadConfig(parsed).Item2),
            "dream" => DreamModel.Spec(DreamModel.ReadConfig(parsed).Item2),
            _ => MdlmModel.Spec(MdlmModel.ReadConfig(parsed).Config, MdlmModel.ReadConfig(parsed).CondDim),
        };
        // The upstream model's parameters are exactly the tensors our layout requires, with the same shapes.
        var upstream = c["tensors"]!.AsArray().Select(t => (Name: (string)t!["name"]!, Shape: t["shape"]!.AsArray().Select(s => (long)s!).ToArray())).ToList();
        Assert.Equal(spec.Where(s => !s.Optional).Select(s => s.Name).Order(StringComparer.Ordinal), upstream.Select(u => u.Name).Order(StringComparer.Ordinal));
        foreach (var u in upstream) Assert.Equal(spec.Single(s => s.Name == u.Name).Shape, u.Shape);

        var tensors = upstream.ToDictionary(u => u.Name, u => GoldenWeights.Tensor(u.Name, u.Shape));
        HfFixtures.Write(dir, mutate(config), tensors, dtype);
        foreach (var t in tensors.Values) t.Dispose();
    }

    /// <summary>max |upstream − ours| / max(1, |upstream|) over the case's logits; <paramref name="ours"/> is [L·V] row-major.</summary>
    internal static double WorstError(JsonObject c, double[] ours)
    {
        var expected = c["logits"]!.AsArray().Select(r => r!.AsArray().Select(v => (double)v!).ToArray()).ToArray();
        int v = expected[0].Length;
        Assert.Equal(expected.Length * v, ours.Length);
        double worst = 0;
        for (int i = 0; i < expected.Length; i++)
            for (int j = 0; j < v; j++) worst = Math.Max(worst, Math.Abs(expected[i][j] - ours[i * v + j]) / Math.Max(1, Math.Abs(expected[i][j])));
        return worst;
    }
}
