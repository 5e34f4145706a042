"""Per-epoch checkpoints of a fine-tuning run, written atomically, so an interrupted run resumes exactly
(``RunCheckpoints``: what the runner saves after every epoch and puts back on ``resume``).

A checkpoint is one file ``epoch-NNNN.pkl`` holding plain numpy arrays and Python values: the backbone
and head weights, the optimizer's slots, both random generators' states, the history so far and each
method's state. It is written to a temporary file and renamed, so a kill during the write leaves the
previous checkpoint intact. The two newest are kept.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from .common import differences, write_atomic
from .results import RunState

if TYPE_CHECKING:
    from .methods.base import Context

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


class ResumeError(ValueError):
    """A checkpoint cannot be resumed with these settings; the message says why."""


class RunCheckpoints:
    """A run's checkpoints (``utils.checkpoint``): the one to resume from, found and checked when the run is made
    (``saved``), and one written after every epoch. ``fingerprint``: the settings a checkpoint must share to be
    resumed by this run. Without a folder, nothing is written (``on`` is False)."""

    def __init__(self, directory, fingerprint: dict, resume: bool):
        self.directory, self.fingerprint = directory, fingerprint
        self.checkpointer = Checkpointer(directory) if directory is not None else None
        self.on = self.checkpointer is not None
        self.saved = self._find(resume)

    def _find(self, resume: bool) -> dict | None:
        """The checkpoint to resume from, or None; refuses another run's checkpoints and mixing two runs."""
        if self.checkpointer is None:
            if resume:
                raise ResumeError("resume=True needs a checkpoint_dir")
            return None
        if not resume:
            if self.checkpointer.epochs():
                raise ResumeError(f"{self.directory} already holds checkpoints: resume them, or choose another directory")
            return None
        saved = self.checkpointer.latest()
        diff = differences(self.fingerprint, saved["fingerprint"]) if saved is not None else {}
        if diff:
            raise ResumeError(f"the checkpoints in {self.directory} are from another run; (saved, now): {diff}")
        return saved

    def save(self, state: RunState, ctx: Context, methods) -> None:
        if self.checkpointer is not None:
            self.checkpointer.save(state.epoch, {
                "fingerprint": self.fingerprint, "state": asdict(state), "probed_head": ctx.training.probed_head,
                "backbone": [v.numpy() for v in ctx.backbone_variables], "head": [w.numpy() for w in ctx.head.weights],
                "np_rng": ctx.np_rng.bit_generator.state, "tf_rng": ctx.rng.state.numpy(),
                "methods": [m.state() for m in methods]})

    def restore(self, ctx: Context, methods) -> RunState:
        """Put the saved weights, random generators and methods' states back; the saved RunState."""
        saved = self.saved
        for v, w in zip(ctx.backbone_variables + list(ctx.head.weights), saved["backbone"] + saved["head"]):
            v.assign(w)
        ctx.np_rng.bit_generator.state = saved["np_rng"]
        ctx.rng.reset(saved["tf_rng"])
        ctx.training.probed_head = saved["probed_head"]
        for m, st in zip(methods, saved["methods"]):
            m.load_state(st)
        return RunState(**saved["state"])
