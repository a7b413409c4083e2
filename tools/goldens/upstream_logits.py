#!/usr/bin/python3
"""Golden logits of the upstream modeling code on tiny exact-layout checkpoints.

Runs, at development time, the reference implementations read from fetched git snapshots (never
copied into this project):
  - LLaDA: NVlabs/Fast-dLLM llada/model/{configuration,modeling}_llada.py (LLaDAModelLM)
  - Dream: NVlabs/Fast-dLLM dream/model/{configuration,modeling}_dream.py (DreamModel)
  - MDLM:  kuleshov-group/mdlm models/dit.py (DIT), noise_schedule.py (LogLinearNoise) and
           diffusion.py's Diffusion._subs_parameterization (taken out of the class with ast)
on weights from golden_weights.py, and writes the logits as JSON. The C# test
(tests/DiffusionLM.Tests/Hf/UpstreamGoldenTests.cs) rebuilds the same checkpoints, loads them with
ModelLoader and compares.

Needs Debian's python3-torch (1.13) and python3-numpy; the packages it lacks (transformers, einops,
flash_attn, huggingface_hub, omegaconf) are replaced by stand_ins.py.

  /usr/bin/python3 tools/goldens/upstream_logits.py --fast-dllm GITDIR --mdlm GITDIR \
      --out tests/DiffusionLM.Tests/Hf/Goldens/upstream_logits.json

GITDIR is a bare git directory (the `fetch` tool's /work/.mirror/OWNER+NAME/repo); files are read
with `git show HEAD:PATH` into a temporary folder and imported from there.
"""
import argparse
import ast
import importlib
import json
import os
import subprocess
import sys
import tempfile
import types

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import golden_weights  # noqa: E402
import stand_ins  # noqa: E402

IDS = [5, 17, 3, 99, 42, 7, 250, 1]
VOCAB = 640  # ≥ the test tokenizer's 600 ids; the test writes its special ids into the config


