using DiffusionLM.Models;
using DiffusionLM.Sampling;
using DiffusionLM.Text;
using TorchSharp;
using static TorchSharp.torch;

namespace DiffusionLM.Analysis.Probe;

/// <summary>
/// The stepwise variant of the probe: a sampler denoises the N masks of every prompt in K steps, and at
/// each step the probe reads the sampler's own forward pass (through <see cref="IObservableSampler"/>),
/// so watching costs no extra network evaluation. Row j of the result is the state after j steps
/// (j = 0 is exactly the single pass); a position committed in an earlier step has no entropy (NaN).
/// </summary>
sealed class StepwiseRunner(IDenoiser model, ITokenizer tokenizer, Action<int, int>? onProgress)
{
    public StepwiseProbe Run(int[][] prompts, int n, int batchSize, StepwiseOptions o)
    {
        var settings = new SamplerSettings(GenLength: n, Steps: o.Steps, BlockLength: o.BlockLength ?? n,
            Temperature: o.Temperature, Remasking: o.Remasking);
        var sampler = SamplerRegistry.Create(o.Sampler, settings) as IObservableSampler
            ?? throw new DlmException($"sampler \"{o.Sampler}\" does not expose its intermediate states, so the stepwise probe cannot watch it");
        var entropy = new double[prompts.Length][][];
        var completions = new string[prompts.Length];
        var order = Enumerable.Range(0, prompts.Length).OrderByDescending(i => prompts[i].Length).ThenBy(i => i).ToArray();
        using var generator = new Generator((ulong)o.Seed);
        int done = 0;
        long mask = model.Config.MaskTokenId, eos = model.Config.EosTokenId;
        foreach (var batch in order.Chunk(batchSize))
        {
            foreach (var i in batch) entropy[i] = new double[o.Steps][];
            sampler.Observer = obs =>
            {
                using var scope = NewDisposeScope();
                if (obs.Index >= o.Steps) return;
                var logp = ProbeMeasures.LogProbs(obs.Logits.narrow(1, obs.PromptLength, n));
                var h = ProbeMeasures.Entropy(logp);
                var masked = obs.State.narrow(1, obs.PromptLength, n).eq(mask);
                var values = torch.where(masked, h, torch.full_like(h, double.NaN)).contiguous().data<double>().ToArray();
                for (int r = 0; r < batch.Length; r++) entropy[batch[r]][obs.Index] = values.AsSpan(r * n, n).ToArray();
            };
            try
            {
                using var scope = NewDisposeScope();
                var (ids, attn) = PromptBatch.LeftPad(batch.Select(i => prompts[i].Select(t => (long)t).ToArray()).ToArray(), model.Config.PadTokenId, mask);
                var result = sampler.Generate(model, ids, generator, attn);
                var outputs = result.Completions;
                for (int r = 0; r < batch.Length; r++)
                {
                    var c = outputs[r];
                    int end = Array.IndexOf(c, eos);
                    completions[batch[r]] = tokenizer.Decode((end < 0 ? c : c[..end]).Select(t => (int)t));
                }
            }
            finally { sampler.Observer = null; }
            done += batch.Length;
            onProgress?.Invoke(done, prompts.Length);
        }
        foreach (var rows in entropy)
            for (int s = 0; s < o.Steps; s++)
                if (rows[s] is null) throw new InvalidOperationException($"sampler \"{o.Sampler}\" reported no step {s}");

        var mean = new Interval[o.Steps][];
        var share = new double[o.Steps][];
        for (int s = 0; s < o.Steps; s++)
        {
            mean[s] = new Interval[n];
            share[s] = new double[n];
            for (int i = 0; i < n; i++)
            {
                mean[s][i] = ConfidenceInterval.Mean(entropy.Select(p => p[s][i]));
                share[s][i] = entropy.Count(p => !double.IsNaN(p[s][i])) / (double)entropy.Length;
            }
        }
        return new StepwiseProbe { Options = o, Entropy = entropy, MeanEntropy = mean, MaskedShare = share, Completions = completions };
    }
}
