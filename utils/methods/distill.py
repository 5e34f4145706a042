"""Distillation from the reference model, for a language model: on old text (replay with soft targets), or on the
new task's own inputs (LwF's form, Li & Hoiem 2016: data-free)."""

from __future__ import annotations

import numpy as np

from .base import Method


class Distillation(Method):
    """Add ``beta * KL(p_ref || p_theta)``, the forward KL from the frozen reference model (the one the run starts
    from) to the model being tuned, per token, teacher-forced, averaged over the tokens it covers.

    on="old": on a fixed memory of ``memory`` windows of task A's text (general text, or the chat model's instruction
    mixture), ``windows`` of them per step. That is *replay with soft targets*: like replay it needs the old text (it
    needs no labels: the reference model labels it), but it fits the reference model's whole next-token
    distribution instead of the text's next byte. The reference's log-probabilities are computed once, in ``setup``.
    on="new": at every position of the new task's own batches (prompt and answer): *LwF's form*, which distils the
    old model's outputs on the new task's inputs and needs no old data at all. With one shared output layer it pulls
    against the new targets at the answer positions: ``beta`` sets the trade-off. The reference runs beside the model.

    Neither is RLHF's KL penalty (Ouyang et al., 2022), which is the *reverse* KL, KL(pi_theta || pi_ref), measured on
    the policy's own samples.

    beta: weight of the KL term (nats per token); windows, memory: for on="old", windows per step and stored.
    """

    key = "distill"
    inputs = "lm"
    distributable = False  # on="old" draws its windows with the run's generator inside the step
    beta: float = 1.0
    on: str = "old"
    windows: int = 8
    memory: int = 256

    def __post_init__(self):
        if self.beta < 0 or self.windows < 1 or self.memory < self.windows:
            raise ValueError(f"Distillation needs beta >= 0 and 1 <= windows <= memory, got {self.beta}, "
                             f"{self.windows}, {self.memory}")
        if self.on not in ("old", "new"):
            raise ValueError(f"Distillation on must be 'old' (task A's text) or 'new' (the new task's inputs), "
                             f"got {self.on!r}")

    @property
    def needs_task_a_data(self):
        return self.on == "old"

    @property
    def label(self):
        return f"distill({'old text' if self.on == 'old' else 'new inputs, LwF'},β={self.beta:g})"

    def setup(self, ctx):
        import tensorflow as tf

        if self.on == "new":
            self.reference = ctx.load_reference()  # frozen: its outputs on each batch are the targets
            return
        if ctx.task_a is None or getattr(ctx.task_a, "kind", None) != "lm":
            raise ValueError("Distillation on old text needs text as task A: finetune(task=(general_task(), skill_task))")
        n = len(ctx.task_a.x_train)
        keep = np.sort(np.random.default_rng(0).choice(n, min(self.memory, n), replace=False))
        x = ctx.task_a.x_train[keep]
        reference = ctx.features  # setup runs before training: the model still holds the reference weights
        self.x_memory = tf.constant(x)
        self.ref_logp = tf.constant(np.concatenate(
            [tf.nn.log_softmax(reference(x[i : i + 64])).numpy() for i in range(0, len(x), 64)]))

    def penalty(self, ctx, x, features, logits):
        import tensorflow as tf

        if self.on == "new":
            ref_logp = tf.stop_gradient(tf.nn.log_softmax(self.reference(x, training=False)))
            scored = tf.cast(tf.not_equal(x, ctx.task_b.pad), logits.dtype)
            kl = tf.reduce_sum(tf.exp(ref_logp) * (ref_logp - tf.nn.log_softmax(logits)), axis=-1)
            return self.beta * tf.reduce_sum(kl * scored) / tf.maximum(tf.reduce_sum(scored), 1.0)
        idx = ctx.rng.uniform([self.windows], 0, int(self.x_memory.shape[0]), dtype=tf.int32)
        ref_logp = tf.gather(self.ref_logp, idx)
        logp = tf.nn.log_softmax(ctx.backbone(tf.gather(self.x_memory, idx), training=True))
        kl = tf.reduce_sum(tf.exp(ref_logp) * (ref_logp - logp), axis=-1)
        return self.beta * tf.reduce_mean(kl)
