"""What a fine-tuning method is: a small object whose hooks the runner (``utils.train.Run``) calls.

The runner knows no method by name, and calls no hook that is not declared here. Before training:

    select_examples(ctx, x, y) -> (x, y)  the task-B examples trained on (e.g. hold some out)
    setup(ctx)                            snapshot weights, compute a Fisher, load a reference model...
    phases(epochs)                        the training schedule, or None for one phase over everything
    select_variables(ctx, variables)      which variables the loss is differentiated against (per phase)
    replay_size(batch_size)               old-task examples added to each batch (rehearsal)
    replay_weight(batch_size)             how much each of them weighs in the loss (1: as a task-B example)

Per training step, for every method in order:

    replay_batch(ctx, size) -> (x, y)     the old-task examples added to this step's batch (host side)
    augment(ctx, x)                       task-B inputs -> inputs (training only; tf ops)
    transform_features(ctx, f, training)  backbone features -> features fed to the new head
    penalty(ctx, x, features, logits)     extra loss term (scalar tensor) or None
    example_loss(ctx, x, y, logits)       each task-B example's loss [N] in place of its cross-entropy (one method
                                          of a run at most: DPO's pairwise loss)
    transform_gradients(ctx, grads_and_vars) -> grads_and_vars the optimizer applies
    after_apply(ctx)                      after the optimizer step (e.g. write W0 + AB back)

After each epoch and after training:

    after_epoch(ctx, epoch, metrics)      return True to stop early (may add metrics)
    after_training(ctx) -> report         weight surgery after the last step (WiSE-FT, restore best); returns what
                                          it measured or chose (a JSON-ready dict, kept in ``result.reports``) or None
    rows(rows, report)                    the rows a run is reported as (``Row``): one by default; WiSE-FT adds one
                                          per alpha of its dial, early stopping reports the steps it kept
    state() / load_state(state)           what a checkpoint must keep to resume the method exactly

**Options are declared fields**: annotated class attributes with defaults (``strength: float = 1.0``), checked in
``__post_init__``. Every subclass becomes a dataclass when it is defined (as Flax's ``nn.Module`` does), so
``options``, ``id``, ``record``, the command line and ``build`` all read one list, ``dataclasses.fields``; a
hand-written ``__init__`` is refused. A subclass with its own ``key`` registers itself (``REGISTRY``): the command
line and ``build`` find it there, so a new method is one file in ``utils/methods/`` (and its test). Which settings
an experiment runs is not a method's business: that is ``utils.suites``.

The base class is plain full fine-tuning: every hook does nothing.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass, field
from typing import Callable, ClassVar

import numpy as np

from ..common import to_jsonable

REGISTRY: dict[str, type] = {}  # key -> class, filled by Method.__init_subclass__


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
class Training:
    """What changes while a run trains, written by the runner only: the phase being trained, its optimizer, and the
    new head's weights at the end of a head-only phase (LP-FT's probe, WiSE-FT's head start). None before."""

    phase: Phase | None = None
    optimizer: object = None
    probed_head: list | None = None


@dataclass(frozen=True)
class Context:
    """What a method may look at during one fine-tuning run. The runner builds it complete before the first hook
    (``train_x``/``train_y`` are what the methods' ``select_examples`` returned); what changes as the run trains
    is in ``training`` (a ``Training``)."""

    backbone: object  # the model being fine-tuned (a hub.KerasLayer, trainable)
    head: object  # the new task-B head (tf_keras Dense), or the language model's shared output
    old_head: object | None  # the frozen task-A head shipped with the model (tf_keras Dense), or None
    task_a: object | None  # utils.tasks.Task of the old capability, or None
    task_b: object  # utils.tasks.Task being learnt
    train_x: np.ndarray  # task-B examples trained on: what the methods' select_examples returned
    train_y: np.ndarray
    train_w: np.ndarray  # float32 [N]: each example's weight in the loss (the task's ``weights``, or ones)
    initial: list  # the backbone's pretrained weights: tf constants aligned with backbone.trainable_variables
    rng: object  # tf.random.Generator for in-graph randomness (dropout, augmentation); seeded
    np_rng: np.random.Generator  # host-side randomness (batch order, replay draws); seeded
    seed: int
    learning_rate: float
    batch_size: int
    model: object  # what the backbone was loaded from (name, path, handle or a loaded layer)
    features: Callable  # x -> backbone features in inference mode
    evaluator: Callable  # ctx -> metrics of the current weights (``evaluate()``)
    training: Training = field(default_factory=Training)

    @property
    def backbone_variables(self) -> list:
        return list(self.backbone.trainable_variables)

    def evaluate(self) -> dict:
        """The metrics of the current weights."""
        return self.evaluator(self)

    def load_reference(self):
        """A frozen copy of the pretrained backbone, loaded again from ``model`` (LwF's teacher)."""
        from ..models import load

        if not isinstance(self.model, (str, bytes)) and not hasattr(self.model, "__fspath__"):
            raise ValueError("this method needs the pretrained model again: pass finetune(model=NAME_OR_PATH)")
        return load(self.model, trainable=False)

    def set_backbone(self, weights) -> None:
        """Assign a list of arrays (aligned with backbone.trainable_variables) to the backbone."""
        for v, w in zip(self.backbone_variables, weights):
            v.assign(w)


