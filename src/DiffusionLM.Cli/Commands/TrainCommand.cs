using System.CommandLine;
using DiffusionLM.Cli.Terminal;
using DiffusionLM.IO;
using DiffusionLM.Models;
using DiffusionLM.Training;

namespace DiffusionLM.Cli.Commands;

public static class TrainCommand
{
    public static Command Create()
    {
        var data = new Option<string[]>("--data") { Description = "training files: UTF-8 text, or JSON Lines of {\"text\": ...} documents (.jsonl, .jsonl.gz, as teacher-corpus writes; each document starts with <bos>); the last 5% of each file (of its documents) is held out for validation", AllowMultipleArgumentsPerToken = true, Required = true };
        var outDir = new Option<string>("--out") { Description = "checkpoint folder to write (and to continue with --resume)", Required = true };
        var preset = new Option<string>("--preset") { Description = "model size: tiny (d=128, 4 layers, context 128) or small (d=256, 4 layers, context 256)", DefaultValueFactory = _ => "tiny" };
        var steps = new Option<int?>("--steps") { Description = "optimizer steps to train" };
        var minutes = new Option<double?>("--minutes") { Description = "train for about this long instead of --steps (the step count is fixed after 5 steps and saved)" };
        var seed = new Option<long>("--seed") { Description = "seed of every random draw (init, batches, masks)", DefaultValueFactory = _ => 0 };
        var resume = new Option<bool>("--resume") { Description = "continue the run saved in --out exactly (same batches, same masks, same loss curve)" };
        var batch = new Option<int?>("--batch-size") { Description = "sequences per step (default: the preset's)" };
        var seqLen = new Option<int?>("--seq-len") { Description = "context length (default: the preset's)" };
        var lr = new Option<double?>("--lr") { Description = "peak learning rate (default: the preset's); warm-up then cosine decay" };
        var vocab = new Option<int>("--vocab-size") { Description = "size of the byte-level BPE vocabulary trained on --data", DefaultValueFactory = _ => 2048 };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "use this tokenizer.json instead of training one (a llama2.c tokenizer gains a mask token after its pieces; its ids are unchanged)" };
        var initFrom = new Option<string?>("--init-from") { Description = "start from this causal model folder, Dream-style: its weights, attention made bidirectional, logits shifted by one, a mask row appended (the mean of the embedding rows); its tokenizer plus the mask" };
        var dModel = new Option<int?>("--d-model") { Description = "hidden size (default: the preset's)" };
        var layers = new Option<int?>("--layers") { Description = "transformer blocks (default: the preset's)" };
        var heads = new Option<int?>("--heads") { Description = "attention heads (default: the preset's)" };
        var kvHeads = new Option<int?>("--kv-heads") { Description = "key/value heads, a divisor of --heads (default: the preset's)" };
        var mlp = new Option<int?>("--mlp") { Description = "SwiGLU hidden size (default: the preset's)" };
        var schedule = new Option<string>("--schedule") { Description = "masking schedule: linear (LLaDA, α_t = 1 − t) or loglinear (MDLM)", DefaultValueFactory = _ => "linear" };
        var process = new Option<string>("--process") { Description = "diffusion family: " + DiffusionProcess.Help, DefaultValueFactory = _ => DiffusionProcess.Masked.Spelling };
        var corruption = new Option<string>("--corruption") { Description = $"with --process {DiffusionProcess.Masked}: {MaskedCorruption.Help}; README lists the formulas", DefaultValueFactory = _ => MaskedCorruption.Uniform.Spelling };
        var sft = new Option<bool>("--sft") { Description = "SFT-style pairs: a prompt that is never masked, a continuation of random length, eos padding that is part of the answer" };
        var sftCut = new Option<string>("--sft-cut") { Description = "with --sft: cut pairs at any token, or at sentence ends (prompt ends with . ? or !, the answer starts at the next word): what a question-and-answer probe expects", DefaultValueFactory = _ => "any" };
        var minAnswer = new Option<int>("--min-answer") { Description = "with --sft: the shortest answer in tokens before its eos padding (answer lengths are uniform from this to the rest of the window)", DefaultValueFactory = _ => 1 };
        var sftFormat = new Option<string>("--sft-format") { Description = "with --sft: plain (prompt, then answer) or qa (\"Q: prompt\\nA:\" then the answer; the model is saved with that chat template, which generate --chat and probe use)", DefaultValueFactory = _ => "plain" };
        var timeCond = new Option<bool>("--time-conditioning") { Description = "give the denoiser the diffusion time t (LLaDA does not)" };
        var threads = new Option<int?>("--threads") { Description = "torch threads (default: libtorch's, one per core); 1 is often as fast for models under a few million parameters" };
        var ema = new Option<double?>("--ema") { Description = "keep an exponential moving average of the weights with this decay (MDLM: 0.9999; short runs: 0.999), warmed up as MDLM's (min(decay, (1+n)/(10+n)) at update n); the saved model is the average, validation reports both" };
        var evalEvery = new Option<int>("--eval-interval") { Description = "steps between validation losses", DefaultValueFactory = _ => 100 };
        var saveEvery = new Option<int>("--save-interval") { Description = "steps between checkpoints", DefaultValueFactory = _ => 500 };
        var force = OutputOptions.Force("start a new run over a folder that holds one (without it, such a folder is refused)");

