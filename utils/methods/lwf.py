"""LwF (Li & Hoiem, 2016): keep the old head's outputs on the new inputs (self-distillation)."""

from .base import Method
from .lpft import LPFT


class LwF(Method):
    """Add ``strength * T^2 * KL(p_old || p_new)`` where p = softmax(old_head(features) / T) on task-B inputs.

    p_old comes from the frozen pretrained backbone, p_new from the one being fine-tuned. It needs
    no task-A data: the new inputs stand in for the old ones. That works best when task-B inputs look
    like task-A inputs (split: other digits: it keeps task A as well as rehearsal) and much less when
    they do not (rot90: the old head's outputs on rotated digits say little about task A, and LwF
    trails rehearsal by more than 10 points; notebook 02).

    strength: weight of the distillation term; temperature: T (> 1 softens the targets).
    """

    key = "lwf"

    @classmethod
    def suite(cls):
        return [[cls(1.0)], [LPFT(), cls(1.0)]]

    def __init__(self, strength: float = 1.0, temperature: float = 2.0):
        if strength < 0 or temperature <= 0:
            raise ValueError(f"LwF needs strength >= 0 and temperature > 0, got {strength}, {temperature}")
        self.strength, self.temperature = strength, temperature

    @property
    def label(self):
        return f"lwf(λ={self.strength:g},T={self.temperature:g})"

    def setup(self, ctx):
        if ctx.old_head is None:
            raise ValueError("LwF needs the task-A head (the outputs it distils)")
        ctx.reference_backbone()  # load it now, outside the compiled step

    def penalty(self, ctx, x, features, logits):
        import tensorflow as tf

        t = self.temperature
        old = tf.stop_gradient(ctx.old_head(ctx.reference_backbone()(x, training=False)))
        new = ctx.old_head(features)
        p_old = tf.nn.softmax(old / t)
        kl = tf.reduce_sum(p_old * (tf.nn.log_softmax(old / t) - tf.nn.log_softmax(new / t)), axis=-1)
        return self.strength * t * t * tf.reduce_mean(kl)
