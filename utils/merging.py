"""Model merging in weight space: task vectors, task arithmetic and TIES. NumPy only.

A task vector is what fine-tuning added to the pretrained weights: tau = theta_ft - theta_0 (Ilharco et al., 2023).
Task arithmetic adds several: theta = theta_0 + scale * sum(tau_i); WiSE-FT (Wortsman et al., 2022) is the one-vector
case, theta_0 + alpha * tau. TIES-merging (Yadav et al., 2023) first *trims* each vector to its largest-magnitude
``density`` share, *elects* a sign per weight (the sign of the summed trimmed vectors), then averages only the
entries that agree with it: interference between the vectors' small or opposite updates is removed.

Weights are lists of arrays aligned with a backbone's ``trainable_variables`` (``FineTuneResult.context``).
"""

from __future__ import annotations

import numpy as np


def task_vector(tuned, initial) -> list[np.ndarray]:
    """tau = tuned - initial, per variable (arrays or tf variables/constants)."""
    return [np.asarray(t) - np.asarray(i) for t, i in zip(tuned, initial)]


def task_arithmetic(initial, vectors, scale: float = 1.0) -> list[np.ndarray]:
    """theta_0 + scale * sum of the task vectors."""
    return [np.asarray(w0) + scale * sum(v[i] for v in vectors) for i, w0 in enumerate(initial)]


def ties(initial, vectors, density: float = 0.2, scale: float = 1.0) -> list[np.ndarray]:
    """TIES-merging: trim each vector to its top ``density`` share by magnitude (over all its entries), elect
    each weight's sign by the sum of the trimmed vectors, average the entries that agree, add ``scale`` x that."""
    if not 0 < density <= 1:
        raise ValueError(f"TIES density must be in (0, 1], got {density}")
    trimmed = []
    for v in vectors:
        flat = np.concatenate([np.abs(a).ravel() for a in v])
        k = max(1, int(round(density * flat.size)))
        cut = np.partition(flat, flat.size - k)[flat.size - k]
        trimmed.append([np.where(np.abs(a) >= cut, a, 0.0) for a in v])
    merged = []
    for i, w0 in enumerate(initial):
        stack = np.stack([t[i] for t in trimmed])
        sign = np.sign(stack.sum(0))
        agree = (np.sign(stack) == sign) & (stack != 0)
        mean = np.where(agree, stack, 0.0).sum(0) / np.maximum(agree.sum(0), 1)
        merged.append(np.asarray(w0) + scale * mean)
    return merged


def interference(vectors) -> float:
    """Share of the weights that two or more vectors change in opposite directions (what TIES resolves)."""
    conflicts = total = 0
    for parts in zip(*vectors):
        stack = np.sign(np.stack(parts))
        conflicts += int(((stack > 0).any(0) & (stack < 0).any(0)).sum())
        total += stack[0].size
    return conflicts / total
