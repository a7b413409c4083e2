using DiffusionLM.Models;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Import;

/// <summary>The 7-int32 header of a llama2.c version-0 checkpoint.</summary>
public sealed record Llama2cHeader(int Dim, int HiddenDim, int NLayers, int NHeads, int NKvHeads, int VocabSize, int SeqLen, bool SharedClassifier)
{
    public int HeadSize => Dim / NHeads;
    public int KvDim => Dim * NKvHeads / NHeads;

    /// <summary>float32 count of the weights in llama2.c's order, legacy RoPE tables included.</summary>
    public long FloatCount =>
        (long)VocabSize * Dim                                     // token embedding
        + (long)NLayers * Dim                                     // rms_att
        + (long)NLayers * Dim * Dim                               // wq
        + 2L * NLayers * Dim * KvDim                              // wk, wv
        + (long)NLayers * Dim * Dim                               // wo
        + (long)NLayers * Dim                                     // rms_ffn
        + 3L * NLayers * Dim * HiddenDim                          // w1, w2, w3
        + Dim                                                     // rms_final
        + (long)SeqLen * HeadSize                                 // freq_cis_real + freq_cis_imag (seq_len × head_size/2 each)
        + (SharedClassifier ? 0 : (long)VocabSize * Dim);         // wcls

    public const int Bytes = 28;
}

/// <summary>
/// Converts a llama2.c checkpoint (karpathy/llama2.c, legacy version 0, as stories260K.bin) and its
/// tokenizer file into a model folder of the project: a causal <see cref="LladaModel"/>.
/// <para>
/// llama2.c rotates adjacent pairs (2i, 2i+1) of every head; our <see cref="RotaryEmbedding"/> rotates
/// halves (i, i + head_size/2) with the same frequency θ^(−2i/head_size). Permuting the rows of wq and wk
/// inside each head (new row i ← old row 2i, new row i + head_size/2 ← old row 2i+1) makes the two
/// the same function: q·k is unchanged because q and k are permuted alike. v and wo are untouched.
/// </para>
/// </summary>
public static class Llama2cImporter
{
    public static Llama2cHeader ReadHeader(string path)
    {
        if (!File.Exists(path)) throw new DlmException($"{path}: checkpoint file not found");
        IO.RegularFile.Require(path, "llama2.c checkpoint");
        long length = new FileInfo(path).Length;
        if (length < Llama2cHeader.Bytes)
            throw new DlmException($"{path}: {length} bytes, too short for a llama2.c checkpoint (expected a {Llama2cHeader.Bytes}-byte header of 7 int32)");
        var h = new int[7];
        using (var f = File.OpenRead(path))
        {
            var buf = new byte[Llama2cHeader.Bytes];
            f.ReadExactly(buf);
            for (int i = 0; i < 7; i++) h[i] = BitConverter.ToInt32(buf, 4 * i);
        }
        void Check(bool ok, string what)
        {
            if (!ok) throw new DlmException($"{path}: header {what} (dim {h[0]}, hidden_dim {h[1]}, n_layers {h[2]}, n_heads {h[3]}, n_kv_heads {h[4]}, vocab_size {h[5]}, seq_len {h[6]}); not a llama2.c v0 checkpoint, or corrupt");
        }
        Check(h[0] > 0 && h[0] <= 1 << 16 && h[1] > 0 && h[1] <= 1 << 18 && h[2] > 0 && h[2] <= 1024 && h[6] > 0 && h[6] <= 1 << 20,
            "has sizes out of range");
        Check(h[3] > 0 && h[0] % h[3] == 0 && (h[0] / h[3]) % 2 == 0, "needs n_heads dividing dim into an even head size");
        Check(h[4] > 0 && h[3] % h[4] == 0, "needs n_kv_heads dividing n_heads");
        Check(h[5] != 0 && Math.Abs((long)h[5]) <= 1 << 22, "has a vocab_size out of range");
        // Only now: Math.Abs(int.MinValue) would overflow.
        var header = new Llama2cHeader(h[0], h[1], h[2], h[3], h[4], Math.Abs(h[5]), h[6], SharedClassifier: h[5] > 0);
        long expected = Llama2cHeader.Bytes + 4 * header.FloatCount;
        if (length != expected)
            throw new DlmException(
                $"{path}: {length} bytes, but its header (dim {header.Dim}, hidden_dim {header.HiddenDim}, n_layers {header.NLayers}, " +
                $"n_heads {header.NHeads}, n_kv_heads {header.NKvHeads}, vocab_size {h[5]}, seq_len {header.SeqLen}) implies {expected} bytes " +
                (length < expected ? "(truncated?)" : "(trailing data: a newer llama2.c version, or corrupt?)"));
        return header;
    }

