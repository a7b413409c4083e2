using System.Text;
using System.Text.Json.Nodes;
using DiffusionLM.Models;
using DiffusionLM.Tests.Cli;

namespace DiffusionLM.Tests.Safety;

/// <summary>
/// The models the hostile-input matrix runs against, made once: a tiny masked model (two steps), a tiny uniform one,
/// and the bundled stories260K imported as a causal model. Cases damage copies, never these.
/// </summary>
public sealed class HostileInputFixture : IDisposable
{
    readonly TempFolder _tmp = new();
    public string Masked => _tmp["masked"];
    public string Uniform => _tmp["uniform"];
    public string Causal => _tmp["causal"];
    public string Corpus => _tmp["corpus.txt"];

    public HostileInputFixture()
    {
        TinyModelFixture.WriteCorpus(Corpus);
        TinyModelFixture.Train(Corpus, Masked, DiffusionProcess.Masked);
        TinyModelFixture.Train(Corpus, Uniform, DiffusionProcess.Uniform);
        var r = CliRunner.Run("import", "llama2c", "--checkpoint", Stories260K.Bin, "--tokenizer", Stories260K.Tok, "--out", Causal);
        if (r.Code != 0) throw new InvalidOperationException("import of stories260K failed: " + r.Err);
    }

    public void Dispose() => _tmp.Dispose();
}

/// <summary>What one case may use: the fixture's models, and a scratch folder of its own for damaged copies.</summary>
public sealed class CaseContext(HostileInputFixture fixture) : IDisposable
{
    readonly TempFolder _tmp = new();
    int _copies;
    public HostileInputFixture Models => fixture;
    public string Masked => fixture.Masked;
    public string Corpus => fixture.Corpus;

    public string Path(string name) => _tmp[name];

    public string Write(string name, string text)
    {
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(_tmp[name])!);
        File.WriteAllText(_tmp[name], text);
        return _tmp[name];
    }

    public string WriteBytes(string name, byte[] bytes)
    {
        File.WriteAllBytes(_tmp[name], bytes);
        return _tmp[name];
    }

    /// <summary>A copy of a model folder (the masked one by default), damaged by <paramref name="damage"/>(folder).</summary>
    public string Copy(Action<string> damage, string? source = null)
    {
        var dir = _tmp[$"model{_copies++}"];
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(source ?? fixture.Masked)) File.Copy(f, System.IO.Path.Combine(dir, System.IO.Path.GetFileName(f)));
        damage(dir);
        return dir;
    }

    /// <summary>A copy whose config.json is edited.</summary>
    public string Config(Action<JsonObject> edit) => Copy(dir =>
    {
        var path = System.IO.Path.Combine(dir, Checkpoint.ConfigFile);
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    });

    /// <summary>A copy with one of its files replaced by <paramref name="text"/>.</summary>
    public string Replace(string file, string text) => Copy(dir => File.WriteAllText(System.IO.Path.Combine(dir, file), text));

    /// <summary>A copy whose model.safetensors header is edited (the tensor bytes kept).</summary>
    public string Header(Action<JsonObject> edit) => Copy(dir =>
    {
        var path = System.IO.Path.Combine(dir, Checkpoint.WeightsFile);
        var bytes = File.ReadAllBytes(path);
        long n = BitConverter.ToInt64(bytes, 0);
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n))!.AsObject();
        edit(header);
        var text = Encoding.UTF8.GetBytes(header.ToJsonString());
        File.WriteAllBytes(path, [.. BitConverter.GetBytes((long)text.Length), .. text, .. bytes[(8 + (int)n)..]]);
    });

    /// <summary>The name of a weight tensor of the masked model (the first in order, not the metadata).</summary>
    public string SomeTensor()
    {
        var bytes = File.ReadAllBytes(System.IO.Path.Combine(fixture.Masked, Checkpoint.WeightsFile));
        var header = JsonNode.Parse(Encoding.UTF8.GetString(bytes, 8, (int)BitConverter.ToInt64(bytes, 0)))!.AsObject();
        return header.Select(kv => kv.Key).Where(k => k != "__metadata__").Order(StringComparer.Ordinal).First();
    }

    /// <summary>A llama2.c checkpoint: stories260K's bytes, the header's int32 at <paramref name="field"/> replaced.</summary>
    public string Llama2cWithHeader(int field, int value)
    {
        var bytes = File.ReadAllBytes(Stories260K.Bin);
        BitConverter.GetBytes(value).CopyTo(bytes, 4 * field);
        return WriteBytes($"llama2c-{field}.bin", bytes);
    }

    public void Dispose() => _tmp.Dispose();
}
