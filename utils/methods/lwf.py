"""LwF (Li & Hoiem, 2016): keep the old head's outputs on the new inputs (self-distillation)."""

from .base import Method, Phase


class LwF(Method):
    """Add ``strength * T^2 * KL(p_old || p_new)`` where p = softmax(old_head(features) / T) on task-B inputs.

    p_old comes from the frozen pretrained backbone and the original old head, p_new from the model being
    fine-tuned. It needs no task-A data: the new inputs stand in for the old ones. That works best when task-B
    inputs look like task-A inputs (split: other digits) and much less when they do not (rot90: the old head's
    outputs on rotated digits say little about task A); notebook 02 measures both.

    strength: weight of the distillation term; temperature: T (> 1 softens the targets).
    The defaults are this workbook's variant: no warm-up, the old head frozen, and the T^2 factor of Hinton et
    al. (2015), which keeps the gradient's size independent of T (at T = 2, strength 1 weighs 4x the paper's
    lambda_o = 1). Li & Hoiem's recipe is ``utils.suites.lwf_paper()``:
    warmup_epochs: train only the new head first (backbone and old head frozen), then everything jointly;
    old_head_trains: the old head trains in the joint phase (task A is then read through the updated old head);
    t_squared: multiply the term by T^2 (False: the paper's scale, lambda_o * modified cross-entropy).
    """

    key = "lwf"

    strength: float = 1.0
    temperature: float = 2.0
    warmup_epochs: int = 0
    old_head_trains: bool = False
    t_squared: bool = True

    def __post_init__(self):
        if self.strength < 0 or self.temperature <= 0 or self.warmup_epochs < 0:
            raise ValueError(f"LwF needs strength >= 0, temperature > 0 and warmup_epochs >= 0, got {self.strength}, "
                             f"{self.temperature}, {self.warmup_epochs}")

    @property
    def label(self):
        flags = [f"warm-up {self.warmup_epochs}"] * bool(self.warmup_epochs) + ["old head trains"] * self.old_head_trains
        flags += [] if self.t_squared else ["no T²"]
        return f"lwf(λ={self.strength:g},T={self.temperature:g}{''.join(',' + f for f in flags)})"

    def setup(self, ctx):
        import tf_keras as keras

        if ctx.old_head is None:
            raise ValueError("LwF needs the task-A head (the outputs it distils)")
        self.reference = ctx.load_reference()  # the frozen pretrained backbone: the teacher
        self._old_head = self.reference_head = ctx.old_head
        if self.old_head_trains:  # the targets keep coming from the original head, a frozen copy
            self.reference_head = keras.layers.Dense(ctx.old_head.units, trainable=False, name="old_head_reference")
            self.reference_head.build((None, int(ctx.old_head.kernel.shape[0])))
            self.reference_head.set_weights(ctx.old_head.get_weights())
            ctx.old_head.trainable = True

    def phases(self, epochs):
        if not self.warmup_epochs:
            return None
        return [Phase(self.warmup_epochs, train="head", name="warm-up"), Phase(epochs, train="all", name="fine-tune")]

    def select_variables(self, ctx, variables):
        if self.old_head_trains and ctx.training.phase.train == "all":
            return variables + list(ctx.old_head.trainable_variables)
        return variables

    def penalty(self, ctx, x, features, logits):
        import tensorflow as tf

        t = self.temperature
        old = tf.stop_gradient(self.reference_head(self.reference(x, training=False)))
        new = ctx.old_head(features)
        p_old = tf.nn.softmax(old / t)
        kl = tf.reduce_sum(p_old * (tf.nn.log_softmax(old / t) - tf.nn.log_softmax(new / t)), axis=-1)
        return self.strength * (t * t if self.t_squared else 1.0) * tf.reduce_mean(kl)

    def state(self):
        """The old head when it trains (a checkpoint keeps only the backbone and the new head)."""
        return {"old_head": [w.numpy() for w in self._old_head.weights]} if self.old_head_trains else {}

    def load_state(self, state):
        for v, w in zip(self._old_head.weights, state.get("old_head", [])):
            v.assign(w)
