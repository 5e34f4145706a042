"""LoRA (Hu et al., 2021) through an opaque hub layer: train low-rank factors, write W0 + s*A@B back."""

from __future__ import annotations

import numpy as np

from .. import quantize
from .base import Method


class LoRA(Method):
    """Replace the update of each target kernel W (shape [..., n], seen as an [m, n] matrix) by
    ``W = W0 + scale * A @ B`` with A [m, rank] and B [rank, n]; only A, B and the new head train.

    A hub layer is opaque (no access to its matmuls), so each step: differentiate the loss with
    respect to W, apply the chain rule (dL/dA = scale * dL/dW @ B^T, dL/dB = scale * A^T @ dL/dW),
    let the optimizer update A and B, then assign W0 + scale * A @ B to W. Exact, for any SavedModel.
    B starts at zero, so training starts exactly at the pretrained function.

    rank: r; alpha: scale = alpha / rank (default alpha = rank, scale 1);
    targets: "dense" (rank-2 kernels) or "all" (also convolution kernels, flattened to [kh*kw*cin, cout]).
    Embedding tables (variables named "*embedding*") are lookups, not linear maps: they stay frozen, as in the paper.
    base: "full" (the pretrained weights as they are) or "nf4": QLoRA (Dettmers et al., 2023), the frozen base in 4-bit
    NormalFloat, blocks of 64 (``utils.quantize``): W0 is the dequantized NF4 matrix, so the run computes what a 4-bit
    base that dequantizes in its graph computes, and its "after" includes what quantizing cost.
    """

    distributable = False  # it adds factor variables and writes weights back each step

    key = "lora"

    rank: int = 4
    alpha: float | None = None
    targets: str = "dense"
    base: str = "full"

    def __post_init__(self):
        if self.rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.rank}")
        if self.targets not in ("dense", "all"):
            raise ValueError(f"LoRA targets must be 'dense' or 'all', got {self.targets!r}")
        if self.base not in ("full", "nf4"):
            raise ValueError(f"LoRA base must be 'full' or 'nf4' (QLoRA's 4-bit base), got {self.base!r}")
        self.scale = float(self.alpha if self.alpha is not None else self.rank) / self.rank

    @property
    def label(self):
        return f"{'q' if self.base == 'nf4' else ''}lora(r={self.rank}{',all' if self.targets == 'all' else ''})"

    def setup(self, ctx):
        import tensorflow as tf

        min_rank = 2
        kernels = [v for v in ctx.backbone_variables if v.shape.rank == 2 or (self.targets == "all" and v.shape.rank > 2)]
        kernels = [v for v in kernels if v.shape.rank >= min_rank and "embedding" not in v.name]  # lookup tables stay
        if not kernels:
            raise ValueError("LoRA found no kernel to adapt in the backbone's trainable variables")
        self.quantization = quantize.quantize_variables(ctx.backbone_variables) if self.base == "nf4" else None
        rng = np.random.default_rng(ctx.seed)
        self.kernels, self.w0, self.factors = kernels, [], []
        for v in kernels:
            m, n = int(np.prod(v.shape[:-1])), int(v.shape[-1])
            a = tf.Variable(rng.normal(0, 1 / np.sqrt(m), (m, self.rank)).astype(np.float32), name="lora_A")
            b = tf.Variable(np.zeros((self.rank, n), np.float32), name="lora_B")
            self.w0.append(tf.constant(v.numpy()))
            self.factors.append((a, b))
        self._index = {v.ref(): i for i, v in enumerate(kernels)}
        self.num_parameters = sum(int(a.shape.num_elements() + b.shape.num_elements()) for a, b in self.factors)

    def after_training(self, ctx):
        """QLoRA's report: what its 4-bit base holds (parameters quantized and kept, bits per parameter, error)."""
        return {"nf4_base": self.quantization} if self.quantization else None

    def state(self):
        return {"factors": [(a.numpy(), b.numpy()) for a, b in self.factors]}

    def load_state(self, state):
        for (a, b), (wa, wb) in zip(self.factors, state["factors"]):
            a.assign(wa)
            b.assign(wb)

    def select_variables(self, ctx, variables):
        backbone = {v.ref() for v in ctx.backbone_variables}
        return [v for v in variables if v.ref() not in backbone] + list(self.kernels)

    def transform_gradients(self, ctx, grads_and_vars):
        import tensorflow as tf

        out = []
        for g, v in grads_and_vars:
            i = self._index.get(v.ref())
            if i is None:
                out.append((g, v))
                continue
            a, b = self.factors[i]
            g = tf.reshape(g, [a.shape[0], b.shape[1]])
            out += [(self.scale * tf.matmul(g, b, transpose_b=True), a), (self.scale * tf.matmul(a, g, transpose_a=True), b)]
        return out

    def after_apply(self, ctx):
        import tensorflow as tf

        for v, w0, (a, b) in zip(self.kernels, self.w0, self.factors):
            v.assign(w0 + self.scale * tf.reshape(tf.matmul(a, b), v.shape))
