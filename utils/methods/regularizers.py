"""The classic regularisers the article names: dropout and L1/L2 weight decay.

They fight *overfitting* to task B; notebook 02 measures how little they do against *forgetting*,
because nothing in them knows where the pretrained weights were (compare L2-SP).
"""

from __future__ import annotations

from .base import Method


class Dropout(Method):
    """Drop each backbone feature with probability ``rate`` before the new head, during training only.

    Only this *feature* dropout is measured: the bundled convnet has no dropout layers inside it, and a
    hub layer is opaque, so dropout between its layers would need another pretrained model. Feature dropout
    regularises the new head; the backbone is not regularised by it at all.
    """

    distributable = False  # it draws random masks

    key = "dropout"

    rate: float = 0.5

    def __post_init__(self):
        if not 0 <= self.rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {self.rate}")

    @property
    def label(self):
        return f"dropout({self.rate:g})"

    def transform_features(self, ctx, features, training):
        import tensorflow as tf

        if not training or self.rate == 0:
            return features
        seed = ctx.rng.make_seeds(1)[:, 0]
        return tf.nn.experimental.stateless_dropout(features, rate=self.rate, seed=seed)


class WeightDecay(Method):
    """Add ``l1 * sum|w| + l2 / 2 * sum w^2`` over the kernels of the backbone and the new head (pull toward 0).

    That is weight decay as an L2 term in the loss. Under Adam it is *not* the same as decoupled weight
    decay (AdamW, Loshchilov & Hutter 2019): Adam divides the L2 gradient by the running gradient size, so
    weights with large gradients are barely decayed. ``decoupled=True`` is AdamW's rule instead: after each
    step every kernel shrinks by ``learning_rate * l2 * w``, whatever its gradient (no loss term; l1 must be 0).
    """

    key = "weight-decay"

    l1: float = 0.0
    l2: float = 1e-3
    decoupled: bool = False

    def __post_init__(self):
        if self.l1 < 0 or self.l2 < 0:
            raise ValueError(f"WeightDecay needs l1, l2 >= 0, got {self.l1}, {self.l2}")
        if self.decoupled and self.l1:
            raise ValueError("decoupled weight decay (AdamW) is an L2 shrinkage: give l1=0")

    @property
    def label(self):
        if self.decoupled:
            return f"adamw-decay({self.l2:g})"
        parts = [f"L1={self.l1:g}"] * bool(self.l1) + [f"L2={self.l2:g}"] * bool(self.l2)
        return f"weight-decay({','.join(parts) or '0'})"

    @staticmethod
    def kernels(ctx) -> list:
        """The kernels (rank >= 2) being trained: the new head's, and the backbone's unless a head-only phase runs."""
        phase = ctx.training.phase
        backbone = ctx.backbone_variables if phase is None or phase.train == "all" else []
        return [v for v in backbone + list(ctx.head.trainable_variables) if v.shape.rank >= 2]

    def penalty(self, ctx, x, features, logits):
        import tensorflow as tf

        if self.decoupled:
            return None
        total = tf.constant(0.0)
        if self.l1:
            total += self.l1 * tf.add_n([tf.reduce_sum(tf.abs(v)) for v in self.kernels(ctx)])
        if self.l2:
            total += 0.5 * self.l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in self.kernels(ctx)])
        return total

    def after_apply(self, ctx):
        if self.decoupled and self.l2:  # AdamW: the step's learning rate times the decay, on every kernel
            rate = ctx.training.optimizer.learning_rate * self.l2
            for v in self.kernels(ctx):
                v.assign_sub(rate * v)
