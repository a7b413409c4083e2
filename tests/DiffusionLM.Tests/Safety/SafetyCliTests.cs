using System.Text.Json;
using System.Text.Json.Nodes;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Tests.Cli;
using DiffusionLM.Text;
using Xunit;

namespace DiffusionLM.Tests.Safety;

/// <summary>One test per failure class of issue 12, each on the real command line (in-process).</summary>
[Collection("TorchGlobalState")]
public class SafetyCliTests(TinyModelFixture fixture) : IClassFixture<TinyModelFixture>
{
    static void AssertCleanError((int Code, string Out, string Err) r, string expected)
    {
        Assert.Equal(2, r.Code);
        Assert.StartsWith("error: ", r.Err);
        Assert.Contains(expected, r.Err);
        Assert.DoesNotContain("internal error", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }

    static void EditConfig(string dir, Action<JsonObject> edit)
    {
        var path = Path.Combine(dir, Checkpoint.ConfigFile);
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    // ---- data loss ----

    [Fact]
    public void AnOutputNeverReplacesAForeignFolderOrAnInput()
    {
        using var tmp = new TempFolder();
        var foreign = tmp["notes"];
        Directory.CreateDirectory(foreign);
        File.WriteAllText(Path.Combine(foreign, "notes.txt"), "mine");
        AssertCleanError(CliRunner.Run("export", "hf", "--model", fixture.ModelDir, "--out", foreign, "--force"), "not written by dlm");
        Assert.Equal("mine", File.ReadAllText(Path.Combine(foreign, "notes.txt")));

        AssertCleanError(CliRunner.Run("export", "hf", "--model", fixture.ModelDir, "--out", fixture.ModelDir), "the input");
        AssertCleanError(CliRunner.Run("export", "hf", "--model", fixture.ModelDir, "--out", Path.Combine(fixture.ModelDir, "sub")), "inside the input");
        Assert.True(File.Exists(Path.Combine(fixture.ModelDir, "training_state.json")));

        // Our own output: refused without --force, replaced with it; the manifest names the verb.
        var own = tmp["export"];
        Assert.Equal(0, CliRunner.Run("export", "hf", "--model", fixture.ModelDir, "--out", own).Code);
        Assert.Equal("export hf", OutputFolder.Owner(own));
        AssertCleanError(CliRunner.Run("export", "hf", "--model", fixture.ModelDir, "--out", own), "--force");
        Assert.Equal(0, CliRunner.Run("export", "hf", "--model", fixture.ModelDir, "--out", own, "--force").Code);
        Assert.Empty(Directory.GetDirectories(tmp.Path, ".export.*"));
    }

    [Fact]
    public void TrainRefusesToRestartARunAndResumeHonoursTheNewTotal()
    {
        using var tmp = new TempFolder();
        string[] train = ["train", "--data", fixture.Corpus, "--out", tmp["run"], "--seq-len", "32", "--batch-size", "2", "--vocab-size", "280"];
        Assert.Equal(0, CliRunner.Run([.. train, "--steps", "2"]).Code);
        AssertCleanError(CliRunner.Run([.. train, "--steps", "2"]), "--resume");
        AssertCleanError(CliRunner.Run([.. train, "--resume", "--steps", "4", "--seed", "5"]), "--seed");
        var r = CliRunner.Run([.. train, "--resume", "--steps", "4"]);
        Assert.Equal(0, r.Code);
        Assert.Contains("step 4/4", r.Out);
        Assert.Equal(4, DiffusionLM.Training.TrainingState.Load(tmp["run"]).TrainLoss.Count);
    }

    [Fact]
    public void ASecondWriterIsRefusedWhileTheFirstHoldsTheLock()
    {
        using var tmp = new TempFolder();
        using (OutputFolder.Claim(tmp["out"], "test", OutputFolder.Existing.Refuse))
            AssertCleanError(CliRunner.Run("export", "hf", "--model", fixture.ModelDir, "--out", tmp["out"]), "another dlm process");
        Assert.Equal(0, CliRunner.Run("export", "hf", "--model", fixture.ModelDir, "--out", tmp["out"]).Code);
    }

    [Fact]
    public void StaleTemporaryFoldersOfAKilledWriterAreRemovedAndALostTargetIsPutBack()
    {
        using var tmp = new TempFolder();
        var target = tmp["out"];
        // A dead writer (pid 1 is never one of ours; a pid that cannot exist is dead) left both folders while swapping.
        var old = tmp[".out.old-999999999-abcdef"];
        Directory.CreateDirectory(old);
        File.WriteAllText(Path.Combine(old, "a.txt"), "previous");
        Directory.CreateDirectory(tmp[".out.tmp-999999999-123456"]);
        AtomicDirectory.RecoverStale(target, anyOwner: false);
        Assert.Equal("previous", File.ReadAllText(Path.Combine(target, "a.txt")));
        Assert.Empty(Directory.GetDirectories(tmp.Path, ".out.*"));
    }

    // ---- injection ----

    [Fact]
    public void PromptTextStaysText()
    {
        var r = CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", "@/etc/hostname", "--gen-length", "4", "--steps", "4", "--json");
        Assert.Equal(0, r.Code);
        var (model, tok) = Checkpoint.Load(fixture.ModelDir);
        model.Dispose();
        var ids = JsonDocument.Parse(r.Out).RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal("@/etc/hostname", tok.Decode(ids));

        r = CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", "<|mask|><|mask|> king <|eos|>", "--gen-length", "4", "--steps", "4", "--json");
        Assert.Equal(0, r.Code);
        ids = JsonDocument.Parse(r.Out).RootElement.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.DoesNotContain(tok.Special.MaskId, ids);
        Assert.DoesNotContain(tok.Special.EosId, ids);
        Assert.Equal("<|mask|><|mask|> king <|eos|>", tok.Decode(ids, skipSpecial: false));

        // Special tokens on request, but never a mask.
        AssertCleanError(CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", "<|mask|> king", "--gen-length", "4", "--steps", "4", "--allow-special-tokens"), "mask");
    }

    [Fact]
    public void TheChatTemplatesOwnMarkersStaySpecial()
    {
        var (model, tok) = Checkpoint.Load(fixture.ModelDir);
        model.Dispose();
        var template = new DiffusionLM.Text.Chat.ChatTemplate("<|bos|>{{ messages[0]['content'] }}<|eos|>");
        var ids = PromptEncoder.Encode(tok, "a <|eos|> b", template, allowSpecial: false);
        Assert.Equal(tok.Special.BosId, ids[0]);
        Assert.Equal(tok.Special.EosId, ids[^1]);
        Assert.Single(ids, tok.Special.EosId);
    }

    [Fact]
    public void SpecialTokenStringsInEveryMessageOfAConversationStayText()
    {
        var (model, tok) = Checkpoint.Load(fixture.ModelDir);
        model.Dispose();
        var template = new DiffusionLM.Text.Chat.ChatTemplate(
            "{% for m in messages %}<|bos|>{{ m['role'] }}: {{ m['content'] }}<|eos|>{% endfor %}{% if add_generation_prompt %}<|bos|>assistant: {% endif %}");
        List<DiffusionLM.Text.Chat.ChatMessage> turns = [new("user", "say <|mask|> now"), new("assistant", "no <|eos|> here"), new("user", "<|bos|>again")];
        string Render(IReadOnlyList<DiffusionLM.Text.Chat.ChatMessage> m) => template.Render(m);
        var ids = PromptEncoder.ForConversation(tok, turns, Render, allowSpecial: false);
        // The template's markers: one <|bos|> opening each of the three turns and the assistant's, one <|eos|> closing each turn.
        Assert.Equal(4, ids.Count(i => i == tok.Special.BosId));
        Assert.Equal(3, ids.Count(i => i == tok.Special.EosId));
        Assert.DoesNotContain(tok.Special.MaskId, ids);
        Assert.Equal(Render(turns), tok.Decode(ids, skipSpecial: false));
        // The check can fail: the same conversation encoded as the tokenizer does by itself has the typed specials as ids.
        var raw = tok.Encode(Render(turns));
        Assert.Contains(tok.Special.MaskId, raw);
        Assert.Equal(5, raw.Count(i => i == tok.Special.BosId));
        // A template that changes the contents cannot be told from its markers: refused, never guessed.
        var trimming = new DiffusionLM.Text.Chat.ChatTemplate("{% for m in messages %}<|bos|>{{ m['content'] | trim }}<|eos|>{% endfor %}");
        List<DiffusionLM.Text.Chat.ChatMessage> padded = [new("user", "  a <|eos|> b  ")];
        AssertCleanErrorMessage(() => PromptEncoder.ForConversation(tok, padded, m => trimming.Render(m), allowSpecial: false), "special token");
    }

    static void AssertCleanErrorMessage(Action a, string fragment) => Assert.Contains(fragment, Assert.Throws<DlmException>(a).Message);

    // ---- unbounded work ----

    [Fact]
    public void AHostileChatTemplateIsStoppedWithAnErrorNamingIt()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        var config = Path.Combine(dir, "tokenizer_config.json");
        foreach (var template in new[] { "{% for i in range(1000000000) %}x{% endfor %}", "{{ " + new string('(', 100_000) + "1" + new string(')', 100_000) + " }}",
                     "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s }}", string.Concat(Enumerable.Repeat("{% if true %}", 10_000)) })
        {
            File.WriteAllText(config, new JsonObject { ["chat_template"] = template }.ToJsonString());
            AssertCleanError(CliRunner.Run("generate", "--model", dir, "--chat", "--prompt", "hi", "--gen-length", "4", "--steps", "4"), "tokenizer_config.json");
        }
    }

    [Fact]
    public void HugeConfigDimensionsAreRefusedBeforeAllocation()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        EditConfig(dir, c => c["n_layers"] = 1000);
        AssertCleanError(CliRunner.Run("inspect", "--model", dir), "parameters");
        EditConfig(dir, c => { c["n_layers"] = 100_000_000; });
        AssertCleanError(CliRunner.Run("inspect", "--model", dir), "n_layers");
        EditConfig(dir, c => { c["n_layers"] = 4; c["max_sequence_length"] = int.MaxValue; });
        AssertCleanError(CliRunner.Run("inspect", "--model", dir), "max_sequence_length");
    }

    [Fact]
    public void AFifoIsNeverOpened()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        var weights = Path.Combine(dir, Checkpoint.WeightsFile);
        File.Delete(weights);
        using (var mk = System.Diagnostics.Process.Start("mkfifo", weights)) mk.WaitForExit();
        AssertCleanError(CliRunner.Run("inspect", "--model", dir), "not a regular file");
    }

