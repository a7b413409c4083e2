using System.Text.Json.Serialization;
using DiffusionLM.Models;

namespace DiffusionLM.Training;

/// <summary>Everything that determines a training run; saved in the checkpoint so --resume replays it exactly.</summary>
public sealed record TrainingOptions
{
    [JsonPropertyName("data")] public string[] Data { get; init; } = [];
    [JsonPropertyName("preset")] public string Preset { get; init; } = "tiny";
    [JsonPropertyName("steps")] public int? Steps { get; init; }
    [JsonPropertyName("minutes")] public double? Minutes { get; init; }
    [JsonPropertyName("seed")] public long Seed { get; init; } = 0;
    [JsonPropertyName("batch_size")] public int? BatchSize { get; init; }
    [JsonPropertyName("seq_len")] public int? SeqLen { get; init; }
    [JsonPropertyName("learning_rate")] public double? LearningRate { get; init; }
    [JsonPropertyName("warmup_steps")] public int? WarmupSteps { get; init; }
    [JsonPropertyName("grad_clip")] public double GradClip { get; init; } = 1.0;
    [JsonPropertyName("eval_interval")] public int EvalInterval { get; init; } = 100;
    [JsonPropertyName("eval_windows")] public int EvalWindows { get; init; } = 32;
    [JsonPropertyName("save_interval")] public int SaveInterval { get; init; } = 500;
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 2048;
    [JsonPropertyName("schedule")] public string Schedule { get; init; } = "linear";
    /// <summary>The diffusion family: masked (absorbing), uniform or gaussian (noise on embeddings).</summary>
    [JsonPropertyName("process")] public DiffusionProcess Process { get; init; } = DiffusionProcess.Masked;
    /// <summary>The masked process's corruption (<see cref="MaskedCorruption"/>); the uniform one is LLaDA's.</summary>
    [JsonPropertyName("corruption")] public MaskedCorruption Corruption { get; init; } = MaskedCorruption.Uniform;
    [JsonPropertyName("sft")] public bool Sft { get; init; }
    /// <summary>Where SFT pairs are cut: "any" token, or "sentence" ends (see <see cref="SentenceBoundaries"/>).</summary>
    [JsonPropertyName("sft_cut")] public string SftCut { get; init; } = "any";
    /// <summary>SFT: the shortest answer before its eos padding, in tokens.</summary>
    [JsonPropertyName("min_answer")] public int MinAnswer { get; init; } = 1;
    /// <summary>SFT: "plain" (prompt then answer) or "qa" ("Q: prompt\nA:" then answer; see <see cref="QaFormat"/>).</summary>
    [JsonPropertyName("sft_format")] public string SftFormat { get; init; } = "plain";
    [JsonPropertyName("time_conditioning")] public bool TimeConditioning { get; init; }
    [JsonPropertyName("tokenizer")] public string? Tokenizer { get; init; }
    /// <summary>A causal model folder to start from, Dream-style (see <see cref="Teacher.DreamInit"/>); its tokenizer gains a mask.</summary>
    [JsonPropertyName("init_from")] public string? InitFrom { get; init; }
    /// <summary>Model-size overrides of the preset (null: the preset's).</summary>
    [JsonPropertyName("d_model")] public int? DModel { get; init; }
    [JsonPropertyName("n_layers")] public int? Layers { get; init; }
    [JsonPropertyName("n_heads")] public int? Heads { get; init; }
    [JsonPropertyName("n_kv_heads")] public int? KvHeads { get; init; }
    [JsonPropertyName("mlp_hidden_size")] public int? Mlp { get; init; }
    /// <summary>The decay of an exponential moving average of the weights (<see cref="WeightAverage"/>); null: none.</summary>
    [JsonPropertyName("ema")] public double? Ema { get; init; }
}

/// <summary>Model sizes and their training defaults.</summary>
public sealed record Preset(string Name, int DModel, int NLayers, int NHeads, int NKvHeads, int MlpHidden, int SeqLen, int BatchSize, double LearningRate, int WarmupSteps)
{
    public static readonly Preset Tiny = new("tiny", 128, 4, 4, 2, 352, 128, 16, 2e-3, 50);
    public static readonly Preset Small = new("small", 256, 4, 4, 2, 688, 256, 16, 1e-3, 100);

    public static Preset FromName(string name) => name switch
    {
        "tiny" => Tiny,
        "small" => Small,
        _ => throw new DlmException($"unknown preset \"{name}\" (expected tiny or small)"),
    };

    /// <param name="process">null: the masked process.</param>
    public ModelConfig ToConfig(int vocabSize, int seqLen, Text.SpecialTokens special, string schedule, bool timeConditioning, DiffusionProcess? process = null)
    {
        process ??= DiffusionProcess.Masked;
        return new()
        {
            DModel = DModel, NLayers = NLayers, NHeads = NHeads, NKvHeads = NKvHeads, MlpHiddenSize = MlpHidden,
            VocabSize = vocabSize, MaxSequenceLength = seqLen, RopeTheta = 10000.0,
            MaskTokenId = special.MaskId, EosTokenId = special.EosId, PadTokenId = special.PadId, BosTokenId = special.BosId,
            Schedule = schedule, TimeConditioning = timeConditioning || process.Continuous, Process = process,
            // The gaussian process diffuses D = 64 normalised embeddings between σ = 1 and 100 (Corruption/GaussianSchedule).
            EmbeddingDim = process.Continuous ? 64 : null,
            SigmaMin = process.Continuous ? 1.0 : null,
            SigmaMax = process.Continuous ? 100.0 : null,
        };
    }
}
