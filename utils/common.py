"""Small pieces every layer uses, each defined once: the training protocol's defaults, seeding, atomic writes,
JSON conversion, settings compared.

It imports nothing from ``utils`` (the bottom layer; ``tests/test_layers.py`` checks it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np


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


def differences(expected: dict, actual: dict, keys=None) -> dict:
    """{key: (actual value, expected value)} of each setting in ``expected`` (or only ``keys``) that ``actual`` has
    otherwise (a missing one counts as None). One answer to "does this run match those settings?", asked by a
    checkpoint being resumed, a run given to a comparison and a run given as a sequence's first stage."""
    keys = expected.keys() if keys is None else keys
    return {k: (actual.get(k), expected[k]) for k in keys if actual.get(k) != expected[k]}


SCHEDULES = ("constant", "cosine")


@dataclass(frozen=True)
class Protocol:
    """How every run trains unless told otherwise: the command line, ``utils.compare`` and the notebooks
    read these defaults from ``PROTOCOL``, so they are written in one place.

    schedule: "cosine" (the learning rate decays to 0 over each phase: the end of training is quiet, so the
    final numbers vary less from seed to seed) or "constant". learning_rate: Adam's (peak) rate.
    warmup: optimizer steps of linear warm-up from 0 to the rate at the start of each phase (0: none), before the
    schedule (``utils.runtime.learning_rate_schedule``).
    """

    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 3e-3
    schedule: str = "cosine"
    seed: int = 0
    warmup: int = 0

    def check(self) -> None:
        """Raise ValueError naming the first bad setting."""
        for name, value, low in (("epochs", self.epochs, 0), ("batch_size", self.batch_size, 1), ("warmup", self.warmup, 0)):
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")


PROTOCOL = Protocol()
