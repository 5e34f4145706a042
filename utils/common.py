"""Small pieces every layer uses, each defined once: seeding, atomic writes, JSON conversion.

It imports nothing from ``utils`` (the bottom layer; ``tests/test_layers.py`` checks it).
"""

from __future__ import annotations

import os
from pathlib import Path


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds plus op determinism: runs are bit-identical on one CPU."""
    import tensorflow as tf
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (never a half-written file)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def to_jsonable(value):
    """``value`` with numpy scalars made Python numbers, tuples made lists and keys made strings."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:  # numpy scalars
        return value.item()
    return value
