#!/usr/bin/env python3
"""The Python side of `dlm bench peers`: LLaDA's reference generate() semantics in plain PyTorch
(Debian's python3-torch 1.13), on a folder written by `dlm export hf`. Written for this benchmark from
the algorithm (LLaDA, arXiv 2502.09992, and the semantics of its generate.py), not copied.

  llada_generate.py forward  DIR SHIFT TOKENS REPEATS THREADS            -> {"seconds": [...]}
  llada_generate.py logits   DIR SHIFT IDS_FILE OUT_FILE THREADS         -> float32 logits [L, V] to OUT_FILE
  llada_generate.py generate DIR SHIFT PROMPT_FILE GEN BLOCK STEPS THREADS -> {"ids", "nfe", "seconds"}

SHIFT is "shift" for a model with Dream-style shifted logits (position i predicted from the state at i - 1,
position 0 from itself), "noshift" otherwise: LLaDA's Hugging Face layout has no field that says so.
"""
import json
import math
import os
import struct
import sys
import time

# torch.set_num_threads does not reach Debian's pthread OpenBLAS, which starts one thread per core when it loads:
# without this the "one thread" Python peer multiplied on every core (150 against 73 GFLOP/s on a 256x512x1536
# product on the 2-core AMD EPYC). The thread count is the last argument of every verb.
if len(sys.argv) > 1 and sys.argv[-1].isdigit():
    for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = sys.argv[-1]

import numpy as np
import torch


def load_safetensors(path):
    """model.safetensors: an 8-byte little-endian header length, a JSON header, then raw tensors."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        raw = data[start:end]
        if info["dtype"] == "F32":
            t = torch.from_numpy(np.frombuffer(raw, dtype=np.float32).copy())
        elif info["dtype"] == "BF16":
            # bf16 is the high half of an fp32: widen through int32.
            u = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            t = torch.from_numpy(u.view(np.float32).copy())
        else:
            raise SystemExit(f"{path}: tensor {name} has dtype {info['dtype']}, expected F32 or BF16")
        out[name] = t.view(info["shape"])
    return out


class Llada:
    """LLaDA's llama block: RMSNorm, q/k/v, rotate-half RoPE, bidirectional attention, SwiGLU."""

    def __init__(self, folder, shift=False):
        c = json.load(open(f"{folder}/config.json"))
        self.shift = shift
        self.w = load_safetensors(f"{folder}/model.safetensors")
        self.d, self.h = c["d_model"], c["n_heads"]
        self.kv = c.get("n_kv_heads") or self.h
        self.layers, self.eps = c["n_layers"], c.get("rms_norm_eps", 1e-5)
        self.hd = self.d // self.h
        self.theta = c.get("rope_theta", 10000.0)
        self.tied = c.get("weight_tying", False)
        self.mask_id = c["mask_token_id"]
        self.vocab = c.get("embedding_size") or c["vocab_size"]

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * w

    def rope(self, x, cos, sin):
        half = self.hd // 2
        rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
        return x * cos + rotated * sin

    @torch.no_grad()
    def logits(self, ids):
        b, L = ids.shape
        p = "model.transformer."
        x = self.w[p + "wte.weight"][ids]
        inv = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.float64) / self.hd))
        freqs = torch.outer(torch.arange(L, dtype=torch.float64), inv)
        emb = torch.cat([freqs, freqs], -1)
        cos, sin = emb.cos().float(), emb.sin().float()
        rep = self.h // self.kv
        for i in range(self.layers):
            q_ = f"{p}blocks.{i}."
            hN = self.rms(x, self.w[q_ + "attn_norm.weight"])
            q = (hN @ self.w[q_ + "q_proj.weight"].t()).view(b, L, self.h, self.hd).transpose(1, 2)
            k = (hN @ self.w[q_ + "k_proj.weight"].t()).view(b, L, self.kv, self.hd).transpose(1, 2)
            v = (hN @ self.w[q_ + "v_proj.weight"].t()).view(b, L, self.kv, self.hd).transpose(1, 2)
            q, k = self.rope(q, cos, sin), self.rope(k, cos, sin)
            if rep > 1:
                k = k.repeat_interleave(rep, 1)
                v = v.repeat_interleave(rep, 1)
            # Bidirectional: no causal mask (torch 1.13 has no scaled_dot_product_attention).
            att = torch.softmax((q @ k.transpose(-1, -2)) / math.sqrt(self.hd), -1) @ v
            x = x + att.transpose(1, 2).reshape(b, L, self.d) @ self.w[q_ + "attn_out.weight"].t()
            f = self.rms(x, self.w[q_ + "ff_norm.weight"])
            act = torch.nn.functional.silu(f @ self.w[q_ + "ff_proj.weight"].t()) * (f @ self.w[q_ + "up_proj.weight"].t())
            x = x + act @ self.w[q_ + "ff_out.weight"].t()
        x = self.rms(x, self.w[p + "ln_f.weight"])
        head = self.w[p + "wte.weight"] if self.tied else self.w[p + "ff_out.weight"]
        logits = x @ head.t()
        if self.shift and L > 1:
            logits = torch.cat([logits[:, :1], logits[:, :-1]], 1)
        return logits