@dataclass(frozen=True)
class Row:
    """One row a run is reported as: the methods it stands for, the metrics measured for it and the optimizer
    steps behind those weights. left: whether these are the weights the run left in the model (one row is)."""

    methods: list
    metrics: dict
    steps: int
    left: bool = True


def _format(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (tuple, list)):
        return "/".join(_format(v) for v in value)
    return str(value)


@dataclass(eq=False, repr=False)
class Method:
    """Full fine-tuning: every variable of the backbone and the new head trains; no extra terms."""

    key: ClassVar[str] = "full"  # stable ASCII name: registry, --method, result records
    needs_task_a_data: ClassVar[bool] = False  # True when it keeps or reads task-A examples (rehearsal, EWC)
    distributable: ClassVar[bool] = True  # False when its hooks cannot run under tf.distribute
    id_excludes: ClassVar[tuple] = ()  # options that do not change the trained model (left out of ``id``)
    inputs: ClassVar[str] = "any"  # the inputs its hooks understand: "any", "images", "tokens" or "lm" (a language model)
    example_loss: ClassVar = None  # or a method (ctx, x, y, logits) -> each task-B example's loss [N]: module docstring

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _declare(cls)

    @property
    def options(self) -> dict:
        """The declared options and their values (as data: records, ``id``, the command line)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @property
    def id(self) -> str:
        """Stable ASCII identity, e.g. ``ewc(strength=0.1)``: the key and every option that differs from its
        default. A new option with a default that keeps today's behaviour leaves every existing id unchanged."""
        defaults = defaults_of(type(self))
        shown = {k: v for k, v in self.options.items() if k not in self.id_excludes and v != defaults[k]}
        return self.key + (f"({','.join(f'{k}={_format(v)}' for k, v in shown.items())})" if shown else "")

    @property
    def label(self) -> str:
        """Name with its hyperparameters for tables and plots (e.g. ``ewc(λ=100)``); display only."""
        return self.key

    def record(self) -> dict:
        """{"method": key, "options": {...}}: what a result file stores about this method."""
        return {"method": self.key, "options": to_jsonable(self.options)}

    def select_examples(self, ctx: Context, x, y):
        """The task-B examples to train on, from the ones offered: (x, y)."""
        return x, y

    def setup(self, ctx: Context) -> None:
        """Before the first step, after ``select_examples``."""

    def phases(self, epochs: int) -> list[Phase] | None:
        """The training schedule for ``epochs`` epochs, or None (one phase training everything)."""
        return None

    def select_variables(self, ctx: Context, variables: list) -> list:
        """The variables the loss is differentiated against in ``ctx.training.phase``."""
        return variables

    def replay_size(self, batch_size: int) -> int:
        """Task-A examples this method adds to each batch of ``batch_size`` task-B examples."""
        return 0

    def replay_weight(self, batch_size: int) -> float:
        """How much each example this method replays weighs in the loss, beside a task-B example's 1."""
        return 1.0

    def replay_batch(self, ctx: Context, size: int):
        """``size`` task-A examples (x, y) to add to one step's batch; called when ``replay_size`` > 0."""
        raise NotImplementedError(f"{type(self).__name__} has replay_size > 0 but no replay_batch")

    def augment(self, ctx: Context, x):
        """Task-B training inputs -> inputs (tf ops, inside the compiled step)."""
        return x

    def transform_features(self, ctx: Context, features, training: bool):
        """Backbone features -> the features fed to the new head."""
        return features

    def penalty(self, ctx: Context, x, features, logits):
        """An extra loss term (scalar tensor), or None."""
        return None

    def transform_gradients(self, ctx: Context, grads_and_vars: list) -> list:
        """The (gradient, variable) pairs the optimizer applies."""
        return grads_and_vars

    def after_apply(self, ctx: Context) -> None:
        """After each optimizer step."""

    def after_epoch(self, ctx: Context, epoch: int, metrics: dict) -> bool:
        """After each epoch, with its metrics (a method may add some): True stops training."""
        return False

    def after_training(self, ctx: Context) -> dict | None:
        """After the last step, before the final measurement: returns this method's report (JSON-ready) or None."""
        return None

    def rows(self, rows: list[Row], report: dict | None) -> list[Row]:
        """The rows the run is reported as, given the rows so far and this method's report: unchanged by default."""
        return rows

    def state(self) -> dict:
        """What must be saved in a checkpoint to resume this method exactly (numpy arrays and Python values)."""
        return {}

    def load_state(self, state: dict) -> None:
        """Restore what ``state()`` returned (called after ``setup``)."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id}>"


def _declare(cls: type) -> None:
    """Make a new subclass a dataclass of its annotated options, and register it when it has a key of its own (a
    helper subclass without one is not a method of the registry)."""
    if "__init__" in cls.__dict__:
        raise TypeError(f"{cls.__name__} defines __init__: declare its options as fields with defaults "
                        f"(`strength: float = 1.0`) and check them in __post_init__")
    dataclass(eq=False, repr=False)(cls)
    if "key" not in cls.__dict__:
        return
    key = cls.key
    if not key or not key.isascii() or any(c in key for c in " ()[]+,="):
        raise ValueError(f"method key {key!r} of {cls.__name__}: use ASCII letters, digits and '-'")
    old = REGISTRY.get(key)
    if old is not None and (old.__module__, old.__qualname__) != (cls.__module__, cls.__qualname__):
        raise ValueError(f"method key {key!r} of {cls.__qualname__} is taken by {old.__qualname__}")
    REGISTRY[key] = cls  # the same class defined again (a re-run notebook cell) replaces itself


def defaults_of(cls: type) -> dict:
    """{option: default} of a method class (its declared fields)."""
    return {f.name: f.default for f in dataclasses.fields(cls)}


def brings_loss(method) -> bool:
    """Whether ``method`` replaces the task-B examples' cross-entropy (defines ``example_loss``)."""
    return type(method).example_loss is not None


