"""What a fine-tuning method is: a small object whose hooks the runner (``utils.train``) calls.

The runner knows no method by name. Per training step it calls, for every method in order:

    augment(ctx, x)                       task-B inputs -> inputs (training only; tf ops)
    transform_features(ctx, f, training)  backbone features -> features fed to the new head
    penalty(ctx, x, features, logits)     extra loss term (scalar tensor) or None
    transform_gradients(ctx, grads_and_vars) -> grads_and_vars the optimizer applies
    after_apply(ctx)                      after the optimizer step (e.g. write W0 + AB back)

and around training:

    setup(ctx)                            before the first step (snapshot weights, compute a Fisher,
                                          carve out a validation split...)
    phases(epochs)                        the training schedule, or None for one phase over everything
    select_variables(ctx, variables)      which variables the loss is differentiated against
    replay_size(batch_size)               task-A examples mixed into each batch (rehearsal)
    after_epoch(ctx, epoch, metrics)      return True to stop early
    after_training(ctx)                   weight surgery after the last step (WiSE-FT, restore best)
    state() / load_state(state)           what a checkpoint must keep to resume the method exactly

The base class is plain full fine-tuning: every hook does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Phase:
    """A stretch of training with one set of trainable variables and one learning rate.

    train: "all" (backbone and new head) or "head" (the new head only).
    lr_scale: multiplies the run's learning rate. A new optimizer starts at each phase.
    """

    epochs: int
    train: str = "all"
    lr_scale: float = 1.0
    name: str = "fine-tune"

    def __post_init__(self):
        if self.train not in ("all", "head"):
            raise ValueError(f"Phase.train must be 'all' or 'head', got {self.train!r}")
        if self.epochs < 0:
            raise ValueError(f"Phase.epochs must be >= 0, got {self.epochs}")


@dataclass
class Context:
    """What a method may look at and change during one fine-tuning run.

    backbone:  the feature extractor being fine-tuned (a hub.KerasLayer, trainable)
    head:      the new task-B head (tf_keras Dense)
    old_head:  the frozen task-A head shipped with the model, or None
    task_a, task_b: utils.data.Task (task_a may be None)
    train_x, train_y: the task-B examples actually trained on (a method may replace them)
    initial:   the backbone's pretrained weights, tf constants aligned with backbone.trainable_variables
    rng:       tf.random.Generator for in-graph randomness (dropout, augmentation); seeded
    np_rng:    numpy Generator for host-side randomness (batch order, replay draws); seeded
    evaluate:  callable() -> metrics dict of the current weights (set by the runner)
    features:  callable(x) -> backbone features in inference mode (set by the runner)
    optimizer: the optimizer of the current phase (set by the runner)
    extra:     results a method wants to report (e.g. the WiSE-FT sweep), copied into the result
    head_anchor: new-head weights that count as its "pretrained" point (set by LP-FT after probing)
    """

    backbone: object
    head: object
    old_head: object
    task_a: object
    task_b: object
    train_x: object
    train_y: object
    initial: list
    rng: object
    np_rng: object
    seed: int
    learning_rate: float
    batch_size: int
    model: object = None
    evaluate: object = None
    features: object = None
    optimizer: object = None
    phase: Phase | None = None
    extra: dict = field(default_factory=dict)
    head_anchor: list | None = None
    _reference: object = None

    @property
    def backbone_variables(self) -> list:
        return list(self.backbone.trainable_variables)

    def reference_backbone(self):
        """A frozen copy of the pretrained backbone (loaded once, on first use)."""
        if self._reference is None:
            from .. import hub

            if self.model is None or not isinstance(self.model, (str, bytes)) and not hasattr(self.model, "__fspath__"):
                raise ValueError("this method needs the pretrained model again: pass finetune(model=NAME_OR_PATH)")
            self._reference = hub.load(self.model, trainable=False)
        return self._reference

    def set_backbone(self, weights) -> None:
        """Assign a list of arrays (aligned with backbone.trainable_variables) to the backbone."""
        for v, w in zip(self.backbone_variables, weights):
            v.assign(w)


class Method:
    """Full fine-tuning: every variable of the backbone and the new head trains; no extra terms."""

    name = "full"
    needs_task_a_data = False  # True when the method keeps or reads task-A examples (rehearsal, EWC's Fisher)
    distributable = True  # False when its hooks cannot run under tf.distribute (random draws, new variables)

    @property
    def label(self) -> str:
        """Name with its hyperparameters, as shown in tables (e.g. ``ewc(λ=100)``)."""
        return self.name

    def setup(self, ctx: Context) -> None:
        pass

    def phases(self, epochs: int):
        return None

    def select_variables(self, ctx: Context, variables: list) -> list:
        return variables

    def replay_size(self, batch_size: int) -> int:
        return 0

    def augment(self, ctx: Context, x):
        return x

    def transform_features(self, ctx: Context, features, training: bool):
        return features

    def penalty(self, ctx: Context, x, features, logits):
        return None

    def transform_gradients(self, ctx: Context, grads_and_vars: list) -> list:
        return grads_and_vars

    def after_apply(self, ctx: Context) -> None:
        pass

    def after_epoch(self, ctx: Context, epoch: int, metrics: dict) -> bool:
        return False

    def after_training(self, ctx: Context) -> None:
        pass

    def state(self) -> dict:
        """What must be saved in a checkpoint to resume this method exactly (numpy arrays and Python values)."""
        return {}

    def load_state(self, state: dict) -> None:
        """Restore what ``state()`` returned (called after ``setup``)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


FullFineTuning = Method


def squared_distance(variables, anchors, weights=None):
    """sum_i w_i (theta_i - anchor_i)^2 over lists of variables: the quadratic pull of L2-SP and EWC."""
    import tensorflow as tf

    terms = []
    for i, (v, a) in enumerate(zip(variables, anchors)):
        d = tf.square(v - a)
        terms.append(tf.reduce_sum(d if weights is None else weights[i] * d))
    return tf.add_n(terms)