    /// <summary>The project config of a llama2.c model: causal, tied per the file, eos = &lt;/s&gt;, bos = &lt;s&gt;, no mask.</summary>
    public static ModelConfig ConfigOf(Llama2cHeader h) => new()
    {
        ModelType = "llada", DModel = h.Dim, NHeads = h.NHeads, NKvHeads = h.NKvHeads, NLayers = h.NLayers,
        MlpHiddenSize = h.HiddenDim, VocabSize = h.VocabSize, MaxSequenceLength = h.SeqLen,
        RopeTheta = 10000.0, RmsNormEps = 1e-5, WeightTying = h.SharedClassifier,
        MaskTokenId = -1, EosTokenId = Llama2cTokenizer.EosId, PadTokenId = Llama2cTokenizer.UnkId, BosTokenId = Llama2cTokenizer.BosId,
        Causal = true,
    };

    /// <summary>Reads the checkpoint into a causal model (weights permuted to rotate-half RoPE).</summary>
    public static LladaModel ReadModel(string path)
    {
        var h = ReadHeader(path);
        var model = new LladaModel(ConfigOf(h));
        try
        {
            var floats = new float[h.FloatCount];
            using (var f = File.OpenRead(path))
            {
                f.Seek(Llama2cHeader.Bytes, SeekOrigin.Begin);
                var bytes = new byte[floats.Length * 4L];
                f.ReadExactly(bytes);
                Buffer.BlockCopy(bytes, 0, floats, 0, bytes.Length);
            }
            long at = 0;
            Tensor Take(params long[] shape)
            {
                long n = shape.Aggregate(1L, (a, b) => a * b);
                var t = tensor(floats.AsSpan((int)at, (int)n).ToArray(), shape);
                at += n;
                return t;
            }
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var t = model.Transformer;
            var blocks = t.blocks.Cast<LladaBlock>().ToArray();
            int L = h.NLayers, D = h.Dim, kv = h.KvDim, H = h.HiddenDim;
            t.wte.weight!.copy_(Take(h.VocabSize, D));
            var rmsAtt = Take(L, D);
            var wq = Take(L, D, D);
            var wk = Take(L, kv, D);
            var wv = Take(L, kv, D);
            var wo = Take(L, D, D);
            var rmsFfn = Take(L, D);
            var w1 = Take(L, H, D);
            var w2 = Take(L, D, H);
            var w3 = Take(L, H, D);
            t.ln_f.weight.copy_(Take(D));
            at += (long)h.SeqLen * h.HeadSize; // legacy freq_cis_real/imag: derived, not weights
            if (!h.SharedClassifier) t.ff_out!.weight!.copy_(Take(h.VocabSize, D));
            for (int i = 0; i < L; i++)
            {
                var b = blocks[i];
                b.attn_norm.weight.copy_(rmsAtt[i]);
                b.q_proj.weight!.copy_(PairsToHalves(wq[i], h.NHeads, h.HeadSize));
                b.k_proj.weight!.copy_(PairsToHalves(wk[i], h.NKvHeads, h.HeadSize));
                b.v_proj.weight!.copy_(wv[i]);
                b.attn_out.weight!.copy_(wo[i]);
                b.ff_norm.weight.copy_(rmsFfn[i]);
                b.ff_proj.weight!.copy_(w1[i]);   // SiLU branch (llama2.c w1)
                b.ff_out.weight!.copy_(w2[i]);    // down projection (w2)
                b.up_proj.weight!.copy_(w3[i]);   // gate partner (w3)
            }
        }
        catch { model.Dispose(); throw; }
        model.eval();
        return model;
    }

    /// <summary>Rows of a [heads·head_size, in] projection from adjacent-pair to rotate-half order, per head.</summary>
    public static Tensor PairsToHalves(Tensor w, int heads, int headSize)
    {
        long inDim = w.shape[1];
        return w.view(heads, headSize / 2, 2, inDim).transpose(1, 2).reshape(heads * headSize, inDim);
    }

    /// <summary>Reads both files and writes the model folder (config.json, model.safetensors, tokenizer.json) atomically.</summary>
    public static (ModelConfig Config, Llama2cTokenizer Tokenizer) Import(string checkpointPath, string tokenizerPath, string outDir)
    {
        var header = ReadHeader(checkpointPath);
        // The model's vocab_size is what the tokenizer file must hold: a mismatch is caught while reading it.
        var tokenizer = Llama2cTokenizer.ReadBin(tokenizerPath, header.VocabSize);
        using var model = ReadModel(checkpointPath);
        Checkpoint.Save(outDir, model, tokenizer);
        return (model.Config, tokenizer);
    }
}
