using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Sampling;

/// <summary>Tensor steps shared by the masked-diffusion samplers.</summary>
public static class SamplingOps
{
    /// <summary>
    /// The highest temperature <see cref="AddGumbelNoise"/> computes faithfully. (-log u)^T runs from (1.1e-16)^T to 36.7^T
    /// over float64's draws: beyond about T = 19 the small end underflows to 0 and exp(l)/0 is infinite for many tokens at
    /// once, so the argmax is no longer a sample (generate printed nothing at T = 1000). 16 keeps a margin for logits up to ~120.
    /// </summary>
    public const double MaxTemperature = 16;

    /// <summary>The one refusal of a temperature outside [0, <see cref="MaxTemperature"/>], naming <paramref name="option"/>.</summary>
    public static void CheckTemperature(string option, double temperature)
    {
        if (!(temperature >= 0 && temperature <= MaxTemperature))
            throw new DlmException($"{option} {temperature.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}: must be between 0 and {MaxTemperature} " +
                "(above, the float64 Gumbel-max of the samplers leaves float64's range)");
    }

    /// <summary>
    /// LLaDA's add_gumbel_noise. Temperature 0 returns <paramref name="logits"/> itself (not a copy:
    /// the reference aliases too, which matters for its confidence_eos_eot_inf option). Otherwise,
    /// in float64 because low-precision Gumbel-max is known to hurt generation quality
    /// (arXiv:2409.02908): exp(logits) / (-log u)^T with u ~ U[0, 1) of the logits' shape, drawn
    /// from <paramref name="generator"/>. Its argmax is a sample of softmax(logits / T): the
    /// exponential-race form of Gumbel-max, exp(l)/E^T ordered like l/T - log E.
    /// </summary>
    public static Tensor AddGumbelNoise(Tensor logits, double temperature, Generator generator)
    {
        if (temperature == 0) return logits;
        CheckTemperature("temperature", temperature);
        var l64 = logits.to_type(ScalarType.Float64);
        var u = torch.rand(l64.shape, dtype: ScalarType.Float64, device: l64.device, generator: generator);
        var gumbel = u.log().neg_();
        // x^1 is x exactly (IEEE pow), so temperature 1, the usual setting, skips a pass over the logits' shape.
        if (temperature != 1.0) gumbel.pow_(temperature);
        return l64.exp().div_(gumbel);
    }

    /// <summary>
    /// <see cref="AddGumbelNoise(Tensor, double, Generator)"/> for a slice of positions: <paramref name="part"/> is
    /// positions [<paramref name="from"/>, from + part's length) of logits of shape <paramref name="drawShape"/>
    /// ([B, L, V]). The uniform draws are made for the whole shape, as the reference draws them, so the generator moves
    /// on exactly as it would and the slice's noise is the reference's noise at those positions; only the arithmetic is
    /// confined to the slice. Element by element, so the values equal the whole computation's, narrowed.
    /// </summary>
    public static Tensor AddGumbelNoise(Tensor part, double temperature, Generator generator, long[] drawShape, long from)
    {
        if (temperature == 0) return part;
        CheckTemperature("temperature", temperature);
        if (drawShape.Length != 3 || part.ndim != 3 || from < 0 || from + part.shape[1] > drawShape[1])
            throw new ArgumentException($"positions [{from}, {from + part.shape[1]}) are not a slice of shape [{string.Join(", ", drawShape)}]");
        var u = torch.rand(drawShape, dtype: ScalarType.Float64, device: part.device, generator: generator).narrow(1, from, part.shape[1]);
        var gumbel = u.log().neg_();
        if (temperature != 1.0) gumbel.pow_(temperature);
        return part.to_type(ScalarType.Float64).exp().div_(gumbel);
    }

    /// <summary>
    /// Indices of the <paramref name="k"/> largest entries of a 1-D float row, best first.
    /// <see cref="TopKTies.Torch"/> calls torch.topk, as the reference does, so equal values are
    /// resolved exactly as PyTorch on CPU resolves them; <see cref="TopKTies.LowestIndex"/> is a
    /// stable alternative. Both rank NaN above everything, as torch does.
    /// </summary>
    public static long[] TopK(Tensor row, int k, TopKTies ties)
    {
        if (k == 0) return [];
        if (ties == TopKTies.Torch)
        {
            using var scope = torch.NewDisposeScope();
            var (_, idx) = torch.topk(row, k, dim: 0, largest: true, sorted: true);
            return idx.data<long>().ToArray();
        }
        var values = row.to_type(ScalarType.Float64).data<double>().ToArray();
        var order = Enumerable.Range(0, values.Length).ToArray();
        // Array.Sort is unstable, so the index is part of the key.
        Array.Sort(order, (a, b) =>
        {
            double va = values[a], vb = values[b];
            bool na = double.IsNaN(va), nb = double.IsNaN(vb);
            if (na != nb) return na ? -1 : 1;
            if (!na && va != vb) return va > vb ? -1 : 1;
            return a.CompareTo(b);
        });
        return order.Take(k).Select(i => (long)i).ToArray();
    }
}
