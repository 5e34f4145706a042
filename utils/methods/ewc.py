"""EWC (Kirkpatrick et al., 2017): a penalty toward the pretrained weights, weighted by their importance."""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import numpy as np

from .base import Method, example_cross_entropy, squared_distance


def empirical_fisher(backbone, old_head, x, y, chunk: int = 256) -> list:
    """Diagonal empirical Fisher of task A: mean over examples of the squared per-example gradient
    of the log-likelihood of the true label, for each of ``backbone.trainable_variables``.

    x: task-A inputs [N, ...]; y: labels [N] (or next-token targets [N, T] of a language model: the log-likelihood
    of an example is then the mean over its scored tokens). Returns float32 arrays shaped like the variables.
    Per-example gradients run in a compiled ``tf.map_fn`` (about a second for 1,257 digits here).
    """
    import tensorflow as tf

    variables = list(backbone.trainable_variables)

    def squared_grad(example):
        xi, yi = example
        with tf.GradientTape() as tape:
            logits = old_head(backbone(xi[None], training=False))
            nll = example_cross_entropy(yi[None], logits)
        return [tf.square(g) for g in tape.gradient(nll, variables)]

    @tf.function
    def chunk_sum(xb, yb):
        spec = [tf.TensorSpec(v.shape, tf.float32) for v in variables]
        per_example = tf.map_fn(squared_grad, (xb, tf.cast(yb, tf.int32)), fn_output_signature=spec)
        return [tf.reduce_sum(g, axis=0) for g in per_example]

    total = [np.zeros(v.shape, np.float64) for v in variables]
    for i in range(0, len(y), chunk):
        for t, g in zip(total, chunk_sum(x[i : i + chunk], y[i : i + chunk])):
            t += g.numpy()
    return [(t / len(y)).astype(np.float32) for t in total]


def normalise_fisher(fisher: list) -> list:
    """Scale a Fisher so its mean over every element of every variable is 1.

    The empirical Fisher of a model that fits its training data is tiny (gradients are near 0),
    so an unnormalised EWC needs a huge lambda; after this, lambda sits on L2-SP's scale.
    """
    mean = sum(float(f.sum()) for f in fisher) / sum(f.size for f in fisher)
    if not np.isfinite(mean) or mean <= 0:
        raise ValueError(f"the Fisher information is {mean}: cannot normalise it (is the model's loss finite?)")
    return [f / mean for f in fisher]


class FisherCache:
    """Normalised Fishers already computed, by what decides them: the pretrained weights and the task-A head (all
    of their bytes), the task-A examples and their labels. A comparison runs EWC for several seeds and strengths from one model and one
    task A: each Fisher is computed once. Bounded: the ``size`` most recently used are kept."""

    def __init__(self, size: int = 4):
        self.size, self.entries = size, OrderedDict()

    @staticmethod
    def key(weights, x, y) -> str:
        digest = hashlib.sha256()
        for a in (*weights, x, y):
            digest.update(np.ascontiguousarray(a).tobytes())
        return digest.hexdigest()

    def get(self, key: str, compute) -> list:
        if key not in self.entries:
            self.entries[key] = compute()
            while len(self.entries) > self.size:
                self.entries.popitem(last=False)
        self.entries.move_to_end(key)
        return self.entries[key]


FISHERS = FisherCache()


class EWC(Method):
    """Elastic Weight Consolidation: add ``strength / 2 * sum(F * (theta - theta0)^2)``.

    F is the diagonal empirical Fisher on task A (mean-normalised to 1): weights that task A's
    predictions depend on are held firmly, the others are free to move for task B. Needs task-A
    inputs and labels once, before fine-tuning (not during it).

    strength: lambda; samples: task-A training examples used for the Fisher (None = all).
    """

    distributable = False  # its Fisher is computed eagerly on the backbone

    key = "ewc"
    needs_task_a_data = True  # once, for the Fisher
    strength: float = 1.0
    samples: int | None = None

    def __post_init__(self):
        if self.strength < 0:
            raise ValueError(f"EWC strength must be >= 0, got {self.strength}")

    @property
    def label(self):
        return f"ewc(λ={self.strength:g})"

    def setup(self, ctx):
        import tensorflow as tf

        if ctx.task_a is None or ctx.old_head is None:
            raise ValueError("EWC needs task-A data and the task-A head to estimate the Fisher information")
        x, y = ctx.task_a.x_train, ctx.task_a.y_train
        if self.samples is not None and self.samples < len(y):
            keep = np.sort(np.random.default_rng(0).choice(len(y), self.samples, replace=False))
            x, y = x[keep], y[keep]
        # The Fisher depends on the pretrained weights and task A only, not on the seed or the strength: cached.
        key = FISHERS.key([w.numpy() for w in ctx.initial + list(ctx.old_head.weights)], x, y)
        fisher = FISHERS.get(key, lambda: normalise_fisher(empirical_fisher(ctx.backbone, ctx.old_head, x, y)))
        self.fisher = [tf.constant(f) for f in fisher]

    def penalty(self, ctx, x, features, logits):
        return 0.5 * self.strength * squared_distance(ctx.backbone_variables, ctx.initial, self.fisher)
