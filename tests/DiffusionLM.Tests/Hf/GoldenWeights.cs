using System.Text;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Hf;

/// <summary>
/// The golden checkpoints' weights: each element a counter hash of (tensor name, flat index), bit for
/// bit the values tools/goldens/golden_weights.py fed the upstream modeling code (see that file for the
/// formula). No random generator of either library is involved, so the goldens stay valid across
/// TorchSharp and PyTorch versions.
/// </summary>
internal static class GoldenWeights
{
    const ulong Gamma = 0x9E3779B97F4A7C15;

    static ulong Fnv1a64(string name)
    {
        ulong h = 0xCBF29CE484222325;
        foreach (byte b in Encoding.UTF8.GetBytes(name)) { h ^= b; h = unchecked(h * 0x100000001B3); }
        return h;
    }

    public static float[] Values(string name, long count)
    {
        ulong key = Fnv1a64(name);
        bool norm = name.Contains("norm") || name.EndsWith("ln_f.weight");
        var v = new float[count];
        for (long i = 0; i < count; i++)
        {
            ulong z = unchecked(key + (ulong)(i + 1) * Gamma);
            z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9);
            z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EB);
            z ^= z >> 31;
            double u = (z >> 11) * Math.Pow(2, -53) * 2.0 - 1.0;
            v[i] = (float)(norm ? 1.0 + 0.1 * u : 0.35 * u);
        }
        return v;
    }

    public static Tensor Tensor(string name, long[] shape) => tensor(Values(name, shape.Aggregate(1L, (a, b) => a * b)), shape);
}
