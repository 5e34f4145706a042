"""4-bit NormalFloat (NF4) block-wise quantization, as in QLoRA (Dettmers et al., 2023). NumPy only.

NF4's 16 levels are quantiles of N(0, 1), normalised to [-1, 1], with an exact zero: 8 levels from the positive
half and 7 from the negative half (so that 0 is a level and both ends are +-1), the same table as bitsandbytes'
``create_normal_map`` (its ``offset`` 0.9677083 is the mean of 1 - 1/(2*15) and 1 - 1/(2*16)). A weight matrix is
cut into blocks of 64 consecutive values; each block stores one absmax constant (fp32) and, per value, the 4-bit
index of the level nearest to ``value / absmax``. Dequantizing multiplies the level back by the absmax.

Double quantization (the paper's second step) quantizes the absmax constants themselves, in blocks of 256, after
subtracting their mean: 8 bits per constant plus one fp32 scale per 256 constants. The paper stores them as 8-bit
floats; here they are 8-bit integers with a per-block absmax (``double=True``), which costs the same bits.

Bits per parameter: 4 + 32/64 = 4.5 plain; 4 + 8/64 + 32/(64 * 256) ~= 4.127 with double quantization
(``bits_per_parameter``), against 16 for bf16 and 32 for fp32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK = 64  # values per absmax constant (the paper's block size for the weights)
DOUBLE_BLOCK = 256  # absmax constants per second-level scale (double quantization)
OFFSET = 0.5 * ((1 - 1 / (2 * 15)) + (1 - 1 / (2 * 16)))  # 0.9677083...: the outermost quantile used


def nf4_levels() -> np.ndarray:
    """The 16 NF4 levels, ascending: 7 negative (the first -1), 0, 8 positive (the last 1); float32."""
    from statistics import NormalDist

    quantile = np.vectorize(NormalDist().inv_cdf)
    positive = quantile(np.linspace(OFFSET, 0.5, 9)[:-1])  # 8 levels > 0
    negative = -quantile(np.linspace(OFFSET, 0.5, 8)[:-1])  # 7 levels < 0
    levels = np.sort(np.concatenate([positive, [0.0], negative]))
    return (levels / levels.max()).astype(np.float32)


LEVELS = nf4_levels()


@dataclass(frozen=True)
class Quantized:
    """One array in NF4: ``codes`` (uint8 indices into ``LEVELS``, one per value, padded to whole blocks),
    ``absmax`` (fp32 per block; or, with double quantization, ``absmax_codes`` int8 + ``absmax_scales`` fp32 per
    256 constants + ``absmax_mean``), and the original ``shape``."""

    codes: np.ndarray
    shape: tuple
    absmax: np.ndarray | None = None
    absmax_codes: np.ndarray | None = None
    absmax_scales: np.ndarray | None = None
    absmax_mean: float = 0.0

    @property
    def constants(self) -> np.ndarray:
        """The per-block absmax constants (reconstructed from their 8-bit codes under double quantization)."""
        if self.absmax is not None:
            return self.absmax
        blocks = self.absmax_codes.astype(np.float32).reshape(-1, DOUBLE_BLOCK) / 127.0 * self.absmax_scales[:, None]
        return blocks.ravel()[: len(self.codes) // BLOCK] + np.float32(self.absmax_mean)


def _blocks(values: np.ndarray, block: int) -> np.ndarray:
    flat = np.asarray(values, np.float32).ravel()
    return np.concatenate([flat, np.zeros(-len(flat) % block, np.float32)]).reshape(-1, block)


def quantize(w, double: bool = False) -> Quantized:
    """``w`` (any shape, float) -> NF4 codes in blocks of ``BLOCK`` values; ``double``: quantize the constants too."""
    w = np.asarray(w, np.float32)
    if not np.all(np.isfinite(w)):
        raise ValueError("cannot quantize an array with NaN or inf values: check the weights first")
    blocks = _blocks(w, BLOCK)
    absmax = np.abs(blocks).max(1)
    scaled = blocks / np.where(absmax > 0, absmax, 1.0)[:, None]
    midpoints = (LEVELS[1:] + LEVELS[:-1]) / 2  # nearest level: count the midpoints below the value
    codes = np.searchsorted(midpoints, scaled.ravel()).astype(np.uint8)
    if not double:
        return Quantized(codes, w.shape, absmax=absmax.astype(np.float32))
    mean = float(absmax.mean())
    second = _blocks(absmax - mean, DOUBLE_BLOCK)
    scales = np.abs(second).max(1)
    absmax_codes = np.round(second / np.where(scales > 0, scales, 1.0)[:, None] * 127).astype(np.int8)
    return Quantized(codes, w.shape, absmax_codes=absmax_codes.ravel(), absmax_scales=scales.astype(np.float32),
                     absmax_mean=mean)


def dequantize(q: Quantized) -> np.ndarray:
    """The float32 array ``q`` stands for: each value's level times its block's absmax."""
    values = LEVELS[q.codes].reshape(-1, BLOCK) * q.constants[:, None]
    return values.ravel()[: int(np.prod(q.shape))].reshape(q.shape)


def round_trip(w, double: bool = False) -> np.ndarray:
    """``dequantize(quantize(w))``: the weights a 4-bit model computes with."""
    return dequantize(quantize(w, double))


def bits_per_parameter(double: bool = False, block: int = BLOCK) -> float:
    """Storage per quantized value: 4 bits plus its share of the block constants."""
    return 4 + (8 / block + 32 / (block * DOUBLE_BLOCK) if double else 32 / block)


def is_block_matrix(variable) -> bool:
    """The matrices QLoRA puts in 4 bits: the dense kernels inside the transformer blocks. Embeddings, the output
    layer, norms and biases stay in full precision (as ``transformers`` keeps the LM head out of bitsandbytes)."""
    name = variable.name
    return len(variable.shape) == 2 and "kernel" in name and not name.startswith(("logits", "embed"))


def quantize_variables(variables, double: bool = False, select=is_block_matrix) -> dict:
    """Put the ``select``-ed variables through NF4 in place (their values become ``round_trip``'s): the model then
    computes exactly as a 4-bit model that dequantizes in its graph. Returns what it did:
    {"quantized", "kept" (parameters), "bits_per_parameter" (over all of them), "relative_error" (of the quantized
    matrices, Frobenius)}."""
    quantized = kept = 0
    error = norm = 0.0
    for v in variables:
        n = int(np.prod(v.shape))
        if not select(v):
            kept += n
            continue
        w = v.numpy()
        back = round_trip(w, double)
        v.assign(back)
        quantized += n
        error += float(np.sum((back - w) ** 2))
        norm += float(np.sum(w**2))
    total = quantized + kept
    return {"quantized": quantized, "kept": kept,
            "bits_per_parameter": (quantized * bits_per_parameter(double) + kept * 32) / max(total, 1),
            "relative_error": (error / norm) ** 0.5 if norm else 0.0}
