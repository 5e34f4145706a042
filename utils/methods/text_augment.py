"""Text data augmentation on token ids: token dropout (the article's "data augmentation" for text)."""

from __future__ import annotations

from .base import Method


class TokenDropout(Method):
    """Drop each word piece of a training sentence with probability ``rate`` (replace its id by padding, 0).

    The encoder masks padding out, so the model sees a shorter sentence with words missing: more
    varied inputs for the few labelled examples. [CLS], [SEP] and padding are never dropped.
    Inputs are int32 token ids [N, L] (``utils.text_data``); ``special`` lists the ids kept.
    """

    distributable = False  # it draws random masks

    key = "token-dropout"
    inputs = "tokens"
    id_excludes = ("special",)

    rate: float = 0.1
    special: tuple = (0, 101, 102)

    def __post_init__(self):
        if not 0 <= self.rate < 1:
            raise ValueError(f"TokenDropout rate must be in [0, 1), got {self.rate}")
        self.rate, self.special = float(self.rate), tuple(int(s) for s in self.special)

    @property
    def label(self):
        return f"token-dropout({self.rate:g})"

    def augment(self, ctx, x):
        import tensorflow as tf

        keep = ctx.rng.uniform(tf.shape(x)) >= self.rate
        for s in self.special:
            keep |= tf.equal(x, s)
        return tf.where(keep, x, tf.zeros_like(x))