        var cmd = new Command("train", "Train a diffusion LM (masked, uniform or gaussian) on text files. Ctrl-C saves a checkpoint; --resume continues it.")
        {
            data, outDir, preset, initFrom, dModel, layers, heads, kvHeads, mlp, steps, minutes, seed, resume, batch, seqLen, lr, vocab, tokenizer, process, corruption, schedule, sft, sftCut, minAnswer, sftFormat, timeCond, ema, evalEvery, saveEvery, threads, force,
        };
        cmd.SetAction(r => Io.Guard(() =>
        {
            if (r.GetValue(schedule) is not ("linear" or "loglinear") and var badSchedule)
                throw new DlmException($"--schedule \"{badSchedule}\": expected linear or loglinear");
            var options = new TrainingOptions
            {
                Data = r.GetValue(data)!.Select(Path.GetFullPath).ToArray(),
                Preset = r.GetValue(preset)!, Steps = r.GetValue(steps), Minutes = r.GetValue(minutes), Seed = r.GetValue(seed),
                BatchSize = r.GetValue(batch), SeqLen = r.GetValue(seqLen), LearningRate = r.GetValue(lr), VocabSize = r.GetValue(vocab),
                Tokenizer = r.GetValue(tokenizer), Schedule = r.GetValue(schedule)!, Process = DiffusionProcess.Parse(r.GetValue(process)), Corruption = MaskedCorruption.Parse(r.GetValue(corruption)), Sft = r.GetValue(sft), SftCut = r.GetValue(sftCut)!, MinAnswer = r.GetValue(minAnswer), SftFormat = r.GetValue(sftFormat)!, TimeConditioning = r.GetValue(timeCond),
                EvalInterval = r.GetValue(evalEvery), SaveInterval = r.GetValue(saveEvery),
                InitFrom = r.GetValue(initFrom) is string init ? Path.GetFullPath(init) : null,
                DModel = r.GetValue(dModel), Layers = r.GetValue(layers), Heads = r.GetValue(heads), KvHeads = r.GetValue(kvHeads), Mlp = r.GetValue(mlp),
                Ema = r.GetValue(ema),
            };
            if (r.GetValue(threads) is int n)
            {
                if (n <= 0) throw new DlmException($"--threads must be positive (got {n})");
                TorchSharp.torch.set_num_threads(n);
            }
            if (options.EvalInterval <= 0 || options.SaveInterval <= 0) throw new DlmException("--eval-interval and --save-interval must be positive");
            if (options.VocabSize < 260) throw new DlmException($"--vocab-size {options.VocabSize} is too small (256 bytes + 4 special tokens at least)");
            OptionRanges.Positive("--lr", options.LearningRate);
            OptionRanges.Positive("--minutes", options.Minutes);
            if (options.Ema is { } decay && !(decay > 0 && decay < 1)) throw new DlmException($"--ema {decay}: the decay must be between 0 and 1 (exclusive); MDLM uses 0.9999");
            var outPath = r.GetValue(outDir)!;
            bool isResume = r.GetValue(resume);
            var budget = TrainResume.Check(r, outPath, isResume, r.GetValue(force), options,
            [
                (data, o => o.Data), (preset, o => o.Preset), (seed, o => o.Seed), (batch, o => o.BatchSize), (seqLen, o => o.SeqLen), (lr, o => o.LearningRate),
                (vocab, o => o.VocabSize), (tokenizer, o => o.Tokenizer), (process, o => o.Process), (schedule, o => o.Schedule), (sft, o => o.Sft),
                (sftCut, o => o.SftCut), (minAnswer, o => o.MinAnswer), (sftFormat, o => o.SftFormat), (timeCond, o => o.TimeConditioning),
                (evalEvery, o => o.EvalInterval), (saveEvery, o => o.SaveInterval), (ema, o => o.Ema),
            ]);
            using var output = OutputFolder.Claim(outPath, "train", isResume ? OutputFolder.Existing.Continue : r.GetValue(force) ? OutputFolder.Existing.Replace : OutputFolder.Existing.Refuse,
                [.. options.Data, options.Tokenizer]);
            using var stop = new StopSignals();
            var state = TrainingView.Run(on => new Trainer { OnProgress = on, NewBudget = budget }.Run(options, outPath, isResume, stop.Token));
            var lastVal = state.ValLoss.LastOrDefault();
            Io.Out.WriteLine($"saved {outPath} at step {state.Step}/{state.TotalSteps}" +
                (lastVal is null ? "" : $"; validation loss {lastVal.Loss:F4} (ELBO, nats/token)") +
                (state.EmaValLoss.LastOrDefault() is { } averaged ? $", the saved average's {averaged.Loss:F4}" : ""));
            return stop.Stopped ? 130 : 0;
        }));
        return cmd;
    }
}
