"""KL to the reference model on general text: the language-model form of LwF (Li & Hoiem, 2016)."""

from __future__ import annotations

import numpy as np

from .base import Method


class KLToReference(Method):
    """Add ``beta * KL(p_ref || p_theta)`` on general text, per token, averaged over ``windows`` windows per step.

    The reference is the model the run starts from (the pretrained one, or the last stage's in a sequence), frozen:
    its log-probabilities are computed once, in ``setup``, before the first step changes the weights. LwF distils
    the old model's outputs on the *new* task's inputs; RLHF's KL term (Ouyang et al., 2022) is measured on the
    policy's own prompts and samples; here it is measured on general text (a fixed memory of ``memory`` windows of
    task A, the general-text task), which targets what forgetting is measured on.

    beta: weight of the KL term (nats per token); windows: general windows per step; memory: windows stored.
    """

    key = "kl-ref"
    inputs = "lm"
    needs_task_a_data = True  # unlabelled general text: the reference model labels it
    distributable = False  # it draws its windows with the run's generator inside the step

    beta: float = 1.0
    windows: int = 8
    memory: int = 256

    def __post_init__(self):
        if self.beta < 0 or self.windows < 1 or self.memory < self.windows:
            raise ValueError(f"KLToReference needs beta >= 0 and 1 <= windows <= memory, got {self.beta}, "
                             f"{self.windows}, {self.memory}")

    @property
    def label(self):
        return f"kl-ref(β={self.beta:g})"

    def setup(self, ctx):
        import tensorflow as tf

        if ctx.task_a is None or getattr(ctx.task_a, "kind", None) != "lm":
            raise ValueError("KLToReference needs general text as task A: finetune(task=(general_task(), skill_task))")
        n = len(ctx.task_a.x_train)
        keep = np.sort(np.random.default_rng(0).choice(n, min(self.memory, n), replace=False))
        x = ctx.task_a.x_train[keep]
        reference = ctx.features  # setup runs before training: the backbone still holds the reference weights
        self.x_memory = tf.constant(x)
        self.ref_logp = tf.constant(np.concatenate(
            [tf.nn.log_softmax(reference(x[i : i + 64])).numpy() for i in range(0, len(x), 64)]))

    def penalty(self, ctx, x, features, logits):
        import tensorflow as tf

        idx = ctx.rng.uniform([self.windows], 0, int(self.x_memory.shape[0]), dtype=tf.int32)
        ref_logp = tf.gather(self.ref_logp, idx)
        logp = tf.nn.log_softmax(ctx.backbone(tf.gather(self.x_memory, idx), training=True))
        kl = tf.reduce_sum(tf.exp(ref_logp) * (ref_logp - logp), axis=-1)
        return self.beta * tf.reduce_mean(kl)