REGISTRY[Method.key] = Method
FullFineTuning = Method
HOOKS = tuple(name for name, v in vars(Method).items()
              if inspect.isfunction(v) and not name.startswith("_") and name != "record")
_NOT_SHOWN = ("__init__", "__post_init__", "__repr__", "state", "load_state", "rows")


def reported_rows(methods, reports, metrics: dict, steps: int) -> list[Row]:
    """The rows a run of ``methods`` is reported as: one row of its final ``metrics`` and ``steps``, which each
    method in turn may rewrite from its report (``Method.rows``)."""
    rows = [Row(list(methods), metrics, steps)]
    for m, report in zip(methods, reports):
        rows = m.rows(rows, report)
    return rows


def hook_source(cls: type) -> str:
    """The source of what ``cls`` changes: the public functions of its module, then the hooks and helpers
    the class defines itself (not its validation, reporting or checkpoint plumbing). Notebooks render it, so the
    code shown is the code measured."""
    import textwrap

    if cls is Method:
        return "# full fine-tuning overrides no hook: every default above does nothing"
    module = inspect.getmodule(cls)
    helpers = [v for v in vars(module).values()
               if inspect.isfunction(v) and v.__module__ == module.__name__ and not v.__name__.startswith("_")]
    members = [v for name, v in vars(cls).items() if inspect.isfunction(v) and name not in _NOT_SHOWN
               and v.__qualname__.startswith(cls.__qualname__ + ".")]  # not the dataclass's generated functions
    return "\n\n".join(textwrap.dedent(inspect.getsource(f)).rstrip() for f in helpers + members)


def squared_distance(variables, anchors, weights=None):
    """sum_i w_i (theta_i - anchor_i)^2 over lists of variables: the quadratic pull of L2-SP and EWC."""
    import tensorflow as tf

    terms = []
    for i, (v, a) in enumerate(zip(variables, anchors)):
        d = tf.square(v - a)
        terms.append(tf.reduce_sum(d if weights is None else weights[i] * d))
    return tf.add_n(terms)


def example_cross_entropy(labels, logits):
    """Per-example cross-entropy [N] of either task kind: class labels [N] with logits [N, C]; or next-token targets
    [N, T] (-1: not scored) with logits [N, T, V], averaged over each example's scored tokens."""
    import tensorflow as tf

    labels = tf.cast(labels, tf.int32)
    if labels.shape.rank == 1:
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    scored = tf.cast(labels >= 0, logits.dtype)
    ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=logits) * scored
    return tf.reduce_sum(ce, axis=-1) / tf.maximum(tf.reduce_sum(scored, axis=-1), 1.0)
