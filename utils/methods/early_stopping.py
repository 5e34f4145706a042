"""Early stopping on a validation split of task B, restoring the best weights."""

from __future__ import annotations

import numpy as np

from .base import Method


class EarlyStopping(Method):
    """Hold out ``validation_fraction`` of the task-B training examples (stratified, seed 0); after each
    epoch measure task-B accuracy on them; stop after ``patience`` epochs without improvement and
    restore the weights of the best epoch.

    Fewer steps means the backbone moves less, so it forgets a little less, but the stopping rule
    only watches task B: it does not know what task A needs.
    """

    name = "early-stopping"

    def __init__(self, patience: int = 2, validation_fraction: float = 0.15):
        if patience < 1 or not 0 < validation_fraction < 1:
            raise ValueError(f"EarlyStopping needs patience >= 1 and 0 < validation_fraction < 1, got {patience}, {validation_fraction}")
        self.patience, self.validation_fraction = patience, validation_fraction

    @property
    def label(self):
        return f"early-stopping(p={self.patience})"

    def setup(self, ctx):
        rng = np.random.default_rng(0)
        val = []
        for c in np.unique(ctx.train_y):
            idx = np.flatnonzero(ctx.train_y == c)
            val.append(rng.choice(idx, max(1, int(round(self.validation_fraction * len(idx)))), replace=False))
        val = np.sort(np.concatenate(val))
        train = np.setdiff1d(np.arange(len(ctx.train_y)), val)
        self.x_val, self.y_val = ctx.train_x[val], ctx.train_y[val]
        ctx.train_x, ctx.train_y = ctx.train_x[train], ctx.train_y[train]
        self.best, self.best_epoch, self.best_weights, self.stopped_epoch = -1.0, 0, None, None

    def validation_accuracy(self, ctx) -> float:
        from ..metrics import accuracy

        return accuracy(ctx.head(ctx.features(self.x_val)).numpy(), self.y_val)

    def after_epoch(self, ctx, epoch, metrics):
        acc = self.validation_accuracy(ctx)
        metrics["B_val"] = acc
        if acc > self.best:
            self.best, self.best_epoch = acc, epoch
            self.best_weights = [v.numpy() for v in ctx.backbone_variables + list(ctx.head.weights)]
        elif epoch - self.best_epoch >= self.patience:
            self.stopped_epoch = epoch
            return True
        return False

    def state(self):
        return {k: getattr(self, k) for k in ("best", "best_epoch", "best_weights", "stopped_epoch")}

    def load_state(self, state):
        for k, v in state.items():
            setattr(self, k, v)

    def after_training(self, ctx):
        if self.best_weights is not None:
            for v, w in zip(ctx.backbone_variables + list(ctx.head.weights), self.best_weights):
                v.assign(w)
        ctx.extra["early_stopping"] = {"best_epoch": self.best_epoch, "stopped_epoch": self.stopped_epoch, "best_B_val": self.best}