def num_transfer_tokens(masked, steps):
    """LLaDA: each of a block's steps reveals masked // steps tokens, the first masked % steps one more."""
    base, rem = masked // steps, masked % steps
    return [base + (1 if i < rem else 0) for i in range(steps)]


@torch.no_grad()
def generate(model, prompt, gen_length, block_length, steps, temperature=0.0):
    """LLaDA's generate(): blocks left to right, low-confidence remasking, committed tokens never remasked."""
    x = torch.full((1, len(prompt) + gen_length), model.mask_id, dtype=torch.long)
    x[0, : len(prompt)] = torch.tensor(prompt)
    blocks = gen_length // block_length
    steps_per_block = steps // blocks
    nfe = 0
    for b in range(blocks):
        start, end = len(prompt) + b * block_length, len(prompt) + (b + 1) * block_length
        counts = num_transfer_tokens(int((x[0, start:end] == model.mask_id).sum()), steps_per_block)
        for s in range(steps_per_block):
            mask = x == model.mask_id
            logits = model.logits(x)
            nfe += 1
            if temperature > 0:
                # Gumbel-max in float64, as LLaDA's add_gumbel_noise (a seeded generator, never the global one).
                raise SystemExit("this runner benchmarks greedy decoding only (temperature 0)")
            x0 = logits.argmax(-1)
            p = torch.softmax(logits.double(), -1)
            conf = torch.gather(p, -1, x0.unsqueeze(-1)).squeeze(-1)
            conf[:, end:] = -math.inf
            x0 = torch.where(mask, x0, x)
            conf = torch.where(mask, conf, torch.tensor(-math.inf, dtype=conf.dtype))
            k = counts[s]
            if k > 0:
                idx = torch.topk(conf[0], k).indices
                x[0, idx] = x0[0, idx]
    return x[0].tolist(), nfe


def main():
    verb, folder, shift = sys.argv[1], sys.argv[2], sys.argv[3]
    if shift not in ("shift", "noshift"):
        raise SystemExit(f"the third argument must be shift or noshift, not {shift}")
    args = sys.argv[4:]
    torch.set_num_threads(int(sys.argv[-1]))
    model = Llada(folder, shift == "shift")
    if verb == "forward":
        L, reps = int(args[0]), int(args[1])
        g = torch.Generator().manual_seed(1)
        ids = torch.randint(0, model.vocab, (1, L), generator=g)
        model.logits(ids)  # warm-up
        secs = []
        for _ in range(reps):
            t = time.perf_counter()
            model.logits(ids)
            secs.append(time.perf_counter() - t)
        print(json.dumps({"seconds": secs, "torch": torch.__version__, "threads": torch.get_num_threads()}))
    elif verb == "logits":
        ids = [int(l) for l in open(args[0]) if l.strip()]
        out = model.logits(torch.tensor([ids])).float().contiguous().numpy()
        out.tofile(args[1])
        print(json.dumps({"tokens": len(ids), "vocab": int(out.shape[-1])}))
    elif verb == "generate":
        prompt = [int(l) for l in open(args[0]) if l.strip()]
        gen, block, steps = int(args[1]), int(args[2]), int(args[3])
        t = time.perf_counter()
        ids, nfe = generate(model, prompt, gen, block, steps)
        print(json.dumps({"ids": ids, "nfe": nfe, "seconds": time.perf_counter() - t}))
    else:
        raise SystemExit(f"unknown verb {verb}")


if __name__ == "__main__":
    main()
