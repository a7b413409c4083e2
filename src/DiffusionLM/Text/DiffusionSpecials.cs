namespace DiffusionLM.Text;

/// <summary>
/// A masked diffusion LM needs a mask id (and eos/pad for answers and padding). A tokenizer made for a causal
/// model may lack the mask: llama2.c's vocabulary has &lt;unk&gt;, &lt;s&gt; and &lt;/s&gt; (pad = unk, eos = &lt;/s&gt;) but no
/// mask, so it gains one id after its pieces. The existing ids are unchanged, so a teacher's token ids
/// mean the same in the denoiser. The byte-level BPE always carries its four specials.
/// </summary>
public static class DiffusionSpecials
{
    public static ITokenizer Ensure(ITokenizer tokenizer, string source)
    {
        var withMask = tokenizer is Llama2cTokenizer l2c ? l2c.WithMask() : tokenizer;
        var s = withMask.Special;
        if (s.MaskId < 0 || s.EosId < 0 || s.PadId < 0)
            throw new DlmException($"{source}: the tokenizer has no {(s.MaskId < 0 ? "mask" : s.EosId < 0 ? "eos" : "pad")} token and none can be added to a tokenizer of this kind");
        return withMask;
    }
}
