namespace DiffusionLM.Models.Hf;

/// <summary>One tensor a model family expects in its checkpoint: its name and shape.</summary>
/// <param name="Optional">present in some releases only (a persistent buffer, say); loaded when there.</param>
public sealed record TensorSpec(string Name, long[] Shape, bool Optional = false)
{
    public long NumElements => Shape.Aggregate(1L, (a, b) => a * b);
    public override string ToString() => $"{Name} [{string.Join(", ", Shape)}]";
}
