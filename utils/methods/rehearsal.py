"""Rehearsal (experience replay): mix a fraction of stored task-A examples into every batch."""

from __future__ import annotations

import numpy as np

from .base import Method


class Rehearsal(Method):
    """Each batch of ``batch_size`` task-B examples gets task-A examples added so that they make up
    ``fraction`` of the combined batch; they are scored with the frozen task-A head. Each replayed
    example weighs as much as a task-B example and task B's part of the loss is not diluted (the sum
    is divided by the number of task-B examples): at 50% the loss is task B's mean plus task A's mean.

    Why it works: the loss keeps measuring task A, so the optimizer cannot trade it away unseen.
    Its cost: task-A data must be kept (privacy, licences, storage).

    fraction: share of task-A examples in each combined batch, in [0, 1).
    memory: how many task-A training examples are stored (None = all), drawn once with seed 0.
    """

    key = "rehearsal"
    needs_task_a_data = True
    fraction: float = 0.1
    memory: int | None = None

    def __post_init__(self):
        if not 0 <= self.fraction < 1:
            raise ValueError(f"Rehearsal fraction must be in [0, 1), got {self.fraction}")
        if self.memory is not None and self.memory < 1:
            raise ValueError(f"Rehearsal memory must be a positive number of examples, got {self.memory}")

    @property
    def label(self):
        mem = "" if self.memory is None else f",mem={self.memory}"
        return f"rehearsal({self.fraction:.0%}{mem})"

    def replay_size(self, batch_size):
        """Task-A examples per batch: n_a / (n_a + batch_size) = fraction, rounded; at least one for a share above 0
        (a share under half an example per batch: one example, weighed down to the share, ``replay_weight``)."""
        share = self.fraction * batch_size / (1 - self.fraction)
        return max(int(round(share)), 1 if self.fraction > 0 else 0)

    def replay_weight(self, batch_size):
        """1, or for a share under half an example per batch (1% of a batch of 32) the share itself: one replayed
        example that weighs as much as 0.32 task-B examples, so 1% of the loss's examples are replayed."""
        share = self.fraction * batch_size / (1 - self.fraction)
        return 1.0 if round(share) >= 1 else share

    def setup(self, ctx):
        if ctx.task_a is None or ctx.old_head is None:
            raise ValueError("Rehearsal needs task-A data and the task-A head")
        n = len(ctx.task_a.y_train)
        keep = np.arange(n)
        if self.memory is not None and self.memory < n:
            keep = np.sort(np.random.default_rng(0).choice(n, self.memory, replace=False))
        self.x_memory, self.y_memory = ctx.task_a.x_train[keep], ctx.task_a.y_train[keep]

    def replay_batch(self, ctx, size: int):
        """``size`` stored task-A examples drawn without replacement: (x, y)."""
        idx = ctx.np_rng.choice(len(self.y_memory), size=min(size, len(self.y_memory)), replace=False)
        return self.x_memory[idx], self.y_memory[idx]