    [Theory]
    [InlineData("(a+)+$", true)]
    [InlineData("(a|a)*", true)]
    [InlineData("(\\w*)*x", true)]
    [InlineData("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+", false)]
    [InlineData("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", false)]
    public void CatastrophicTokenizerRegexesAreRefusedRealOnesPass(string pattern, bool refused)
        => Assert.Equal(refused, TokenizerPatterns.Problem(pattern) is not null);

    // ---- silent nonsense ----

    [Fact]
    public void NonFiniteWeightsAndBadConfigValuesAreNamed()
    {
        using var tmp = new TempFolder();
        var dir = fixture.CopyTo(tmp);
        var path = Path.Combine(dir, Checkpoint.WeightsFile);
        var tensors = SafeTensors.Load(path);
        var name = tensors.Keys.Order().First();
        tensors[name].view(-1)[0] = float.NaN;
        SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["format"] = "pt" });
        AssertCleanError(CliRunner.Run("generate", "--model", dir, "--prompt", "hi", "--gen-length", "4", "--steps", "4"), name);

        var dir2 = tmp["two"];
        Directory.CreateDirectory(dir2);
        foreach (var f in Directory.GetFiles(fixture.ModelDir)) File.Copy(f, Path.Combine(dir2, Path.GetFileName(f)));
        foreach (var (field, value) in new[] { ("rope_theta", -1.0), ("rms_norm_eps", -1e-5), ("pad_token_id", 1e6) })
        {
            EditConfig(dir2, c => c[field] = value is 1e6 ? (JsonNode)1_000_000 : value);
            AssertCleanError(CliRunner.Run("inspect", "--model", dir2), field);
            File.Copy(Path.Combine(fixture.ModelDir, Checkpoint.ConfigFile), Path.Combine(dir2, Checkpoint.ConfigFile), overwrite: true);
        }
    }

    [Fact]
    public void SafetensorsWithTrailingBytesOrOverlapsAreRefusedAsHuggingFaceDoes()
    {
        using var tmp = new TempFolder();
        var path = tmp["w.safetensors"];
        using (var a = TorchSharp.torch.ones(4)) using (var b = TorchSharp.torch.zeros(2))
            SafeTensors.Save(path, new Dictionary<string, TorchSharp.torch.Tensor> { ["a"] = a, ["b"] = b });
        SafeTensors.ReadHeader(path);
        File.AppendAllText(path, "xx");
        Assert.Contains("trailing", Assert.Throws<DlmException>(() => SafeTensors.ReadHeader(path)).Message);

        // Two tensors over the same bytes.
        var header = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
        var bytes = BitConverter.GetBytes((ulong)header.Length).Concat(System.Text.Encoding.ASCII.GetBytes(header)).Concat(new byte[8]).ToArray();
        File.WriteAllBytes(path, bytes);
        Assert.Contains("overlap", Assert.Throws<DlmException>(() => SafeTensors.ReadHeader(path)).Message);
    }

    [Fact]
    public void OutOfRangeOptionsAreRefused()
    {
        AssertCleanError(CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", "hi", "--sampler", "fast_dllm_threshold", "--threshold", "1.5", "--gen-length", "4", "--steps", "4"), "--threshold");
        AssertCleanError(CliRunner.Run("generate", "--model", fixture.ModelDir, "--prompt", "hi", "--temperature", "NaN", "--gen-length", "4", "--steps", "4"), "--temperature");
        using var tmp = new TempFolder();
        AssertCleanError(CliRunner.Run("train", "--data", fixture.Corpus, "--out", tmp["m"], "--steps", "1", "--lr", "-1"), "--lr");
        Assert.False(Directory.Exists(tmp["m"]));
    }

    // ---- internal errors ----

    [Fact]
    public void FormerInternalErrorsAreOneLineErrors()
    {
        using var tmp = new TempFolder();
        var bin = tmp["model.bin"];
        var header = new[] { 8, 16, 1, 2, 2, int.MinValue, 8 }.SelectMany(BitConverter.GetBytes).ToArray();
        File.WriteAllBytes(bin, header);
        File.WriteAllBytes(tmp["tok.bin"], BitConverter.GetBytes(4));
        AssertCleanError(CliRunner.Run("import", "llama2c", "--checkpoint", bin, "--tokenizer", tmp["tok.bin"], "--out", tmp["out"]), "vocab_size");

        var dir = fixture.CopyTo(tmp);
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), "{\"chat_template\": [{\"name\": \"default\"}]}");
        AssertCleanError(CliRunner.Run("generate", "--model", dir, "--chat", "--prompt", "hi", "--gen-length", "4", "--steps", "4"), "chat_template");

        var typo = CliRunner.Run("generate", "--prompt", "hi", "--gen-lenght", "4");
        Assert.Equal(2, typo.Code);
        Assert.Equal(2, typo.Err.TrimEnd().Split('\n').Length);
        Assert.Contains("see `dlm generate --help`", typo.Err);
    }
}
