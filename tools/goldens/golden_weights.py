"""Deterministic weights for the golden checkpoints, shared bit for bit with the C# tests.

Every element of a tensor is a counter-based hash of (tensor name, flat index): no random number
generator of either library is involved, so the C# test (tests/DiffusionLM.Tests/Hf/GoldenWeights.cs)
rebuilds exactly the tensors this script fed the upstream code.

  key     = FNV-1a 64 of the tensor name's UTF-8 bytes
  z_i     = splitmix64 finaliser of (key + (i + 1) * 0x9E3779B97F4A7C15)   (mod 2^64)
  u_i     = (z_i >> 11) * 2^-53 * 2 - 1                                    (uniform on [-1, 1))
  value_i = 1 + 0.1 u_i for a norm weight (name contains "norm" or ends with "ln_f.weight"),
            else 0.35 u_i (standard deviation 0.2), computed in float64 and rounded to float32.
"""
import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)


def fnv1a64(name: str) -> np.uint64:
    h = 0xCBF29CE484222325
    for b in name.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(h)


def uniform(name: str, count: int) -> np.ndarray:
    with np.errstate(over="ignore"):
        i = np.arange(1, count + 1, dtype=np.uint64)
        z = fnv1a64(name) + i * GAMMA
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * (2.0 ** -53) * 2.0 - 1.0


def is_norm(name: str) -> bool:
    return "norm" in name or name.endswith("ln_f.weight")


def tensor(name: str, shape) -> np.ndarray:
    n = int(np.prod(shape)) if len(shape) else 1
    u = uniform(name, n)
    v = 1.0 + 0.1 * u if is_norm(name) else 0.35 * u
    return v.astype(np.float32).reshape(shape)
