using System.Text.Json;
using System.Text.Json.Serialization;
using DiffusionLM.IO;

namespace DiffusionLM.Training;

/// <summary>Where a run is: the options it was started with, the resolved step budget, the loss curve so far.</summary>
public sealed record TrainingState
{
    public const string File = "training_state.json", OptimizerFile = "optimizer.safetensors";

    [JsonPropertyName("options")] public TrainingOptions Options { get; init; } = new();
    [JsonPropertyName("step")] public int Step { get; init; }
    [JsonPropertyName("total_steps")] public int TotalSteps { get; init; }
    [JsonPropertyName("data_sha256")] public string[] DataSha256 { get; init; } = [];
    [JsonPropertyName("train_loss")] public List<double> TrainLoss { get; init; } = [];
    [JsonPropertyName("val_loss")] public List<ValPoint> ValLoss { get; init; } = [];
    /// <summary>With --ema: the validation loss of the average at the same steps as <see cref="ValLoss"/> (that of the weights the optimizer steps).</summary>
    [JsonPropertyName("ema_val_loss")] public List<ValPoint> EmaValLoss { get; init; } = [];
    [JsonPropertyName("tokens_seen")] public long TokensSeen { get; init; }

    public sealed record ValPoint([property: JsonPropertyName("step")] int Step, [property: JsonPropertyName("loss")] double Loss);

    static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public void Save(string dir) => AtomicFile.WriteAllText(Path.Combine(dir, File), JsonSerializer.Serialize(this, Json));

    public static TrainingState Load(string dir)
    {
        string path = Path.Combine(dir, File);
        if (!System.IO.File.Exists(path)) throw new DlmException($"{path}: not found; --resume needs a folder written by dlm train");
        try { return JsonSerializer.Deserialize<TrainingState>(System.IO.File.ReadAllText(path), Json)!; }
        catch (JsonException e) { throw new DlmException($"{path}: not a valid training state ({e.Message})"); }
    }
}
