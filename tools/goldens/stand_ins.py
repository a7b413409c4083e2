"""Minimal stand-ins for the packages the upstream modeling files import but Debian 12 lacks.

Only the symbols those files touch on a forward pass are provided; everything else is absent, so
an upstream file that starts to use more fails loudly instead of silently running our code.

- transformers: configuration and model base classes (plain nn.Module / attribute bags), the
  "default" RoPE initialiser (inv_freq = 1 / θ^(2i/d), attention scaling 1, as transformers'
  _compute_default_rope_parameters), ACT2FN["silu"], logging, docstring decorators.
- einops.rearrange: the three patterns MDLM's dit.py uses, written out.
- flash_attn: plain (non-causal, per-sequence) softmax attention for
  flash_attn_varlen_qkvpacked_func, and rotate-half RoPE on q and k for apply_rotary_emb_qkv_
  (flash-attn's non-interleaved rotary: x·cos + rotate_half(x)·sin on the first 2·cos.shape[-1] dims).
- huggingface_hub.PyTorchModelHubMixin, omegaconf.OmegaConf: empty shells.
- torch 1.13 lacks torch.compile and F.scaled_dot_product_attention (both 2.0): identity decorator
  and plain attention (bool mask True = attend, float mask added to the scores).
"""
import logging as _logging
import math
import sys
import types

import torch
import torch.nn as nn
import torch.nn.functional as F


def plain_attention(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    assert dropout_p == 0.0 and not is_causal, "stand-in supports inference only"
    s = (q.float() @ k.float().transpose(-2, -1)) * (scale if scale is not None else 1.0 / math.sqrt(q.shape[-1]))
    if attn_mask is not None:
        if attn_mask.dtype == torch.bool:
            s = s.masked_fill(~attn_mask, float("-inf"))
        else:
            s = s + attn_mask.float()
    return (torch.softmax(s, dim=-1) @ v.float()).to(q.dtype)


def _module(name, **attrs):
    m = types.ModuleType(name)
    m.__dict__.update(attrs)
    sys.modules[name] = m
    return m


class _Logger(_logging.Logger):
    def warning_once(self, *a, **k):
        pass


def _get_logger(name):
    return _Logger(name)


class PretrainedConfig:
    model_type = ""

    def __init__(self, **kwargs):
        self.output_attentions = False
        self.output_hidden_states = False
        self.use_return_dict = True
        self._attn_implementation = "sdpa"
        self.tie_word_embeddings = kwargs.pop("tie_word_embeddings", True)
        for k, v in kwargs.items():
            setattr(self, k, v)


class PreTrainedModel(nn.Module):
    def __init__(self, config, *args, **kwargs):
        super().__init__()
        self.config = config

    def post_init(self):
        pass


class _Registry:
    @staticmethod
    def register(*a, **k):
        pass


def _default_rope(config, device=None, **kwargs):
    dim = config.hidden_size // config.num_attention_heads
    inv_freq = 1.0 / (config.rope_theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float().to(device) / dim))
    return inv_freq, 1.0


def _docstrings(*a, **k):
    return lambda f: f


class _Output:
    def __init__(self, *a, **k):
        raise NotImplementedError("stand-in: call the upstream forward with return_dict=False")


def _rearrange(x, pattern, **axes):
    if pattern == "b s (three h d) -> b s three h d":
        b, s, _ = x.shape
        return x.view(b, s, axes["three"], axes["h"], -1)
    if pattern == "b s ... -> (b s) ...":
        return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])
    if pattern == "(b s) h d -> b s (h d)":
        return x.reshape(axes["b"], -1, x.shape[1] * x.shape[2])
    raise NotImplementedError(f"einops stand-in: pattern {pattern!r}")


def _rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def _apply_rotary_emb_qkv_(qkv, cos, sin, cos_k=None, sin_k=None, interleaved=False, seqlen_offsets=0):
    assert cos_k is None and sin_k is None and not interleaved and seqlen_offsets == 0
    seq = qkv.shape[1]
    rd = cos.shape[-1] * 2
    c = torch.cat((cos[:seq], cos[:seq]), dim=-1)[None, :, None, :]
    s = torch.cat((sin[:seq], sin[:seq]), dim=-1)[None, :, None, :]
    for j in (0, 1):  # q and k; v untouched
        x = qkv[:, :, j, :, :rd]
        qkv[:, :, j, :, :rd] = x * c + _rotate_half(x) * s
    return qkv


def _flash_attn_varlen_qkvpacked_func(qkv, cu_seqlens, max_seqlen, dropout_p=0.0, causal=False, **kw):
    assert dropout_p == 0.0 and not causal
    out = torch.empty(qkv.shape[0], qkv.shape[2], qkv.shape[3], dtype=qkv.dtype)
    bounds = cu_seqlens.tolist()
    for a, b in zip(bounds[:-1], bounds[1:]):
        q, k, v = (qkv[a:b, j].transpose(0, 1) for j in range(3))  # [h, s, d]
        out[a:b] = plain_attention(q, k, v).transpose(0, 1)
    return out


def install():
    """Registers the stand-ins in sys.modules and patches torch 1.13's missing 2.0 API."""
    if not hasattr(torch, "compile"):
        torch.compile = lambda *a, **k: (lambda f: f)
    if not hasattr(F, "scaled_dot_product_attention"):
        F.scaled_dot_product_attention = plain_attention
    for fn in ("enable_flash_sdp", "enable_mem_efficient_sdp"):
        if not hasattr(torch.backends.cuda, fn):
            setattr(torch.backends.cuda, fn, lambda enabled: None)

    logging_mod = _module("transformers.utils.logging", get_logger=_get_logger)
    _module("transformers", PreTrainedModel=PreTrainedModel, PretrainedConfig=PretrainedConfig,
            AutoConfig=_Registry, __version__="stand-in")
    _module("transformers.modeling_outputs", CausalLMOutputWithPast=_Output, BaseModelOutput=_Output, MaskedLMOutput=_Output)
    _module("transformers.models")
    _module("transformers.models.auto", AutoModel=_Registry)
    _module("transformers.cache_utils", Cache=object, DynamicCache=object)
    _module("transformers.activations", ACT2FN={"silu": nn.SiLU()})
    _module("transformers.modeling_rope_utils", ROPE_INIT_FUNCTIONS={"default": _default_rope},
            rope_config_validation=lambda config: None)
    _module("transformers.modeling_utils", PreTrainedModel=PreTrainedModel)
    _module("transformers.configuration_utils", PretrainedConfig=PretrainedConfig)
    _module("transformers.utils", add_start_docstrings=_docstrings, add_start_docstrings_to_model_forward=_docstrings,
            is_flash_attn_2_available=lambda: False, is_flash_attn_greater_or_equal_2_10=lambda: False,
            logging=logging_mod)

    _module("einops", rearrange=_rearrange)
    fa = _module("flash_attn")
    fa.layers = _module("flash_attn.layers")
    fa.layers.rotary = _module("flash_attn.layers.rotary", apply_rotary_emb_qkv_=_apply_rotary_emb_qkv_)
    fa.flash_attn_interface = _module("flash_attn.flash_attn_interface",
                                      flash_attn_varlen_qkvpacked_func=_flash_attn_varlen_qkvpacked_func)
    _module("huggingface_hub", PyTorchModelHubMixin=type("PyTorchModelHubMixin", (), {}))
    _module("omegaconf", OmegaConf=type("OmegaConf", (), {}))
