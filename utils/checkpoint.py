"""Per-epoch checkpoints of a fine-tuning run, written atomically, so an interrupted run resumes exactly.

A checkpoint is one file ``epoch-NNNN.pkl`` holding plain numpy arrays and Python values: the backbone
and head weights, the optimizer's slots, both random generators' states, the history so far and each
method's state. It is written to a temporary file and renamed, so a kill during the write leaves the
previous checkpoint intact. The two newest are kept.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path

from .common import write_atomic

PATTERN = re.compile(r"^epoch-(\d{4})\.pkl$")


class Checkpointer:
    """Saves and finds the per-epoch checkpoints in ``directory``."""

    def __init__(self, directory, keep: int = 2):
        self.directory = Path(directory)
        self.keep = keep

    def epochs(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        return sorted(int(m.group(1)) for p in self.directory.iterdir() if (m := PATTERN.match(p.name)))

    def path(self, epoch: int) -> Path:
        return self.directory / f"epoch-{epoch:04d}.pkl"

    def save(self, epoch: int, state: dict) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(epoch)
        write_atomic(path, pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        for old in self.epochs()[: -self.keep]:
            self.path(old).unlink(missing_ok=True)
        return path

    def latest(self) -> dict | None:
        """The newest checkpoint's state, or None when there is none."""
        found = self.epochs()
        if not found:
            return None
        with open(self.path(found[-1]), "rb") as f:
            return pickle.load(f)
