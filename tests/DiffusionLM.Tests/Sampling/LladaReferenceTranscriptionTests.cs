using DiffusionLM.Models;
using DiffusionLM.Sampling;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Sampling;

/// <summary>
/// LLaDA's generate() (ML-GSAI/LLaDA generate.py, without cfg) written out line by line over the whole sequence, as the
/// reference computes it: noise, argmax, softmax and confidence at every position, then -inf right of the block. The
/// sampler scores only the positions a step can commit; these tests hold it to the literal form token for token,
/// with prompts that hold a mask (a hole the reference may fill at any step) and rows of a batch whose blocks differ.
/// </summary>
public class LladaReferenceTranscriptionTests
{
    static long[][] Reference(IDenoiser model, long[][] prompts, int genLength, int steps, int blockLength, double temperature,
        string remasking, Generator g)
    {
        long mask = model.Config.MaskTokenId;
        int batch = prompts.Length, p = prompts[0].Length, total = p + genLength;
        var x = tensor(prompts.SelectMany(r => r.Concat(Enumerable.Repeat(mask, genLength))).ToArray(), new long[] { batch, total });
        int numBlocks = genLength / blockLength, stepsPerBlock = steps / numBlocks;
        for (int nb = 0; nb < numBlocks; nb++)
        {
            int start = p + nb * blockLength, end = start + blockLength;
            var blockMasks = x.narrow(1, start, blockLength).eq(mask).sum(1).data<long>().ToArray();
            // get_num_transfer_tokens: base = masks // steps, the first (masks % steps) steps one more.
            int[][] counts = blockMasks.Select(m => Enumerable.Range(0, stepsPerBlock)
                .Select(i => (int)(m / stepsPerBlock) + (i < m % stepsPerBlock ? 1 : 0)).ToArray()).ToArray();
            for (int i = 0; i < stepsPerBlock; i++)
            {
                using var scope = NewDisposeScope();
                var maskIndex = x.eq(mask);
                var logits = model.Logits(x).to_type(ScalarType.Float32);
                Tensor withNoise = logits;
                if (temperature != 0)
                {
                    var l64 = logits.to_type(ScalarType.Float64);
                    var noise = rand(l64.shape, dtype: ScalarType.Float64, generator: g);
                    withNoise = l64.exp() / (-noise.log()).pow(temperature);
                }
                var x0 = withNoise.argmax(-1);
                var x0p = remasking == LladaSamplerOptions.LowConfidence
                    ? softmax(logits, -1).gather(-1, x0.unsqueeze(-1)).squeeze(-1)
                    : rand(new long[] { batch, total }, dtype: ScalarType.Float32, generator: g);
                x0p.narrow(1, end, total - end).fill_(float.NegativeInfinity);
                x0 = where(maskIndex, x0, x);
                var confidence = where(maskIndex, x0p, tensor(float.NegativeInfinity));
                var transfer = zeros(new long[] { batch, total }, dtype: ScalarType.Bool);
                for (int j = 0; j < batch; j++)
                {
                    if (counts[j][i] == 0) continue;
                    var (_, select) = topk(confidence[j], counts[j][i]);
                    transfer[j].index_fill_(0, select, true);
                }
                x.copy_(where(transfer, x0, x));
            }
        }
        var flat = x.data<long>().ToArray();
        return Enumerable.Range(0, batch).Select(b => flat[(b * total)..((b + 1) * total)]).ToArray();
    }

    public static TheoryData<string, double> Modes => new()
    {
        { LladaSamplerOptions.LowConfidence, 0.0 }, { LladaSamplerOptions.LowConfidence, 1.0 },
        { LladaSamplerOptions.LowConfidence, 0.7 }, { LladaSamplerOptions.Random, 1.0 }, { LladaSamplerOptions.Random, 0.0 },
    };

    static void Compare(IDenoiser model, long[][] prompts, string remasking, double temperature, int genLength = 24, int steps = 12, int block = 8)
    {
        var options = new LladaSamplerOptions(GenLength: genLength, Steps: steps, BlockLength: block, Temperature: temperature, Remasking: remasking);
        using var g1 = new Generator(11);
        var ours = new LladaSampler(options).Generate(model, prompts, g1).Ids;
        using var g2 = new Generator(11);
        var reference = Reference(model, prompts, genLength, steps, block, temperature, remasking, g2);
        Assert.Equal(reference, ours);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void EqualsTheLiteralReferenceOnTheFakeModel(string remasking, double temperature)
    {
        long m = FakeDenoiser.Mask;
        // Row 0 has a hole in its prompt (position 2), row 1 none: the hole competes with every block of row 0.
        Compare(new FakeDenoiser(3), [[1, 2, m, 4, 5], [5, 6, 7, 8, 3]], remasking, temperature);
    }

    [Theory]
    [MemberData(nameof(Modes))]
    public void EqualsTheLiteralReferenceOnARandomNetwork(string remasking, double temperature)
    {
        var config = new ModelConfig
        {
            DModel = 32, NHeads = 4, NKvHeads = 2, NLayers = 2, MlpHiddenSize = 48, VocabSize = 61, MaxSequenceLength = 64,
            MaskTokenId = 60, EosTokenId = 59, PadTokenId = 0,
        };
        using var model = new LladaModel(config, new Generator(4));
        model.eval();
        using var _ = no_grad();
        Compare(model, [[3, 60, 9, 12], [7, 8, 9, 10]], remasking, temperature, genLength: 32, steps: 16, block: 8);
        Compare(model, [[3, 4, 9, 12]], remasking, temperature, genLength: 32, steps: 32, block: 16);
    }
}
