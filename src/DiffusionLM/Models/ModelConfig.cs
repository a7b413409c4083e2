using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace DiffusionLM.Models;

/// <summary>
/// The architecture of a Llama-style denoiser, stored as config.json. Field names follow LLaDA's
/// Hugging Face config (d_model, n_heads, n_kv_heads, mlp_hidden_size, ...) so that our checkpoints
/// and LLaDA's read the same way.
/// </summary>
public sealed record ModelConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llada";
    [JsonPropertyName("d_model")] public int DModel { get; init; }
    [JsonPropertyName("n_heads")] public int NHeads { get; init; }
    [JsonPropertyName("n_kv_heads")] public int NKvHeads { get; init; }
    [JsonPropertyName("n_layers")] public int NLayers { get; init; }
    [JsonPropertyName("mlp_hidden_size")] public int MlpHiddenSize { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("max_sequence_length")] public int MaxSequenceLength { get; init; }
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-5;
    [JsonPropertyName("weight_tying")] public bool WeightTying { get; init; }
    [JsonPropertyName("mask_token_id")] public int MaskTokenId { get; init; }
    [JsonPropertyName("eos_token_id")] public int EosTokenId { get; init; }
    [JsonPropertyName("pad_token_id")] public int PadTokenId { get; init; }
    [JsonPropertyName("bos_token_id")] public int BosTokenId { get; init; }
    /// <summary>False (default): bidirectional attention, as a diffusion denoiser. True: causal, as an autoregressive LM.</summary>
    [JsonPropertyName("causal")] public bool Causal { get; init; }
    /// <summary>Adds a sinusoidal embedding of the diffusion time to the token embeddings.</summary>
    [JsonPropertyName("time_conditioning")] public bool TimeConditioning { get; init; }
    /// <summary>The forward process the model was trained with (<see cref="DiffusionProcess"/>: its spelling in config.json).</summary>
    [JsonPropertyName("process")] public DiffusionProcess Process { get; init; } = DiffusionProcess.Masked;
    /// <summary>
    /// The masked process's corruption (<see cref="Models.MaskedCorruption"/>); null is the uniform one (LLaDA's) and is
    /// absent from config.json, so the files of models trained before corruptions existed read unchanged.
    /// </summary>
    [JsonPropertyName("corruption"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public MaskedCorruption? Corruption { get; init; }
    /// <summary>The corruption of a masked model, the uniform one when none is recorded.</summary>
    [JsonIgnore] public MaskedCorruption EffectiveCorruption => Corruption ?? MaskedCorruption.Uniform;
    /// <summary>The noise schedule of the process: "linear" (LLaDA) or "loglinear" (MDLM).</summary>
    [JsonPropertyName("schedule")] public string Schedule { get; init; } = "linear";
    /// <summary>
    /// Dream-style shifted logits: the network's output at position i−1 is the prediction for token i
    /// (an autoregressive model's habit, kept when a causal model is turned into a denoiser);
    /// <see cref="LladaModel"/> shifts them back so that callers always see position i predicting token i.
    /// Position 0 reuses the output at position 0, as Dream's generation code does.
    /// </summary>
    [JsonPropertyName("logits_shift")] public bool LogitsShift { get; init; }

    // The gaussian (continuous) process only; absent from other models' config.json. See Corruption/GaussianSchedule.
    /// <summary>Width D of the normalised token embeddings the gaussian process diffuses (default 64).</summary>
    [JsonPropertyName("embedding_dim"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public int? EmbeddingDim { get; init; }
    /// <summary>Noise level σ at t = 0 of the gaussian process (default 1, as CDCD).</summary>
    [JsonPropertyName("sigma_min"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? SigmaMin { get; init; }
    /// <summary>Noise level σ at t = 1 of the gaussian process (default 100).</summary>
    [JsonPropertyName("sigma_max"), JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? SigmaMax { get; init; }

    /// <summary>True for a model of the gaussian process: it reads noisy embeddings, not ids (see <see cref="IContinuousDenoiser"/>).</summary>
    [JsonIgnore] public bool IsGaussian => Process.Continuous;
    [JsonIgnore] public int DiffusionDim => EmbeddingDim ?? 64;

    [JsonIgnore] public int HeadDim => DModel / NHeads;

    public const int MaxDModel = 1 << 16, MaxLayers = 1024, MaxMlpHidden = 1 << 18, MaxVocab = 1 << 22, MaxContext = 1 << 17;

    /// <summary>
    /// A lower bound of the parameter count of this architecture (embedding, attention and MLP matrices; norms and
    /// extras left out): the weights file must hold at least this many elements, checked before anything is allocated.
    /// </summary>
    [JsonIgnore] public double MinimumParameters =>
        (double)VocabSize * DModel + (double)NLayers * ((double)DModel * DModel * 2 + 3.0 * DModel * MlpHiddenSize);

    static readonly string[] Required =
        ["d_model", "n_heads", "n_kv_heads", "n_layers", "mlp_hidden_size", "vocab_size", "max_sequence_length", "mask_token_id", "eos_token_id"];

    static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    /// <summary>Reads and validates a config.json; every problem names the file and the field.</summary>
    public static ModelConfig Load(string path)
    {
        if (!File.Exists(path)) throw new DlmException($"{path}: file not found (a model folder needs config.json)");
        IO.RegularFile.Require(path);
        JsonNode? node;
        try { node = JsonNode.Parse(File.ReadAllText(path), documentOptions: new JsonDocumentOptions { AllowDuplicateProperties = false }); }
        catch (JsonException e) { throw new DlmException($"{path}: not valid JSON ({e.Message})"); }
        if (node is not JsonObject obj) throw new DlmException($"{path}: expected a JSON object");
        foreach (var field in Required)
            if (!obj.ContainsKey(field) || obj[field] is null)
                throw new DlmException($"{path}: missing required field \"{field}\"");
        ModelConfig cfg;
        try { cfg = obj.Deserialize<ModelConfig>(Options)!; }
        catch (JsonException e) { throw new DlmException($"{path}: a field has the wrong type ({e.Message})"); }
        // An unknown "process" or "corruption" spelling: the message lists the known ones.
        catch (DlmException e) { throw new DlmException($"{path}: {e.Message}"); }
        cfg.Validate(path);
        return cfg;
    }

    public void Validate(string source = "config")
    {
        void Check(bool ok, string field, string expected)
        {
            if (!ok) throw new DlmException($"{source}: field \"{field}\" {expected}");
        }
        // Upper bounds far above any model this project can run (LLaDA-8B: d 4096, 32 layers, 126k vocabulary, 4k
        // context; Dream-7B: 128k context), below what would make a constructor allocate until memory runs out.
        Check(DModel > 0 && DModel <= MaxDModel, "d_model", $"must be between 1 and {MaxDModel}");
        Check(NLayers <= MaxLayers, "n_layers", $"must be at most {MaxLayers}");
        Check(MlpHiddenSize <= MaxMlpHidden, "mlp_hidden_size", $"must be at most {MaxMlpHidden}");
        Check(VocabSize <= MaxVocab, "vocab_size", $"must be at most {MaxVocab}");
        Check(MaxSequenceLength <= MaxContext, "max_sequence_length", $"must be at most {MaxContext}");
        Check(double.IsFinite(RopeTheta) && RopeTheta > 0, "rope_theta", "must be a finite number above 0");
        Check(double.IsFinite(RmsNormEps) && RmsNormEps > 0 && RmsNormEps < 1, "rms_norm_eps", "must be a number in (0, 1)");
        Check(PadTokenId >= -1 && PadTokenId < VocabSize, "pad_token_id", $"must be a token id below vocab_size ({VocabSize}) or -1 (none)");
        Check(BosTokenId >= -1 && BosTokenId < VocabSize, "bos_token_id", $"must be a token id below vocab_size ({VocabSize}) or -1 (none)");
        Check(NHeads > 0 && DModel % NHeads == 0, "n_heads", $"must divide d_model ({DModel})");
        Check(HeadDim % 2 == 0, "n_heads", "must leave an even head size for RoPE");
        Check(NKvHeads > 0 && NHeads % NKvHeads == 0, "n_kv_heads", $"must divide n_heads ({NHeads})");
        Check(NLayers > 0, "n_layers", "must be positive");
        Check(MlpHiddenSize > 0, "mlp_hidden_size", "must be positive");
        Check(VocabSize > 0, "vocab_size", "must be positive");
        Check(MaxSequenceLength > 0, "max_sequence_length", "must be positive");
        // An autoregressive model needs no mask token: -1 says it has none.
        Check(MaskTokenId >= 0 && MaskTokenId < VocabSize || Causal && MaskTokenId == -1, "mask_token_id",
            $"must be a token id below vocab_size ({VocabSize})" + (Causal ? " or -1 (none, for a causal model)" : ""));
        Check(EosTokenId >= 0 && EosTokenId < VocabSize, "eos_token_id", $"must be a token id below vocab_size ({VocabSize})");
        Check(Schedule is "linear" or "loglinear", "schedule", "must be \"linear\" or \"loglinear\"");
        // JSON null is the one value the spelling converter never sees.
        Check(Process is not null, "process", $"must be one of {Spellings.Known<DiffusionProcess>()}");
        Check(Corruption is null || Process!.Absorbing, "corruption", $"belongs to the {DiffusionProcess.Masked} process only");
        if (IsGaussian)
        {
            // The denoiser of noisy embeddings must know the noise level: without it x_t at σ = 1 and σ = 100 look alike.
            Check(TimeConditioning, "time_conditioning", "must be true for the gaussian process");
            Check(DiffusionDim > 0, "embedding_dim", "must be positive");
            Check(SigmaMin is null or > 0, "sigma_min", "must be positive");
            Check((SigmaMax ?? 100.0) > (SigmaMin ?? 1.0), "sigma_max", "must exceed sigma_min");
        }
        else Check(EmbeddingDim is null && SigmaMin is null && SigmaMax is null, "embedding_dim", "and sigma_min/sigma_max belong to the gaussian process only");
    }
}
