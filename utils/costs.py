"""What fine-tuning costs in parameters and memory: counted on real variables, projected by formula.

Training-state memory (bytes), the usual mixed-precision Adam set-up:
    weights         n_total     x weight_bytes (2: bf16/fp16)
    gradients       n_trainable x grad_bytes   (2)
    master weights  n_trainable x 4            (fp32 copy the optimizer updates)
    Adam moments    n_trainable x 8            (m and v in fp32)
  -> full fine-tuning: 16 bytes per parameter; LoRA: 2 per frozen parameter + 16 per LoRA parameter.

Activations of a transformer layer, per example, without recomputation (Korthikanti et al., 2022), in bytes:
    seq * hidden * 34 + 5 * heads * seq^2        (16-bit activations)
times layers and batch. LoRA does not shrink activations: they are needed to back-propagate to the
adapters, which sit inside every layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def count_parameters(variables) -> int:
    """Number of scalars in a list of variables or arrays."""
    return int(sum(np.prod(v.shape) for v in variables))


def conv2d_parameters(kernel: int, c_in: int, c_out: int) -> int:
    """A k x k convolution with bias: k*k*c_in*c_out + c_out."""
    return kernel * kernel * c_in * c_out + c_out


def dense_parameters(n_in: int, n_out: int) -> int:
    """A dense layer with bias: n_in*n_out + n_out."""
    return n_in * n_out + n_out


def lora_parameters(shapes, rank: int) -> int:
    """LoRA factors for kernels of the given shapes: rank * (m + n) each, m = prod(shape[:-1]), n = shape[-1]."""
    return int(sum(rank * (int(np.prod(s[:-1])) + int(s[-1])) for s in shapes))


@dataclass(frozen=True)
class Transformer:
    """Size of a transformer encoder/decoder, enough for parameter and memory estimates."""

    name: str
    params: float  # total parameters (as published)
    layers: int
    hidden: int
    heads: int


# Published sizes: all-MiniLM-L6-v2, BERT-base, Llama-2-7B, Llama-2-70B.
MODELS = (
    Transformer("MiniLM-L6 (22M)", 22.7e6, 6, 384, 12),
    Transformer("BERT-base (110M)", 110e6, 12, 768, 12),
    Transformer("7B", 6.7e9, 32, 4096, 32),
    Transformer("70B", 69e9, 80, 8192, 64),
)


def transformer_lora_parameters(model: Transformer, rank: int = 8) -> int:
    """LoRA on the query and value projections (hidden x hidden) of every layer: layers * 2 * rank * 2 * hidden."""
    return model.layers * 2 * lora_parameters([(model.hidden, model.hidden)], rank)


def training_memory(n_total: float, n_trainable: float, weight_bytes: int = 2, grad_bytes: int = 2,
                    master_bytes: int = 4, moment_bytes: int = 8) -> dict:
    """Bytes of the training state (module docstring): {"weights", "gradients", "master", "moments", "total"}."""
    parts = {
        "weights": n_total * weight_bytes,
        "gradients": n_trainable * grad_bytes,
        "master": n_trainable * master_bytes,
        "moments": n_trainable * moment_bytes,
    }
    parts["total"] = sum(parts.values())
    return parts


def activation_bytes(model: Transformer, batch: int, seq: int, bytes_per_value: int = 2) -> float:
    """Activation memory kept for back-propagation: layers * batch * (34 * seq * hidden + 5 * heads * seq^2) / 2 * bytes."""
    per_layer = 34 * seq * model.hidden + 5 * model.heads * seq * seq  # in bytes at 16 bits
    return model.layers * batch * per_layer * bytes_per_value / 2


def projection(models=MODELS, rank: int = 8, batch: int = 8, seq: int = 512) -> list[dict]:
    """Per model: training-state GB for full fine-tuning and for LoRA, and activation GB (batch x seq)."""
    rows = []
    for m in models:
        lora = transformer_lora_parameters(m, rank)
        rows.append({
            "model": m.name,
            "params": m.params,
            "lora_params": lora,
            "full_state_GB": training_memory(m.params, m.params)["total"] / 1e9,
            "lora_state_GB": training_memory(m.params + lora, lora)["total"] / 1e9,
            "activations_GB": activation_bytes(m, batch, seq) / 1e9,
        })
    return rows


def decoder_parameters(layers: int, d_model: int, vocab: int, ctx: int, mlp_ratio: int = 4) -> int:
    """A pre-LayerNorm causal decoder (``utils.lm_model.make_lm``): token and position embeddings; per layer two
    LayerNorms, a fused QKV projection, an output projection and a two-layer MLP, all with biases; a final
    LayerNorm and an untied output layer."""
    d, hidden = d_model, mlp_ratio * d_model
    per_layer = 2 * 2 * d + dense_parameters(d, 3 * d) + dense_parameters(d, d) + dense_parameters(d, hidden) \
        + dense_parameters(hidden, d)
    return vocab * d + ctx * d + layers * per_layer + 2 * d + dense_parameters(d, vocab)


# Bytes per parameter of the training state under each set-up (module docstring: weights, gradients, fp32 master
# weights, Adam moments). 8-bit Adam (Dettmers et al., 2022) keeps the two moments in 1 byte each; QLoRA
# (Dettmers et al., 2023) stores the frozen weights in 4-bit NF4 with double-quantised constants (about 4.13 bits).
NF4_BYTES = 4.127 / 8


def memory_strategies(n_params: float, n_lora: float, devices: int = 8) -> dict:
    """Training-state bytes of one model under the usual set-ups; per device where the state is sharded.

    full / full, 8-bit Adam / LoRA / QLoRA: one device. ZeRO-1/2/3 (Rajbhandari et al., 2020; FSDP's full shard is
    ZeRO-3): full fine-tuning data-parallel over ``devices``, sharding the optimizer state (1), also the gradients
    (2), also the weights (3). Activations and the KV cache come on top (``activation_bytes``, ``kv_cache_bytes``).
    """
    n, r, k = n_params, n_lora, devices
    return {
        "full (bf16 + fp32 Adam)": training_memory(n, n)["total"],
        "full, 8-bit Adam": training_memory(n, n, moment_bytes=2)["total"],
        f"ZeRO-1 over {k}": n * (2 + 2) + n * 12 / k,
        f"ZeRO-2 over {k}": n * 2 + n * (2 + 12) / k,
        f"ZeRO-3 / FSDP over {k}": n * 16 / k,
        "LoRA (bf16 frozen weights)": training_memory(n + r, r)["total"],
        "QLoRA (4-bit NF4 frozen weights)": n * NF4_BYTES + training_memory(r, r)["total"],
    }


def checkpointed_activation_bytes(model: Transformer, batch: int, seq: int, bytes_per_value: int = 2) -> float:
    """Activation checkpointing (Chen et al., 2016) at layer boundaries: keep each layer's input
    (batch x seq x hidden) and recompute one layer's activations at a time during the backward pass."""
    inputs = model.layers * batch * seq * model.hidden * bytes_per_value
    return inputs + activation_bytes(Transformer(model.name, model.params, 1, model.hidden, model.heads), batch, seq,
                                     bytes_per_value)


def kv_cache_bytes(model: Transformer, batch: int, seq: int, bytes_per_value: int = 2, kv_heads: int | None = None) -> float:
    """Inference's KV cache: keys and values of every layer for every token so far,
    2 x layers x batch x seq x hidden x bytes, divided by heads / kv_heads under grouped-query attention."""
    share = (kv_heads or model.heads) / model.heads
    return 2 * model.layers * batch * seq * model.hidden * bytes_per_value * share
