using System.Text.Json.Nodes;
using DiffusionLM.Models;
using DiffusionLM.Text.Chat;
using DiffusionLM.Training;

namespace DiffusionLM.Tests.Safety;

/// <summary>The matrix's corrupt files: every kind the command line reads, damaged in the ways a hostile folder would be.</summary>
public static partial class HostileCases
{
    static string[] Inspect(string model) => ["inspect", "--model", model];
    static HostileCase Cfg(string name, string names, Action<JsonObject> edit) => new(name, c => Inspect(c.Config(edit)), names);
    static HostileCase Chat(string name, string names, string tokenizerConfig) =>
        new(name, c => Gen(c.Replace(ChatTemplate.ConfigFile, tokenizerConfig), "--chat"), names);
    static HostileCase Weights(string name, string? names, Action<JsonObject, CaseContext> edit) =>
        new(name, c => Gen(c.Header(h => edit(h, c))), names);

    static string[] Batch(CaseContext c, string lines, params string[] extra) =>
        With(["generate", "--model", c.Masked], ["--gen-length", "4", "--steps", "4"], ["--prompts", c.Write("rows.jsonl", lines), .. extra]);

    static IEnumerable<HostileCase> FileCases() =>
    [
        // config.json
        Cfg("config n_layers a string", "n_layers", c => c["n_layers"] = "four"),
        Cfg("config d_model fractional", "d_model", c => c["d_model"] = 3.5),
        Cfg("config vocab_size negative", "vocab_size", c => c["vocab_size"] = -1),
        Cfg("config n_heads 0", "n_heads", c => c["n_heads"] = 0),
        Cfg("config n_heads not dividing d_model", "n_heads", c => c["n_heads"] = 7),
        Cfg("config n_kv_heads not dividing n_heads", "n_kv_heads", c => c["n_kv_heads"] = 3),
        Cfg("config process unknown", "process", c => c["process"] = "bogus"),
        Cfg("config schedule unknown", "schedule", c => c["schedule"] = "bogus"),
        Cfg("config corruption unknown", "corruption", c => c["corruption"] = "bogus"),
        Cfg("config max_sequence_length 0", "max_sequence_length", c => c["max_sequence_length"] = 0),
        Cfg("config mask_token_id negative", "mask_token_id", c => c["mask_token_id"] = -1),
        Cfg("config mask_token_id beyond the vocabulary", "mask_token_id", c => c["mask_token_id"] = 1_000_000),
        Cfg("config eos_token_id beyond the vocabulary", "eos_token_id", c => c["eos_token_id"] = 1_000_000),
        Cfg("config rope_theta a string", "rope_theta", c => c["rope_theta"] = "NaN"),
        Cfg("config causal a string", "causal", c => c["causal"] = "yes"),
        Cfg("config mlp_hidden_size unlike the weights", "config.json", c => c["mlp_hidden_size"] = c["mlp_hidden_size"]!.GetValue<int>() * 2),
        Cfg("config d_model unlike the weights", "config.json", c => c["d_model"] = c["d_model"]!.GetValue<int>() * 2),
        Cfg("config vocab_size unlike the weights", "model.safetensors", c => c["vocab_size"] = c["vocab_size"]!.GetValue<int>() + 1),
        Cfg("config weight_tying unlike the weights", "model.safetensors", c => c["weight_tying"] = !c["weight_tying"]!.GetValue<bool>()),
        new("config not JSON", c => Inspect(c.Replace(Checkpoint.ConfigFile, "{ not json")), "config.json"),
        new("config an array", c => Inspect(c.Replace(Checkpoint.ConfigFile, "[]")), "config.json"),
        new("config null", c => Inspect(c.Replace(Checkpoint.ConfigFile, "null")), "config.json"),
        new("config empty file", c => Inspect(c.Replace(Checkpoint.ConfigFile, "")), "config.json"),
        new("config missing", c => Inspect(c.Copy(d => File.Delete(Path.Combine(d, Checkpoint.ConfigFile)))), "config.json"),
        // tokenizer.json
        new("tokenizer not JSON", c => Gen(c.Replace(Checkpoint.TokenizerFile, "{ not json")), "tokenizer.json"),
        new("tokenizer an empty object", c => Gen(c.Replace(Checkpoint.TokenizerFile, "{}")), "tokenizer.json"),
        new("tokenizer missing", c => Gen(c.Copy(d => File.Delete(Path.Combine(d, Checkpoint.TokenizerFile)))), "tokenizer.json"),
        new("tokenizer truncated", c => Gen(c.Copy(d =>
        {
            var p = Path.Combine(d, Checkpoint.TokenizerFile);
            var t = File.ReadAllText(p);
            File.WriteAllText(p, t[..(t.Length / 2)]);
        })), "tokenizer.json"),
        new("tokenizer vocab a list", c => Gen(c.Copy(d => EditJson(Path.Combine(d, Checkpoint.TokenizerFile), t => t["model"]!["vocab"] = new JsonArray(1, 2)))), "tokenizer.json"),
        new("tokenizer merges of numbers", c => Gen(c.Copy(d => EditJson(Path.Combine(d, Checkpoint.TokenizerFile), t => t["model"]!["merges"] = new JsonArray(1, 2)))), "tokenizer.json"),
        new("tokenizer model null", c => Gen(c.Copy(d => EditJson(Path.Combine(d, Checkpoint.TokenizerFile), t => t["model"] = null))), "tokenizer.json"),
        // tokenizer_config.json
        Chat("chat_template a list without template", "chat_template", "{\"chat_template\": [{\"name\": \"default\"}]}"),
        Chat("chat_template a number", "chat_template", "{\"chat_template\": 5}"),
        Chat("chat_template a list with a numeric template", "chat_template", "{\"chat_template\": [{\"name\": \"default\", \"template\": 5}]}"),
        Chat("chat_template an unknown filter", "tokenizer_config.json", "{\"chat_template\": \"{{ messages[0]['content'] | bogusfilter }}\"}"),
        Chat("chat_template a broken tag", "tokenizer_config.json", "{\"chat_template\": \"{% if %}\"}"),
        Chat("chat_template indexing past the messages", "tokenizer_config.json", "{\"chat_template\": \"{{ messages[5]['content'] }}\"}"),
        Chat("tokenizer_config not JSON", "tokenizer_config.json", "{ not json"),
        Chat("tokenizer_config an array", "tokenizer_config.json", "[1]"),
        // model.safetensors
        new("weights empty file", c => Gen(c.Copy(d => File.WriteAllBytes(Path.Combine(d, Checkpoint.WeightsFile), []))), "model.safetensors"),
        new("weights header length huge", c => Gen(c.Copy(d => File.WriteAllBytes(Path.Combine(d, Checkpoint.WeightsFile), [.. BitConverter.GetBytes(long.MaxValue), .. new byte[16]]))), "model.safetensors"),
        new("weights header not JSON", c => Gen(c.Copy(d => File.WriteAllBytes(Path.Combine(d, Checkpoint.WeightsFile), [.. BitConverter.GetBytes(4L), .. "{ no"u8.ToArray()]))), "model.safetensors"),
        new("weights header an array", c => Gen(c.Copy(d => File.WriteAllBytes(Path.Combine(d, Checkpoint.WeightsFile), [.. BitConverter.GetBytes(2L), .. "[]"u8.ToArray()]))), "model.safetensors"),
        Weights("weights dtype unknown", "F99", (h, c) => h[c.SomeTensor()]!["dtype"] = "F99"),
        Weights("weights dtype a number", "model.safetensors", (h, c) => h[c.SomeTensor()]!["dtype"] = 7),
        Weights("weights shape negative", "model.safetensors", (h, c) => h[c.SomeTensor()]!["shape"] = new JsonArray(-1, 4)),
        Weights("weights offsets negative", "model.safetensors", (h, c) => h[c.SomeTensor()]!["data_offsets"] = new JsonArray(-8, 0)),
        Weights("weights offsets reversed", "model.safetensors", (h, c) => h[c.SomeTensor()]!["data_offsets"] = new JsonArray(8, 0)),
        Weights("weights tensor missing", "wte", (h, c) =>
        {
            var name = h.Select(kv => kv.Key).First(k => k.Contains("wte"));
            var t = h[name]!.DeepClone();
            h.Remove(name);
            h["unrelated.weight"] = t;
        }),
        // The format's metadata is a map of strings: Hugging Face's reader refuses a number there, and so does ours.
        Weights("weights metadata not strings", "__metadata__", (h, c) => h["__metadata__"] = new JsonObject { ["format"] = 5 }),
        // unigram.json and training_state.json
        new("unigram corrupt", c => Probe(c, c.Replace(Checkpoint.UnigramFile, "{ no")), "unigram.json"),
        new("unigram of the wrong length", c => Probe(c, c.Replace(Checkpoint.UnigramFile, "[1, 2, 3]")), "unigram.json"),
        // prompt files
        new("probe prompts empty", c => Probe(c, c.Masked, "--prompts", c.Write("empty.txt", "")), "empty.txt"),
        new("probe prompts blank lines only", c => Probe(c, c.Masked, "--prompts", c.Write("blank.txt", "\n\n  \n")), "blank.txt"),
        new("probe prompts malformed JSONL", c => Probe(c, c.Masked, "--prompts", c.Write("bad.jsonl", "{\"prompt\": \"a\"\n")), "bad.jsonl"),
        new("probe prompts JSONL without a prompt field", c => Probe(c, c.Masked, "--prompts", c.Write("x.jsonl", "{\"x\": 1}\n")), "x.jsonl"),
        new("probe prompts JSONL prompt a number", c => Probe(c, c.Masked, "--prompts", c.Write("n.jsonl", "{\"prompt\": 5}\n")), "n.jsonl"),
        new("probe prompts JSONL turns empty", c => Probe(c, c.Masked, "--prompts", c.Write("t.jsonl", "{\"turns\": []}\n")), "t.jsonl"),
        new("probe prompts missing", c => Probe(c, c.Masked, "--prompts", c.Path("nowhere.txt")), "nowhere.txt"),
        new("probe prompts a huge line (cut, as by default)", c => Probe(c, c.Masked, "--prompts", c.Write("huge.txt", string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 8000)) + "\n")), null),
        new("probe out is a file", c => Probe(c, c.Masked, "--out", c.Write("afile", "x")), "afile"),
        new("batch prompts empty", c => Batch(c, ""), "rows.jsonl"),
        new("batch prompts malformed line", c => Batch(c, "{\"prompt\": \"a\"}\n{\"prompt\": \n"), "rows.jsonl"),
        new("batch gen_length a string", c => Batch(c, "{\"prompt\": \"a\", \"gen_length\": \"four\"}\n"), "gen_length"),
        new("batch steps negative", c => Batch(c, "{\"prompt\": \"a\", \"steps\": -3}\n"), "steps"),
        new("batch block_length not dividing", c => Batch(c, "{\"prompt\": \"a\", \"gen_length\": 4, \"block_length\": 3}\n"), "block_length"),
        new("batch sampler of another family", c => Batch(c, "{\"prompt\": \"a\", \"sampler\": \"uniform_ancestral\"}\n"), "uniform_ancestral"),
        new("batch temperature beyond float64", c => Batch(c, "{\"prompt\": \"a\", \"temperature\": 1e999}\n"), "temperature"),
        new("batch threshold above 1", c => Batch(c, "{\"prompt\": \"a\", \"sampler\": \"fast_dllm_threshold\", \"threshold\": 2}\n"), "threshold"),
        new("batch cache unknown", c => Batch(c, "{\"prompt\": \"a\", \"cache\": \"bogus\"}\n"), "cache"),
        new("batch prompt a number", c => Batch(c, "{\"prompt\": 5}\n"), "prompt"),
        new("batch line an array", c => Batch(c, "[1, 2]\n"), "rows.jsonl"),
        new("batch num-samples 0", c => Batch(c, "{\"prompt\": \"a\"}\n", "--num-samples", "0"), "--num-samples"),
        new("batch batch-size 0", c => Batch(c, "{\"prompt\": \"a\"}\n", "--batch-size", "0"), "--batch-size"),
        new("batch out is a folder", c => Batch(c, "{\"prompt\": \"a\"}\n", "--out", c.Path("")), "dlm-test-"),
        // eval data and choices
        new("eval data missing", c => ["eval", "--model", c.Masked, "--data", c.Path("nowhere.txt")], "nowhere.txt"),
        new("eval data empty", c => ["eval", "--model", c.Masked, "--data", c.Write("e.txt", "")], "e.txt"),
        new("eval choices malformed", c => ["eval", "--model", c.Masked, "--choices", c.Write("ch.jsonl", "{\"prompt\": ")], "ch.jsonl"),
        new("eval choices empty file", c => ["eval", "--model", c.Masked, "--choices", c.Write("ch.jsonl", "")], "ch.jsonl"),
        new("eval choices answer out of range", c => ["eval", "--model", c.Masked, "--choices", c.Write("ch.jsonl", "{\"prompt\": \"a\", \"choices\": [\"b\", \"c\"], \"answer\": 5}\n")], "answer"),
        new("eval choices list empty", c => ["eval", "--model", c.Masked, "--choices", c.Write("ch.jsonl", "{\"prompt\": \"a\", \"choices\": []}\n")], "choices"),
        new("eval choices prompt a number", c => ["eval", "--model", c.Masked, "--choices", c.Write("ch.jsonl", "{\"prompt\": 5, \"choices\": [\"b\", \"c\"]}\n")], "prompt"),
        new("eval choices answer a list", c => ["eval", "--model", c.Masked, "--choices", c.Write("ch.jsonl", "{\"prompt\": \"a\", \"choices\": [\"b\", \"c\"], \"answer\": [1]}\n")], "answer"),
        // score samples
        new("score data missing", c => ["score", "--data", c.Path("nowhere.jsonl")], "nowhere.jsonl"),
        new("score data malformed", c => ["score", "--data", c.Write("s.jsonl", "{\"text\": ")], "s.jsonl"),
        new("score data wrong fields", c => ["score", "--data", c.Write("s.jsonl", "{\"x\": 1}\n")], "s.jsonl"),
        // outputs pointing at files
        new("export hf out is a file", c => ["export", "hf", "--model", c.Masked, "--out", c.Write("afile", "x")], "afile"),
        new("export gguf out is a folder", c => ["export", "gguf", "--model", c.Masked, "--out", c.Path("")], "dlm-test-"),
    ];

    static void EditJson(string path, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(node);
        File.WriteAllText(path, node.ToJsonString());
    }

    static string[] Llama2c(CaseContext c, string bin, string tok, string? @out = null) =>
        ["import", "llama2c", "--checkpoint", bin, "--tokenizer", tok, "--out", @out ?? c.Path("imported")];

    static IEnumerable<HostileCase> ImportCases() =>
    [
        new("llama2c vocabulary -2^31", c => Llama2c(c, c.Llama2cWithHeader(5, int.MinValue), Stories260K.Tok), "vocab_size"),
        new("llama2c dim 0", c => Llama2c(c, c.Llama2cWithHeader(0, 0), Stories260K.Tok), "dim"),
        new("llama2c n_heads 0", c => Llama2c(c, c.Llama2cWithHeader(3, 0), Stories260K.Tok), "n_heads"),
        new("llama2c n_layers negative", c => Llama2c(c, c.Llama2cWithHeader(2, -4), Stories260K.Tok), "n_layers"),
        new("llama2c seq_len huge", c => Llama2c(c, c.Llama2cWithHeader(6, int.MaxValue), Stories260K.Tok), "seq_len"),
        new("llama2c checkpoint truncated", c => Llama2c(c, c.WriteBytes("cut.bin", File.ReadAllBytes(Stories260K.Bin)[..1000]), Stories260K.Tok), "cut.bin"),
        new("llama2c checkpoint 10 bytes", c => Llama2c(c, c.WriteBytes("tiny.bin", new byte[10]), Stories260K.Tok), "tiny.bin"),
        new("llama2c checkpoint missing", c => Llama2c(c, c.Path("nowhere.bin"), Stories260K.Tok), "nowhere.bin"),
        new("llama2c tokenizer missing", c => Llama2c(c, Stories260K.Bin, c.Path("notok.bin")), "notok.bin"),
        new("llama2c tokenizer truncated", c => Llama2c(c, Stories260K.Bin, c.WriteBytes("tok.bin", File.ReadAllBytes(Stories260K.Tok)[..300])), "tok.bin"),
        new("llama2c tokenizer max_token_length negative", c => Llama2c(c, Stories260K.Bin, c.WriteBytes("tok.bin", BitConverter.GetBytes(-1))), "tok.bin"),
        new("llama2c tokenizer token length negative", c => Llama2c(c, Stories260K.Bin, c.WriteBytes("tok.bin", [.. BitConverter.GetBytes(16), .. BitConverter.GetBytes(0f), .. BitConverter.GetBytes(-1)])), "tok.bin"),
        new("llama2c tokenizer score NaN", c =>
        {
            var bytes = File.ReadAllBytes(Stories260K.Tok);
            BitConverter.GetBytes(float.NaN).CopyTo(bytes, 4);
            return Llama2c(c, Stories260K.Bin, c.WriteBytes("tok.bin", bytes));
        }, "tok.bin"),
        new("llama2c out is a file", c => Llama2c(c, Stories260K.Bin, Stories260K.Tok, c.Write("afile", "x")), "afile"),
        new("import hf from a missing folder", c => ["import", "hf", "--from", c.Path("nowhere"), "--out", c.Path("imported")], "nowhere"),
        new("import hf config of the wrong type", c => ["import", "hf", "--from", Path.GetDirectoryName(c.Write("hf/config.json", "[1]"))!, "--out", c.Path("imported")], "config.json"),
    ];

    static string[] Train(CaseContext c, params string[] extra) =>
        With(["train"], ["--data", c.Corpus, "--out", c.Path("run"), "--steps", "1", "--seq-len", "32", "--batch-size", "2", "--vocab-size", "280"], extra);

    static HostileCase T(string name, string names, params string[] extra) => new(name, c => Train(c, extra), names);

    static IEnumerable<HostileCase> TrainCases() =>
    [
        T("train steps 0", "--steps", "--steps", "0"),
        T("train steps negative", "--steps", "--steps", "-1"),
        T("train batch-size 0", "--batch-size", "--batch-size", "0"),
        T("train seq-len 1", "--seq-len", "--seq-len", "1"),
        T("train vocab-size 0", "--vocab-size", "--vocab-size", "0"),
        // A cap, not a demand: the tokenizer learns the merges the corpus has and stops.
        new("train vocab-size beyond what the corpus holds (a cap)", c => Train(c, "--vocab-size", "100000000"), null),
        T("train preset unknown", "bogus", "--preset", "bogus"),
        T("train process unknown", "bogus", "--process", "bogus"),
        T("train schedule unknown", "bogus", "--schedule", "bogus"),
        T("train corruption unknown", "bogus", "--corruption", "bogus"),
        T("train sft-cut unknown", "bogus", "--sft", "--sft-cut", "bogus"),
        T("train minutes negative", "--minutes", "--minutes", "-1"),
        T("train minutes NaN", "--minutes", "--minutes", "NaN"),
        T("train lr NaN", "--lr", "--lr", "NaN"),
        T("train eval-interval 0", "--eval-interval", "--eval-interval", "0"),
        T("train save-interval negative", "--save-interval", "--save-interval", "-1"),
        T("train threads 0", "--threads", "--threads", "0"),
        T("train heads 0", "--heads", "--heads", "0"),
        T("train d-model not divisible by heads", "--heads", "--d-model", "30", "--heads", "4"),
        new("train data missing", c => Train(c, "--data", c.Path("nowhere.txt")), "nowhere.txt"),
        new("train data empty", c => Train(c, "--data", c.Write("e.txt", "")), "e.txt"),
        new("train data a folder", c => Train(c, "--data", c.Path("")), "dlm-test-"),
        new("train sft data with wrong fields", c => Train(c, "--sft", "--data", c.Write("sft.jsonl", "{\"x\": 1}\n{\"y\": 2}\n")), "sft.jsonl"),
        new("train sft data malformed", c => Train(c, "--sft", "--data", c.Write("sft.jsonl", "{\"prompt\": ")), "sft.jsonl"),
        new("train tokenizer missing", c => Train(c, "--tokenizer", c.Path("notok.json")), "notok.json"),
        new("train tokenizer corrupt", c => Train(c, "--tokenizer", c.Write("tok.json", "{ no")), "tok.json"),
        new("train init-from missing", c => Train(c, "--init-from", c.Path("noinit")), "noinit"),
        new("train out is a file", c => Train(c, "--out", c.Write("afile", "x")), "afile"),
        new("train resume with a corrupt training state", c =>
        {
            var run = c.Copy(d => File.WriteAllText(Path.Combine(d, TrainingState.File), "{ no"));
            return Train(c, "--out", run, "--resume", "--steps", "4");
        }, TrainingState.File),
    ];
}
