namespace DiffusionLM.Models;

/// <summary>Floating-point operations of one forward pass, counted from the architecture (a multiply-add is 2).</summary>
public static class FlopCount
{
    public static double Forward(ModelConfig c, long batch, long length)
    {
        double tokens = batch * length;
        double kv = c.NKvHeads * c.HeadDim;
        double perLayerLinear = c.DModel * (c.DModel + 2 * kv) + c.DModel * c.DModel + 3.0 * c.DModel * c.MlpHiddenSize;
        double linear = 2 * tokens * (c.NLayers * perLayerLinear + (double)c.DModel * c.VocabSize);
        // Scores QKᵀ and the weighted sum of values: 2·L·L·d each, per sequence and layer.
        double attention = c.NLayers * batch * 4.0 * length * length * c.DModel;
        return linear + attention;
    }
}