def git_show(gitdir, path):
    return subprocess.run(["git", "--git-dir", gitdir, "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def git_head(gitdir):
    return subprocess.run(["git", "--git-dir", gitdir, "rev-parse", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()


def write_package(root, name, files):
    """Writes upstream files (name → source) as package `name` under root; an empty __init__.py."""
    d = os.path.join(root, name)
    os.makedirs(d, exist_ok=True)
    open(os.path.join(d, "__init__.py"), "w").close()
    for fname, src in files.items():
        with open(os.path.join(d, fname), "w") as f:
            f.write(src)


def fill(model, prefix):
    """Sets every parameter from golden_weights under its checkpoint name (prefix + parameter name)."""
    names = []
    with torch.no_grad():
        for n, p in model.named_parameters():
            full = prefix + n
            p.copy_(torch.from_numpy(golden_weights.tensor(full, list(p.shape))))
            names.append({"name": full, "shape": list(p.shape)})
    return sorted(names, key=lambda e: e["name"])


def as_stored(model, dtype):
    """Rounds every parameter to the checkpoint's dtype and back: the upstream code in fp32 on a bf16
    checkpoint (model.float() after from_pretrained), which is what the project's loaders compute."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).float())


def logits_json(t):
    return [[float(f"{v:.7g}") for v in row] for row in t[0].float().tolist()]


def llada_config(tied):
    return {
        "model_type": "llada", "architectures": ["LLaDAModelLM"], "activation_type": "silu", "block_type": "llama",
        "layer_norm_type": "rms", "rope": True, "alibi": False, "include_bias": False, "include_qkv_bias": False,
        "d_model": 32, "n_heads": 4, "n_kv_heads": 2, "n_layers": 2, "mlp_hidden_size": 48, "mlp_ratio": 4,
        "vocab_size": VOCAB, "embedding_size": VOCAB + 5, "max_sequence_length": 256, "rope_theta": 500000.0,
        "rms_norm_eps": 1e-5, "weight_tying": tied, "mask_token_id": VOCAB - 4, "eos_token_id": VOCAB - 3,
        "pad_token_id": VOCAB - 2, "flash_attention": False,
    }


def dream_config():
    return {
        "model_type": "Dream", "architectures": ["DreamModel"], "hidden_act": "silu", "hidden_size": 32,
        "intermediate_size": 40, "num_attention_heads": 4, "num_key_value_heads": 2, "num_hidden_layers": 2,
        "vocab_size": VOCAB, "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
        "tie_word_embeddings": False, "mask_token_id": VOCAB - 4, "eos_token_id": VOCAB - 3, "pad_token_id": VOCAB - 2,
        "bos_token_id": VOCAB - 1, "rope_scaling": None, "use_sliding_window": False,
    }


def mdlm_config(time_conditioning):
    return {
        "model_type": "mdlm", "architectures": ["MDLM"], "hidden_dim": 32, "cond_dim": 16, "n_blocks": 2,
        "n_heads": 4, "vocab_size": VOCAB + 1, "model_length": 64, "dropout": 0.1, "time_conditioning": time_conditioning,
    }


def run_llada(pkg, dtype, tied):
    cfg_mod = importlib.import_module(f"{pkg}.configuration_llada")
    mod = importlib.import_module(f"{pkg}.modeling_llada")
    hf = llada_config(tied)
    model = mod.LLaDAModelLM(cfg_mod.LLaDAConfig(**hf), init_params=False).eval()
    names = fill(model, "")
    as_stored(model, dtype)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([IDS]), return_dict=False)[0]
    return hf, names, IDS, out


def run_dream(pkg, dtype):
    cfg_mod = importlib.import_module(f"{pkg}.configuration_dream")
    mod = importlib.import_module(f"{pkg}.modeling_dream")
    hf = dream_config()
    model = mod.DreamModel(cfg_mod.DreamConfig(**hf)).eval()
    names = fill(model, "")
    as_stored(model, dtype)
    with torch.no_grad():
        out = model(input_ids=torch.tensor([IDS]), return_dict=False)[0]
    return hf, names, IDS, out


def subs_parameterization(diffusion_src):
    """Diffusion._subs_parameterization from diffusion.py, compiled on its own (the class needs Lightning)."""
    tree = ast.parse(diffusion_src)
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Diffusion")
    fn = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "_subs_parameterization")
    ns = {"torch": torch}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), "diffusion.py", "exec"), ns)
    return ns["_subs_parameterization"]


def run_mdlm(dit, noise, subs, neg_infinity, time_conditioning, t, bf16_autocast):
    hf = mdlm_config(time_conditioning)
    mask = hf["vocab_size"] - 1
    ids = [5, mask, 3, mask, mask, 7, 250, mask]
    config = types.SimpleNamespace(model=types.SimpleNamespace(
        hidden_size=hf["hidden_dim"], cond_dim=hf["cond_dim"], n_heads=hf["n_heads"], n_blocks=hf["n_blocks"],
        dropout=hf["dropout"], scale_by_sigma=False))
    model = dit.DIT(config, vocab_size=hf["vocab_size"]).eval()
    names = fill(model, "backbone.")
    if bf16_autocast:  # the released weights are fp32; MDLM runs the blocks under bf16 autocast
        with torch.no_grad():
            for p in model.parameters():
                p.copy_(p.to(torch.bfloat16).float())
    # diffusion.py's _process_sigma: zeros without time conditioning.
    sigma = noise.LogLinearNoise().total_noise(torch.tensor([t])) if time_conditioning else torch.zeros(1)
    real_autocast = torch.cuda.amp.autocast
    # dit.py asks for CUDA autocast; on this CPU the same bf16 autocast is torch.autocast("cpu").
    torch.cuda.amp.autocast = lambda enabled=True, dtype=torch.bfloat16, **k: torch.autocast(
        "cpu", enabled=enabled and bf16_autocast, dtype=torch.bfloat16)
    try:
        with torch.no_grad():
            raw = model(torch.tensor([ids]), sigma).float()
    finally:
        torch.cuda.amp.autocast = real_autocast
    self = types.SimpleNamespace(mask_index=mask, neg_infinity=neg_infinity)
    out = subs(self, raw.clone(), torch.tensor([ids]))
    return hf, names, ids, out, float(sigma[0])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fast-dllm", required=True, help="git dir of NVlabs/Fast-dLLM")
    ap.add_argument("--mdlm", required=True, help="git dir of kuleshov-group/mdlm")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    stand_ins.install()
    torch.set_num_threads(1)

    tmp = tempfile.mkdtemp(prefix="upstream-")
    sys.path.insert(0, tmp)
    write_package(tmp, "up_llada", {f: git_show(a.fast_dllm, f"llada/model/{f}")
                                    for f in ("configuration_llada.py", "modeling_llada.py")})
    files = {f: git_show(a.fast_dllm, f"dream/model/{f}") for f in ("configuration_dream.py", "modeling_dream.py")}
    # generation_utils.py is Dream's sampler (transformers' GenerationConfig); only its two names are imported.
    files["generation_utils.py"] = "class DreamGenerationMixin: pass\nclass DreamGenerationConfig: pass\n"
    write_package(tmp, "up_dream", files)
    write_package(tmp, "up_mdlm", {"dit.py": git_show(a.mdlm, "models/dit.py"),
                                   "noise_schedule.py": git_show(a.mdlm, "noise_schedule.py")})
    diffusion_src = git_show(a.mdlm, "diffusion.py")
    dit = importlib.import_module("up_mdlm.dit")
    noise = importlib.import_module("up_mdlm.noise_schedule")
    subs = subs_parameterization(diffusion_src)
    neg_inf = float(next(l for l in diffusion_src.splitlines() if "self.neg_infinity =" in l).split("=")[1])

    cases = []
    for name, dtype, tied in (("llada_fp32", torch.float32, False), ("llada_bf16_tied", torch.bfloat16, True)):
        hf, names, ids, out = run_llada("up_llada", dtype, tied)
        cases.append({"name": name, "family": "llada", "dtype": str(dtype).split(".")[1], "compute": "float32",
                      "config": hf, "tensors": names, "ids": ids, "what": "LLaDAModelLM(...).logits", "logits": logits_json(out)})
    for name, dtype in (("dream_fp32", torch.float32), ("dream_bf16", torch.bfloat16)):
        hf, names, ids, out = run_dream("up_dream", dtype)
        cases.append({"name": name, "family": "dream", "dtype": str(dtype).split(".")[1], "compute": "float32",
                      "config": hf, "tensors": names, "ids": ids, "what": "DreamModel(...).logits (unshifted)", "logits": logits_json(out)})
    for name, tc, t, bf16 in (("mdlm_fp32", False, 0.7, False), ("mdlm_fp32_time", True, 0.7, False),
                              ("mdlm_bf16_time", True, 0.3, True)):
        hf, names, ids, out, sigma = run_mdlm(dit, noise, subs, neg_inf, tc, t, bf16)
        cases.append({"name": name, "family": "mdlm", "dtype": "bfloat16" if bf16 else "float32",
                      "compute": "bfloat16 autocast" if bf16 else "float32", "config": hf,
                      "tensors": names, "ids": ids, "time": t, "sigma": sigma,
                      "what": "Diffusion._subs_parameterization(DIT(ids, sigma), ids)", "logits": logits_json(out)})

    doc = {
        "made_by": "tools/goldens/upstream_logits.py",
        "command": "/usr/bin/python3 tools/goldens/upstream_logits.py --fast-dllm /work/.mirror/NVlabs+Fast-dLLM/repo "
                   "--mdlm /work/.mirror/kuleshov-group+mdlm/repo --out tests/DiffusionLM.Tests/Hf/Goldens/upstream_logits.json",
        "upstream": {"NVlabs/Fast-dLLM": git_head(a.fast_dllm), "kuleshov-group/mdlm": git_head(a.mdlm)},
        "torch": torch.__version__,
        "weights": "tools/goldens/golden_weights.py (counter hash of tensor name and index; no RNG)",
        "stand_ins": "tools/goldens/stand_ins.py: transformers, einops, flash_attn, huggingface_hub, omegaconf, "
                     "torch.compile and F.scaled_dot_product_attention (torch 1.13) replaced by plain code",
        "cases": cases,
    }
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp_out = a.out + ".tmp"
    with open(tmp_out, "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp_out, a.out)
    for c in cases:
        arr = np.array(c["logits"])
        finite = arr[np.abs(arr) < 1e5]
        print(f"{c['name']}: {arr.shape}, |logit| max {np.abs(finite).max():.3f}")


if __name__ == "__main__":
    main()
