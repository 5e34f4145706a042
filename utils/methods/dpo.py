"""Direct preference optimisation (Rafailov et al., 2023) for a language model, through the runner's loss hook."""

from __future__ import annotations

import numpy as np

from .base import Method


def sequence_logprob(labels, logits):
    """log pi(answer | prompt) [N]: the sum of the log-probabilities of each row's scored targets (labels >= 0)."""
    import tensorflow as tf

    labels = tf.cast(labels, tf.int32)
    logp = -tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=logits)
    return tf.reduce_sum(logp * tf.cast(labels >= 0, logp.dtype), axis=-1)


def dpo_loss(logp, ref_logp, beta: float):
    """Per pair, -log sigmoid(beta * [(log pi(y_w) - log pi_ref(y_w)) - (log pi(y_l) - log pi_ref(y_l))]), with
    (chosen y_w, rejected y_l) at rows 2i and 2i + 1 of ``logp`` and ``ref_logp`` [2N] (sequence log-probabilities)."""
    import tensorflow as tf

    ratio = logp - ref_logp
    return tf.nn.softplus(-beta * (ratio[0::2] - ratio[1::2]))  # softplus(-h) = -log sigmoid(h)


class DPO(Method):
    """Train on (chosen, rejected) pairs of answers to one prompt (a "preference" task) with the DPO loss: the
    logistic loss of the margin between the two answers' log-likelihood ratios to the reference model, scaled by
    ``beta``. It is the RLHF objective (a reward, minus beta times the reverse KL to the reference) solved in closed
    form for a Bradley-Terry reward, so no reward model and no sampling. What it raises is the *margin*, not the
    chosen answer's likelihood: both may fall, so long as the rejected one falls further; the report measures both.

    The reference is the model the run starts from: a frozen copy runs beside it each step (TRL's ``DPOTrainer``
    does this unless asked to precompute the reference's log-probabilities). beta: how far from the reference the
    margin may pull (small beta: the loss saturates later, the policy moves further).
    """

    key = "dpo"
    inputs = "lm"
    distributable = False  # pairs must stay in one replica's batch
    beta: float = 0.1

    def __post_init__(self):
        if not self.beta > 0:
            raise ValueError(f"DPO needs beta > 0, got {self.beta}")

    @property
    def label(self):
        return f"dpo(β={self.beta:g})"

    def setup(self, ctx):
        if getattr(ctx.task_b, "kind", None) != "preference":
            raise ValueError(f"DPO trains on preference pairs: task {ctx.task_b.name!r} is {ctx.task_b.kind!r}; "
                             "build one with utils.on_policy.preference_task")
        self.reference = ctx.load_reference()

    def example_loss(self, ctx, x, y, logits):
        import tensorflow as tf

        ref = tf.stop_gradient(sequence_logprob(y, self.reference(x, training=False)))
        return tf.repeat(dpo_loss(sequence_logprob(y, logits), ref, self.beta), 2)  # each pair's loss on both rows

    def after_training(self, ctx):
        """What DPO did to the training pairs, per pair, in nats: the change of the chosen and of the rejected
        answer's log-likelihood from the reference, the implicit reward margin beta*(ratio_w - ratio_l), and the
        share of pairs it ranks right (margin > 0): the quantities TRL logs as rewards/chosen, rejected, margins and
        accuracies (those are scaled by beta)."""
        x, y = ctx.train_x, ctx.train_y
        ratio = np.concatenate([(sequence_logprob(y[i : i + 64], ctx.features(x[i : i + 64]))
                                 - sequence_logprob(y[i : i + 64], self.reference(x[i : i + 64]))).numpy()
                                for i in range(0, len(x), 64)])
        chosen, rejected = ratio[0::2], ratio[1::2]
        margin = self.beta * (chosen - rejected)
        return {"chosen_logp_change": float(chosen.mean()), "rejected_logp_change": float(rejected.mean()),
                "margin": float(margin.mean()), "ranked_right": float((margin > 0).mean())}
