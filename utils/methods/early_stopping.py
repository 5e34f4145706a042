"""Early stopping on the validation split of task B, restoring the best weights."""

from __future__ import annotations

from dataclasses import replace

from .base import Method


class EarlyStopping(Method):
    """After each epoch measure task-B accuracy on task B's validation split (a language model's: exact match of the
    answers); stop after ``patience``
    epochs without improvement and restore the weights of the best epoch.

    validation_fraction: None (default) uses the task's own validation split (``Task.x_val``); a number
    instead holds out that share of the task-B *training* examples (stratified, seed 0) and trains on
    the rest, for tasks without a validation split, or to show what a tiny split does.

    Fewer steps means the backbone moves less, so it forgets a little less, but the stopping rule
    only watches task B: it does not know what task A needs.
    """

    key = "early-stopping"

    patience: int = 2
    validation_fraction: float | None = None

    def __post_init__(self):
        if self.patience < 1 or self.validation_fraction is not None and not 0 < self.validation_fraction < 1:
            raise ValueError(f"EarlyStopping needs patience >= 1 and validation_fraction None or in (0, 1), "
                             f"got {self.patience}, {self.validation_fraction}")

    @property
    def label(self):
        own = "" if self.validation_fraction is None else f",val={self.validation_fraction:g}"
        return f"early-stopping(p={self.patience}{own})"

    def select_examples(self, ctx, x, y):
        """Keep the validation split in ``self.x_val``/``self.y_val``; train on the rest of what is offered."""
        import numpy as np

        from ..tasks import stratified_sample

        if self.validation_fraction is None:
            if not ctx.task_b.has_validation:
                raise ValueError(f"task {ctx.task_b.name!r} has no validation split: give EarlyStopping(validation_fraction=...)")
            self.x_val, self.y_val = ctx.task_b.x_val, ctx.task_b.y_val
            return x, y
        val = stratified_sample(y, self.validation_fraction, seed=0)
        train = np.setdiff1d(np.arange(len(y)), val)
        self.x_val, self.y_val = x[val], y[val]
        return x[train], y[train]

    def setup(self, ctx):
        self.best, self.best_epoch, self.best_weights, self.stopped_epoch = -1.0, 0, None, None

    def validation_accuracy(self, ctx) -> float:
        """Task B's validation accuracy: of the class, or of a language model's whole answers (exact match)."""
        from ..metrics import accuracy, exact_match

        out = ctx.head(ctx.features(self.x_val)).numpy()
        return exact_match(out, self.y_val) if self.y_val.ndim == 2 else accuracy(out, self.y_val)

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
        """Restore the best epoch's weights; report it, where training stopped, and the steps behind the weights."""
        if self.best_weights is not None:
            for v, w in zip(ctx.backbone_variables + list(ctx.head.weights), self.best_weights):
                v.assign(w)
        steps_per_epoch = -(-len(ctx.train_y) // ctx.batch_size)
        return {"best_epoch": self.best_epoch, "stopped_epoch": self.stopped_epoch, "best_B_val": self.best,
                "best_step": self.best_epoch * steps_per_epoch}

    def rows(self, rows, report):
        """The run's rows count the steps up to the best epoch: those made the weights it reports."""
        return [replace(row, steps=report["best_step"]) for row in rows]
