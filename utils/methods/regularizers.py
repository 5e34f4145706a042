"""The classic regularisers the article names: dropout and L1/L2 weight decay.

They fight *overfitting* to task B; notebook 02 measures how little they do against *forgetting*,
because nothing in them knows where the pretrained weights were (compare L2-SP).
"""

from __future__ import annotations

from .base import Method


class Dropout(Method):
    """Drop each backbone feature with probability ``rate`` before the new head, during training only."""

    distributable = False  # it draws random masks

    key = "dropout"

    @classmethod
    def suite(cls):
        return [[cls(0.5)]]

    def __init__(self, rate: float = 0.5):
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), got {rate}")
        self.rate = rate

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
    """Add ``l1 * sum|w| + l2 / 2 * sum w^2`` over the kernels of the backbone and the new head (pull toward 0)."""

    key = "weight-decay"

    @classmethod
    def suite(cls):
        return [[cls(l2=1e-3)]]

    def __init__(self, l1: float = 0.0, l2: float = 1e-3):
        if l1 < 0 or l2 < 0:
            raise ValueError(f"WeightDecay needs l1, l2 >= 0, got {l1}, {l2}")
        self.l1, self.l2 = l1, l2

    @property
    def label(self):
        parts = [f"L1={self.l1:g}"] * bool(self.l1) + [f"L2={self.l2:g}"] * bool(self.l2)
        return f"weight-decay({','.join(parts) or '0'})"

    def penalty(self, ctx, x, features, logits):
        import tensorflow as tf

        kernels = [v for v in ctx.backbone_variables + list(ctx.head.trainable_variables) if v.shape.rank >= 2]
        total = tf.constant(0.0)
        if self.l1:
            total += self.l1 * tf.add_n([tf.reduce_sum(tf.abs(v)) for v in kernels])
        if self.l2:
            total += 0.5 * self.l2 * tf.add_n([tf.reduce_sum(tf.square(v)) for v in kernels])
        return total
