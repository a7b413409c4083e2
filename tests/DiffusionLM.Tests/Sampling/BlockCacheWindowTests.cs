using DiffusionLM.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace DiffusionLM.Tests.Sampling;

/// <summary>
/// The block cache's window forward on its own: on the state it recorded, a window's logits are the full forward's
/// at those positions (the cache is only stale once the state moves on), for shifted and unshifted models, with and
/// without left padding; and every position of the window has fresh keys and values.
/// </summary>
[Collection(nameof(TorchGlobalStateCollection))]
public class BlockCacheWindowTests
{
    static LladaModel Make(bool shift, int layers = 2)
    {
        var cfg = new ModelConfig
        {
            DModel = 32, NHeads = 4, NKvHeads = 2, NLayers = layers, MlpHiddenSize = 48, VocabSize = 30, MaxSequenceLength = 40,
            MaskTokenId = 29, EosTokenId = 28, PadTokenId = 27, RopeTheta = 10000, LogitsShift = shift,
        };
        var m = new LladaModel(cfg, new Generator(5));
        m.eval();
        return m;
    }

    [Theory]
    [InlineData(false, false)]
    [InlineData(true, false)]
    [InlineData(false, true)]
    [InlineData(true, true)]
    public void AWindowOnTheRecordedStateEqualsTheFullForward(bool shift, bool padded)
    {
        using var model = Make(shift);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        // Two rows: a prompt, a committed block, then masks; the second row left-padded when asked.
        var ids = tensor(new long[,] { { 1, 2, 3, 4, 5, 6, 7, 29, 29, 29, 29, 29, 29, 29, 29, 29 }, { 27, 27, 8, 9, 10, 11, 12, 29, 13, 29, 29, 29, 29, 29, 29, 29 } });
        Tensor? attn = padded ? ids.ne(27) : null;
        if (!padded) ids = ids.masked_fill(ids.eq(27), 3);
        using var cache = ((IDenoiser)model).CreateBlockCache();
        var full = model.LogitsRecording(ids, attn, cache);
        foreach (var (start, length) in new[] { (7, 4), (11, 5), (1, 15) })
        {
            var window = model.LogitsWindow(ids, start, length, attn, cache);
            var expected = full.narrow(1, start, length);
            float diff = window.sub(expected).abs().max().item<float>();
            Assert.True(diff < 1e-5f, $"shift={shift}, padded={padded}: window [{start}, {start + length}) differs from the full forward by {diff}");
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void EveryPositionOfTheWindowHasFreshKeysAndValues(bool shift)
    {
        // With one layer a position's keys and values depend on its own token only, so a window step after tokens were
        // committed inside the window is exact exactly when the window recomputes every position it covers. A shifted
        // model predicts the window from one position to the left, and once left the window's last position stale.
        using var model = Make(shift, layers: 1);
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var ids = tensor(new long[,] { { 1, 2, 3, 4, 5, 6, 29, 29, 29, 29, 29, 29, 29, 29 } });
        using var cache = ((IDenoiser)model).CreateBlockCache();
        model.LogitsRecording(ids, null, cache);
        const int start = 6, length = 4;
        var moved = ids.clone();
        moved[0, start + length - 1] = tensor(7L);   // the block's last position
        moved[0, start] = tensor(8L);                // and its first
        var window = model.LogitsWindow(moved, start, length, null, cache);
        var exact = model.Logits(moved).narrow(1, start, length);
        float diff = window.sub(exact).abs().max().item<float>();
        Assert.True(diff < 1e-5f, $"shift={shift}: a window step after commits inside the window differs from the exact forward by {diff}");
    }
}
