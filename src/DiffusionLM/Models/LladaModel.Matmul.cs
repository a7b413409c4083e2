using DiffusionLM.Runtime;
using static TorchSharp.torch;

namespace DiffusionLM.Models;

public sealed partial class LladaModel
{
    Bf16Projections? _bf16;

    /// <summary>How this model's projections multiply at inference (float32 unless <see cref="SetMatmul"/> said otherwise).</summary>
    public MatmulMode Matmul => _bf16 is null ? MatmulMode.Fp32 : MatmulMode.Bf16;

    /// <summary>
    /// Switches the projections (every block's seven and the head) between float32 and bf16 (<see cref="Bf16Projections"/>).
    /// Switching to bf16 makes the bf16 copies of the current weights; switching back frees them. Attention and the
    /// norms stay float32. Inference only: training ignores the copies.
    /// </summary>
    public void SetMatmul(MatmulMode mode)
    {
        if (mode == Matmul) return;
        _bf16?.Dispose();
        _bf16 = null;
        if (mode == MatmulMode.Bf16)
        {
            var t = model.transformer;
            var weights = new List<Tensor>();
            foreach (var block in t.blocks.Cast<LladaBlock>())
                weights.AddRange([block.q_proj.weight!, block.k_proj.weight!, block.v_proj.weight!, block.attn_out.weight!, block.ff_proj.weight!, block.up_proj.weight!, block.ff_out.weight!]);
            weights.Add(Config.WeightTying ? t.wte.weight! : t.ff_out!.weight!);
            _bf16 = new Bf16Projections(weights);
        }
        foreach (var block in model.transformer.blocks.Cast<LladaBlock>()) block.Bf16 = _bf16;
    }

    /// <summary>The head: float32, or the bf16 copy under <see cref="MatmulMode.Bf16"/>.</summary>
    Tensor Head(Tensor x)
    {
        var t = model.transformer;
        var weight = Config.WeightTying ? t.wte.weight! : t.ff_out!.weight!;
        if (_bf16 is not null) return _bf16.Linear(x, weight);
        return Config.WeightTying ? nn.functional.linear(x, weight) : t.ff_out!.forward(x);
    }

    void DisposeBf16() { _bf16?.Dispose(); _bf16 = null; }
}
