"""The one fine-tuning runner: ``finetune(model, task, method)`` for notebooks, scripts and benchmarks.

It loads the pretrained backbone through ``utils.hub.load`` (trainable), puts a new head on it for
task B, keeps the shipped task-A head frozen beside it, and trains with Adam in a compiled step.
A language-model task (``Task.kind == "lm"``, ``utils.lm_tasks``) has no new head: the model's own output layer is
shared by every skill, the loss is next-token cross-entropy on the scored tokens (the answer, not the prompt), and
task A is general text (what replay and KL-to-reference draw from; measured as held-out bits per byte).
Methods (``utils.methods``) change what trains, the loss, the batches and the weights after
training through the hooks ``utils.methods.base`` declares; the loop never names a method.

``finetune`` builds a ``Run`` and calls its steps in order, each short enough to read at once:

    Run.prepare()   load the model, build the new head and the Context, let the methods set up
    Run.restore()   the RunState: a fresh one (the pretrained model measured), or a checkpoint's
    Run.train()     each phase: an optimizer, a compiled epoch, then epochs (evaluate, checkpoint, stop?)
    Run.finish()    the methods' last word (WiSE-FT, restore best), final metrics, the FineTuneResult

The protocol's defaults (epochs, batch size, learning rate, schedule, seed) are defined once, in ``PROTOCOL``.

Every epoch it records (``result.history``):
    A_head      task-A test accuracy of the *original* head on the updated backbone (the headline:
                what a user of the old capability sees)
    A_probe     task-A test accuracy of a linear probe re-fitted on the updated features
                ("is the information still there?")
    B           task-B test accuracy of the new head
    A_head_val, B_val  the same two on the validation splits: every choice (a hyperparameter, a best
                method, a stopping epoch, a WiSE-FT alpha) is made on these; test numbers are only reported
    B_train     task-B accuracy on the examples trained on
    A_drift     how far the task-A test features turned: mean 1 - cos(f(x), f0(x)) (0 before training)
    A_scale     how much they grew or shrank: mean ||f(x)|| / ||f0(x)|| (1 before training)
    loss        mean training loss (cross-entropy, without penalties) over the epoch

Runs are deterministic under a seed: ``set_random_seed`` + op determinism give bit-identical
results on a CPU for the same runs in the same order in a process. What ran before in the process can change the
last bits of a step, which a chaotic run (LoRA on the digits over 10 epochs) carries to its third decimal: checks
are proven under the numeric variants of ``make robust``, not on bit-identity across processes.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field

import numpy as np

from . import data, hub, metrics
from . import methods as methods_lib
from .common import PROTOCOL, Protocol, seed_everything, to_jsonable
from .methods.base import Context, Phase, example_cross_entropy

DEFAULT_MODEL = {"permute": "digits-convnet", "rot90": "digits-convnet", "split": "digits-convnet-0to4"}
EVAL_BATCH = 512
class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message says when and what to try."""


class ChanceLevelWarning(UserWarning):
    """The run ended with task-B accuracy at chance level: it learnt nothing (usually a too-high learning rate)."""


CHANCE_MARGIN = 0.02  # a final task-B accuracy within this of 1/num_classes is "chance level"


def chance_level_warning(accuracy: float, num_classes: int, learning_rate: float) -> str | None:
    """The warning line for a run that learnt nothing, or None."""
    chance = 1.0 / num_classes
    if accuracy > chance + CHANCE_MARGIN:
        return None
    return (f"task-B accuracy {accuracy:.3f} is at chance level (1/{num_classes} = {chance:.3f}): the run learnt "
            f"nothing. A learning rate of {learning_rate:g} is probably too high: try {learning_rate / 10:g} (or, if "
            f"the loss was still falling, train longer)")


@dataclass
class FineTuneResult:
    """What one run measured. ``history[0]`` is the pretrained model (epoch 0).

    id: the run's stable ASCII identity (``utils.methods.run_id``); methods: its methods as records
    ``{"method": key, "options": {...}}``; method: the display label (tables and plots only).
    """

    id: str
    methods: list
    method: str
    model: str
    task: str
    seed: int
    config: dict
    before: dict
    final: dict
    history: list
    extra: dict
    train_seconds: float
    steps: int
    context: Context = field(repr=False, default=None)
    warnings: list = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready summary (no live model objects)."""
        return to_jsonable({k: getattr(self, k) for k in
                            ("id", "methods", "method", "model", "task", "seed", "config", "before", "final", "history",
                             "extra", "train_seconds", "steps", "warnings")})


@dataclass
class RunState:
    """Where a run stands at an epoch boundary: what a checkpoint holds, enough to continue it exactly."""

    history: list  # history[0]: the pretrained model's metrics
    epoch: int = 0  # the last completed epoch
    steps: int = 0
    train_seconds: float = 0.0
    stopped: bool = False  # a method asked to stop
    phase_index: int = 0  # the phase the last completed epoch belonged to
    optimizer: list | None = None  # that phase's optimizer variables (arrays)

    @property
    def before(self) -> dict:
        return self.history[0]


def resolve_tasks(task):
    """``task`` as (task_a, task_b, name): a pair name, a (Task, Task) tuple, or a task-B Task alone."""
    if isinstance(task, str):
        a, b = data.task_pair(task)
        return a, b, task
    if isinstance(task, data.Task):
        return None, task, task.name
    if isinstance(task, (tuple, list)) and len(task) == 2:
        return task[0], task[1], task[1].name
    raise TypeError(f"task must be one of {data.TASK_PAIRS}, a (task_a, task_b) pair or a Task, got {task!r}")


def progress_enabled(progress) -> bool:
    """Whether to draw a progress bar: ``progress`` when given, else not when WORKBOOK_PROGRESS=0 (tests, and the
    kernels ``make run`` executes, whose saved outputs would keep every frame of the bar)."""
    if progress is not None:
        return bool(progress)
    return os.environ.get("WORKBOOK_PROGRESS", "1") != "0"


def _batched(fn, x, batch=EVAL_BATCH):
    return np.concatenate([fn(x[i : i + batch]).numpy() for i in range(0, len(x), batch)])


def make_evaluator(probe: bool = True):
    """The standard measurements (see the module docstring) as a function of the Context.

    A_drift: how far the task-A test features turned from the pretrained ones, mean over images of
    1 - cos(f(x), f0(x)) (0: same directions); A_scale: mean ||f(x)|| / ||f0(x)|| (how much they grew or shrank).
    A fixed linear head reads directions more than lengths, so A_drift tracks what the old head loses.
    """
    cache: dict = {}

    def pretrained_features(ctx: Context, x):
        """f0(x): the backbone's features with its pretrained weights (``ctx.initial``), measured once."""
        key = (str(ctx.model), len(x))
        if key not in cache:
            now = [v.numpy() for v in ctx.backbone_variables]
            ctx.set_backbone([w.numpy() for w in ctx.initial])
            cache[key] = _batched(ctx.features, x)
            ctx.set_backbone(now)
        return cache[key]

    def evaluate(ctx: Context) -> dict:
        feats = ctx.features
        out = {}
        b_test = _batched(feats, ctx.task_b.x_test)
        out["B"] = metrics.accuracy(ctx.head(b_test).numpy(), ctx.task_b.y_test)
        if ctx.task_b.has_validation:
            out["B_val"] = metrics.accuracy(ctx.head(_batched(feats, ctx.task_b.x_val)).numpy(), ctx.task_b.y_val)
        out["B_train"] = metrics.accuracy(ctx.head(_batched(feats, ctx.train_x)).numpy(), ctx.train_y)
        if ctx.task_a is not None:
            a_test = _batched(feats, ctx.task_a.x_test)
            if ctx.old_head is not None:
                out["A_head"] = metrics.accuracy(ctx.old_head(a_test).numpy(), ctx.task_a.y_test)
                if ctx.task_a.has_validation:
                    a_val = ctx.old_head(_batched(feats, ctx.task_a.x_val)).numpy()
                    out["A_head_val"] = metrics.accuracy(a_val, ctx.task_a.y_val)
            f0 = pretrained_features(ctx, ctx.task_a.x_test)
            norms = np.linalg.norm(a_test, axis=1) * np.linalg.norm(f0, axis=1) + 1e-12
            out["A_drift"] = float(np.mean(1 - np.sum(a_test * f0, axis=1) / norms))
            out["A_scale"] = float(np.mean(np.linalg.norm(a_test, axis=1) / (np.linalg.norm(f0, axis=1) + 1e-12)))
            if probe:
                a_train = _batched(feats, ctx.task_a.x_train)
                out["A_probe"] = metrics.linear_probe_accuracy(a_train, ctx.task_a.y_train, a_test, ctx.task_a.y_test)
        return out

    return evaluate


def _lm_evaluator():
    """The language-model track's measurements (``utils.lm_tasks.LMBench``): skills' exact match, bits per byte."""
    from .lm_tasks import LMBench

    return LMBench().evaluator()


def _train_step(ctx: Context, methods, variables, optimizer, replay_size: int):
    """step(x, y, xa, ya, count=None, replicas=1) -> (cross-entropy, total loss): one optimizer step.

    The cross-entropy is summed over the task-B and the replayed examples and divided by the number of
    task-B examples (``count``): replay adds examples to the batch (each weighs as much as a task-B example)
    without diluting task B's gradient. Penalties are divided by ``replicas`` under a distribution strategy.
    """
    import tensorflow as tf

    cross_entropy = example_cross_entropy
    pad = ctx.task_b.pad

    def step(x, y, xa, ya, count=None, replicas=1):
        if pad is not None:  # padded token ids: drop the columns that are padding in every row (per-position targets too)
            n = data.used_length(pad, x, xa)
            x, xa = x[:, :n], xa[:, :n]
            y, ya = (t[:, :n] if t.shape.rank == 2 else t for t in (y, ya))
        for m in methods:
            x = m.augment(ctx, x)
        n_b = tf.shape(x)[0]
        with tf.GradientTape() as tape:
            inputs = tf.concat([x, xa], axis=0) if replay_size else x
            all_features = ctx.backbone(inputs, training=True)
            features = all_features[:n_b]
            head_in = features
            for m in methods:
                head_in = m.transform_features(ctx, head_in, True)
            logits = ctx.head(head_in)
            ce_sum = tf.reduce_sum(cross_entropy(y, logits))
            if replay_size:
                ce_sum += tf.reduce_sum(cross_entropy(ya, ctx.old_head(all_features[n_b:])))
            if count is None:
                count = tf.cast(n_b, tf.float32)
            loss = ce_sum / count  # replayed examples are added to the batch: task B's gradient is not diluted
            terms = [p / replicas for p in (m.penalty(ctx, x, features, logits) for m in methods) if p is not None]
            total = loss + tf.add_n(terms) if terms else loss
        grads = tape.gradient(total, variables)
        grads_and_vars = [(g, v) for g, v in zip(grads, variables) if g is not None]
        for m in methods:
            grads_and_vars = m.transform_gradients(ctx, grads_and_vars)
        optimizer.apply_gradients(grads_and_vars)
        for m in methods:
            m.after_apply(ctx)
        return loss, total

    return step


def _make_epoch(ctx: Context, step, replay_size: int, strategy=None):
    """One compiled epoch: (x, y, xa, ya) -> per-step (cross-entropy, total loss).

    x, y: the epoch's task-B examples in batch order; xa, ya: ``replay_size`` task-A examples per step.
    Running the whole epoch in one graph call saves the per-step Python dispatch (about 20% here).
    Under a ``tf.distribute`` strategy each replica takes every n-th example of the batch and scales
    its loss so that the optimizer's all-reduced (summed) gradient is the whole batch's gradient.
    """
    import tensorflow as tf

    batch, n_replay = ctx.batch_size, replay_size
    if strategy is not None:
        def replica_step(x, y, xa, ya):
            rc = tf.distribute.get_replica_context()
            n, r = rc.num_replicas_in_sync, rc.replica_id_in_sync_group
            count = tf.cast(tf.shape(x)[0], tf.float32)
            return step(x[r::n], y[r::n], xa[r::n], ya[r::n], count, n)

        def run_step(*args):
            per_replica = strategy.run(replica_step, args=args)
            return tuple(strategy.reduce("SUM", t, axis=None) for t in per_replica)
    else:
        run_step = step

    def epoch(x, y, xa, ya):
        """All steps of one epoch in the graph: x, y in batch order; xa, ya hold n_replay examples per step."""
        n = tf.shape(x)[0]
        steps = (n + batch - 1) // batch

        def body(i, losses, totals):
            lo, hi = i * batch, tf.minimum((i + 1) * batch, n)
            ra, rb = i * n_replay, (i + 1) * n_replay
            loss, total = run_step(x[lo:hi], y[lo:hi], xa[ra:rb], ya[ra:rb])
            return i + 1, losses.write(i, loss), totals.write(i, total)

        arrays = [tf.TensorArray(tf.float32, size=steps) for _ in range(2)]
        _, losses, totals = tf.while_loop(lambda i, *_: i < steps, body, [tf.constant(0), *arrays], parallel_iterations=1)
        return losses.stack(), totals.stack()

    def spec(a):
        return tf.TensorSpec([None, *a.shape[1:]], tf.as_dtype(a.dtype))

    a = ctx.task_a if ctx.task_a is not None else ctx.task_b
    signature = [spec(ctx.train_x), spec(ctx.train_y), spec(a.x_train), spec(a.y_train)]
    return tf.function(epoch, input_signature=signature, autograph=False)  # one trace, whatever the sizes


def _features_function(backbone, example, strategy):
    """x -> backbone features in inference mode (under a strategy, computed by its first replica), as one
    ``tf.function`` for every batch size (and every sequence length, for token ids). Called directly, a restored
    SavedModel function sets itself up again for each new input shape, about 0.2 s each for a transformer."""
    import tensorflow as tf

    spec = _features_spec(example)
    if strategy is None:
        return tf.function(lambda x: backbone(x, training=False), input_signature=[spec])
    run = tf.function(lambda x: strategy.run(lambda v: backbone(v, training=False), args=(x,)), input_signature=[spec])
    return lambda x: strategy.experimental_local_results(run(x))[0]


def _features_spec(example):
    """The input signature of ``_features_function``: any batch size (and any length, for token ids)."""
    import tensorflow as tf

    example = np.asarray(example)
    shape = [None] * example.ndim if _token_ids(example) else [None, *example.shape[1:]]
    return tf.TensorSpec(shape, tf.as_dtype(example.dtype))


def _token_ids(x) -> bool:
    """Whether inputs are token ids (integers: the transformers' inputs), not images (floats)."""
    return np.asarray(x).dtype.kind in "iu"


@contextlib.contextmanager
def graph_rewrites(enabled: bool = True):
    """Within: Grappler's graph rewrites on (TensorFlow's default) or off, for the functions first run here.

    ``finetune`` turns them off for the transformers (token-id inputs: MiniLM, byte-lm): rewriting their training
    graph (the restored model's forward and backward, the optimizer, the epoch's loop) cost 1.5 to 2 s at each run's
    first call, more than the rewritten graph saves per step over a run of a few dozen steps
    (``benchmarks/bench_lm.py`` measures both for the language model). On for the convnet, whose graph is small."""
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not enabled})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


def mirrored_strategy(cpus: int = 2):
    """A ``tf.distribute.MirroredStrategy`` over the GPUs, or over ``cpus`` logical CPU devices without one.

    Splitting the CPU must happen before TensorFlow first uses it: call this at the start of a process.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpus)
        except RuntimeError as e:
            if len(tf.config.list_logical_devices("CPU")) < cpus:
                raise RuntimeError(
                    "TensorFlow is already running on one CPU device: create the mirrored strategy at the "
                    "start of a new process (for example `python -m utils.finetune_cli --strategy mirrored`)"
                ) from e
        devices = [d.name for d in tf.config.list_logical_devices("CPU")[:cpus]]
    else:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    return tf.distribute.MirroredStrategy(devices)


def multi_worker_strategy():
    """A ``tf.distribute.MultiWorkerMirroredStrategy`` over the workers that ``TF_CONFIG`` names (one process per
    machine, each with the same command). Create it at the start of the process, before TensorFlow runs anything.

    TF_CONFIG on worker i: {"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": "worker", "index": i}}
    """
    import json

    import tensorflow as tf

    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "null")
        workers = config["cluster"]["worker"]
        index = config["task"]["index"]
    except (ValueError, TypeError, KeyError) as e:
        raise RuntimeError(
            'the multi-worker strategy needs TF_CONFIG on every worker, e.g. {"cluster": {"worker": ["10.0.0.1:2222", '
            f'"10.0.0.2:2222"]}}, "task": {{"type": "worker", "index": 0}}}} (got {os.environ.get("TF_CONFIG")!r})') from e
    if not 0 <= int(index) < len(workers):
        raise RuntimeError(f"TF_CONFIG's task index {index} is not one of the {len(workers)} workers")
    return tf.distribute.MultiWorkerMirroredStrategy()


def _phase_variables(ctx: Context, methods, phase: Phase) -> list:
    variables = list(ctx.head.trainable_variables)
    if phase.train == "all":
        variables = ctx.backbone_variables + variables
    for m in methods:
        variables = m.select_variables(ctx, variables)
    return variables


def _build_optimizer(ctx, methods, variables, learning_rate, schedule="constant", steps=1):
    """Adam over the variables the methods' gradient transforms produce (found with zero gradients).

    schedule: "constant", or "cosine" (decay from ``learning_rate`` to 0 over the phase's ``steps``).
    """
    import tensorflow as tf
    import tf_keras as keras

    gv = [(tf.zeros_like(v), v) for v in variables]
    for m in methods:
        gv = m.transform_gradients(ctx, gv)
    if schedule == "cosine":
        learning_rate = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, steps))
    optimizer = keras.optimizers.Adam(learning_rate)
    optimizer.build([v for _, v in gv])
    return optimizer


@dataclass
class _Lent:
    """A model a ``ModelPool`` lends: the layer, its pretrained values, its last run's result (a weak reference)
    and its features functions (by input signature)."""

    layer: object
    pretrained: list
    result: object = None
    features: dict = field(default_factory=dict)

    def held(self) -> bool:
        return self.result is not None and self.result() is not None


class ModelPool:
    """Loaded models, lent to one run after another: each model is loaded once, and every run that asks for it
    gets the same layer back with all its variables reset to the pretrained values.

    Loading a model, and building the gradient of its restored function while the step traces, is then paid once
    per comparison rather than per run: about 2 s of every MiniLM run (``benchmarks/bench_pool.py`` measures both
    ways). A run on a lent model computes what it would on a model of its own (``tests/test_compare.py``).

    A result keeps its model: the layer goes back to the pool only once nobody holds the result of the run that
    trained it (a weak reference tells). While someone does (``compare``'s ``on_run`` keeping a run to continue
    from it), the next run gets a freshly loaded copy, which the pool lends from then on. Keep the result, not only
    its ``context.backbone``: a layer whose result is gone is lent again, and reset.
    """

    def __init__(self):
        self._lent: dict = {}  # str(model) -> _Lent

    def load(self, model):
        """``hub.load(model, trainable=True)`` the first time, and whenever the last run's result is still held;
        otherwise the same layer as last time, its weights reset."""
        if not isinstance(model, (str, os.PathLike)):
            return hub.load(model, trainable=True)  # a loaded layer: the caller's own
        key = os.fspath(model)
        lent = self._lent.get(key)
        if lent is None or lent.held():  # a held one stays with its result: no longer the pool's
            layer = hub.load(model, trainable=True)
            self._lent[key] = _Lent(layer, [v.numpy() for v in layer.variables])
            return layer
        for v, w in zip(lent.layer.variables, lent.pretrained):
            v.assign(w)
        lent.layer.trainable, lent.result = True, None
        return lent.layer

    def _find(self, layer) -> _Lent | None:
        return next((lent for lent in self._lent.values() if lent.layer is layer), None)

    def returned_with(self, layer, result) -> None:
        """``layer`` trained the run of ``result``: it is lent again once ``result`` is no longer referenced."""
        import weakref

        lent = self._find(layer)
        if lent is not None:
            lent.result = weakref.ref(result)

    def features(self, layer, example):
        """``_features_function(layer, example)``, traced once per lent layer and input signature."""
        lent = self._find(layer)
        if lent is None:
            return _features_function(layer, example, None)
        spec = _features_spec(example)
        key = (tuple(spec.shape.as_list()), spec.dtype.name)
        if key not in lent.features:
            lent.features[key] = _features_function(layer, example, None)
        return lent.features[key]


class ResumeError(ValueError):
    """A checkpoint cannot be resumed with these settings; the message says why."""


class Run:
    """One fine-tuning run, as the four steps ``finetune`` calls: prepare, restore, train, finish.

    The arguments are ``finetune``'s (see there). After ``prepare`` the run holds ``ctx`` (the Context the
    methods see), ``phases`` and ``n_replay``; ``restore`` returns the ``RunState`` that ``train`` advances.
    """

    def __init__(self, model, task, method, protocol: Protocol, *, old_head="auto", evaluator=None, eval_every=1,
                 progress=None, on_epoch=None, checkpoint_dir=None, resume=False, strategy=None, before=None,
                 models: ModelPool | None = None):
        from .checkpoint import Checkpointer

        protocol.check()
        self.protocol, self.methods = protocol, methods_lib.as_list(method)
        self.label, self.id = methods_lib.label(self.methods), methods_lib.run_id(self.methods)
        self.task_a, self.task_b, self.task_name = resolve_tasks(task)
        data.validate(self.task_b, "task B")
        if self.task_a is not None:
            data.validate(self.task_a, "task A")
        if strategy is not None:
            refused = [m.key for m in self.methods if not m.distributable]
            if refused:
                ok = ", ".join(n for n, c in methods_lib.REGISTRY.items() if c.distributable)
                raise ValueError(f"{', '.join(refused)} cannot train under a distribution strategy yet; "
                                 f"use the default strategy, or one of: {ok}")
        self.model = model if model is not None else DEFAULT_MODEL.get(self.task_name, "digits-convnet")
        self.old_head, self.evaluator, self.eval_every = old_head, evaluator, eval_every
        self.progress, self.on_epoch, self.strategy, self.known_before = progress, on_epoch, strategy, before
        self.checkpoint_dir, self.models = checkpoint_dir, models if strategy is None else None
        self.checkpointer = Checkpointer(checkpoint_dir) if checkpoint_dir is not None else None
        self.fingerprint = {"model": str(self.model), "task": self.task_name, "method": self.label, **asdict(protocol)}
        self.saved = self._find_checkpoint(resume)

    def _find_checkpoint(self, resume: bool) -> dict | None:
        """The checkpoint to resume from, or None; refuses another run's checkpoints and mixing two runs."""
        if self.checkpointer is None:
            if resume:
                raise ResumeError("resume=True needs a checkpoint_dir")
            return None
        if not resume:
            if self.checkpointer.epochs():
                raise ResumeError(f"{self.checkpoint_dir} already holds checkpoints: resume them, or choose another directory")
            return None
        saved = self.checkpointer.latest()
        if saved is not None and saved["fingerprint"] != self.fingerprint:
            diff = {k: (saved["fingerprint"].get(k), v) for k, v in self.fingerprint.items()
                    if saved["fingerprint"].get(k) != v}
            raise ResumeError(f"the checkpoints in {self.checkpoint_dir} are from another run; (saved, now): {diff}")
        return saved

    def prepare(self) -> None:
        """Load the backbone and the old head, build the new head and the Context, let the methods set up."""
        import tensorflow as tf
        import tf_keras as keras

        seed, task_b = self.protocol.seed, self.task_b
        backbone = self.models.load(self.model) if self.models is not None else hub.load(self.model, trainable=True)
        hub.check_input(backbone, task_b.x_train, name=f"task {task_b.name!r}")
        features = (self.models.features(backbone, task_b.x_train) if self.models is not None
                    else _features_function(backbone, task_b.x_train, self.strategy))
        if task_b.kind == "lm":  # one model, one shared output layer: the "features" are the logits
            head = keras.layers.Activation("linear", name="lm_output")
            old_head = head if self.old_head == "auto" else self.old_head
        else:
            old_head = hub.load_head(self.model) if self.old_head == "auto" else self.old_head
            if old_head is not None and self.task_a is not None and old_head.units != self.task_a.num_classes:
                raise ValueError(
                    f"the head of {self.model!r} has {old_head.units} classes but task A ({self.task_a.name}) has "
                    f"{self.task_a.num_classes}: use the model pretrained on task A (for {self.task_name!r}: "
                    f"{DEFAULT_MODEL.get(self.task_name, 'see utils.train.DEFAULT_MODEL')})")
            head = keras.layers.Dense(task_b.num_classes, name="new_head",
                                      kernel_initializer=keras.initializers.GlorotUniform(seed=seed))
            head.build((None, int(features(task_b.x_train[:1]).shape[-1])))
        ctx = Context(
            backbone=backbone, head=head, old_head=old_head, task_a=self.task_a, task_b=task_b,
            train_x=task_b.x_train, train_y=task_b.y_train,
            initial=[tf.constant(v.numpy()) for v in backbone.trainable_variables],
            rng=tf.random.Generator.from_seed(seed), np_rng=np.random.default_rng(seed), seed=seed,
            learning_rate=self.protocol.learning_rate, batch_size=self.protocol.batch_size, model=self.model,
            features=features)
        evaluate = self.evaluator or (make_evaluator() if task_b.kind != "lm" else _lm_evaluator())
        ctx.evaluate = lambda: evaluate(ctx)
        for m in self.methods:
            ctx.train_x, ctx.train_y = m.select_examples(ctx, ctx.train_x, ctx.train_y)
        for m in self.methods:
            m.setup(ctx)
        self.ctx = ctx
        epochs = self.protocol.epochs
        self.phases = next((p for p in (m.phases(epochs) for m in self.methods) if p is not None), [Phase(epochs)])
        if not ctx.backbone_variables and any(p.train == "all" and p.epochs for p in self.phases):
            raise hub.NotTrainableError(
                f"{self.model!r} exposes no trainable variables, so {self.label} would train only the new head and "
                f"report the backbone unchanged: use --method frozen (method=FrozenBackbone()) for a linear probe, "
                f"or save the model with its variables (tf.saved_model.save of a tf.Module or tf_keras model, "
                f"Keras 3 model.export())")
        self.replayers = [m for m in self.methods if m.replay_size(self.protocol.batch_size) > 0]
        self.n_replay = sum(m.replay_size(self.protocol.batch_size) for m in self.replayers)
        self.steps_per_epoch = -(-len(ctx.train_y) // self.protocol.batch_size)

    def restore(self) -> RunState:
        """A fresh state (the pretrained model measured, or ``before`` when given), or the checkpoint's."""
        saved, ctx = self.saved, self.ctx
        if saved is None:
            before = dict(self.known_before) if self.known_before is not None else ctx.evaluate()
            return RunState(history=[{"epoch": 0, "phase": "pretrained", "loss": None, **before, "seconds": 0.0}])
        for v, w in zip(ctx.backbone_variables + list(ctx.head.weights), saved["backbone"] + saved["head"]):
            v.assign(w)
        ctx.np_rng.bit_generator.state = saved["np_rng"]
        ctx.rng.reset(saved["tf_rng"])
        ctx.probed_head = saved["probed_head"]
        for m, st in zip(self.methods, saved["methods"]):
            m.load_state(st)
        return RunState(**saved["state"])

    def train(self, state: RunState) -> RunState:
        """Every phase that is not done yet; returns the state after the last epoch."""
        from tqdm.std import tqdm

        total = self.steps_per_epoch * sum(p.epochs for p in self.phases)
        self.bar = tqdm(total=total, initial=state.steps, desc=self.label, leave=False, file=sys.stderr,
                        disable=not progress_enabled(self.progress), mininterval=0.5)
        end = 0
        for index, phase in enumerate(self.phases):
            first, end = end, end + phase.epochs  # this phase covers epochs first+1 .. end
            if not (state.stopped or phase.epochs == 0 or end <= state.epoch):
                self._train_phase(index, phase, first, state)
        self.bar.close()
        return state

    def _train_phase(self, index: int, phase: Phase, first: int, state: RunState) -> None:
        ctx, methods, p = self.ctx, self.methods, self.protocol
        ctx.phase = phase
        variables = _phase_variables(ctx, methods, phase)
        optimizer = _build_optimizer(ctx, methods, variables, p.learning_rate * phase.lr_scale, p.schedule,
                                     phase.epochs * self.steps_per_epoch)
        ctx.optimizer = optimizer
        if state.optimizer is not None and state.phase_index == index and state.epoch > first:
            for v, w in zip(optimizer.variables, state.optimizer):
                v.assign(w)
        step = _train_step(ctx, methods, variables, optimizer, self.n_replay)
        run_epoch = _make_epoch(ctx, step, self.n_replay, self.strategy)
        run_epoch.get_concrete_function()  # trace now, so train_seconds counts training only
        for epoch in range(max(first, state.epoch) + 1, first + phase.epochs + 1):
            row = self._epoch(run_epoch, epoch, phase, state)
            if phase.train == "head" and epoch == first + phase.epochs:
                ctx.probed_head = [w.numpy() for w in ctx.head.weights]  # the probe: WiSE-FT's head start
            for m in methods:
                state.stopped = m.after_epoch(ctx, epoch, row) or state.stopped
            row["seconds"] = state.train_seconds
            state.history.append(row)
            state.epoch, state.phase_index = epoch, index
            state.optimizer = [v.numpy() for v in optimizer.variables] if self.checkpointer is not None else None
            self._save(state)
            if self.on_epoch is not None:
                self.on_epoch(epoch, row)
            if state.stopped:
                break

    def _epoch(self, run_epoch, epoch: int, phase: Phase, state: RunState) -> dict:
        """Train one epoch (a shuffled order, the replayed examples) and measure it: its history row."""
        ctx, n_train = self.ctx, len(self.ctx.train_y)
        t0 = time.perf_counter()
        order = ctx.np_rng.permutation(n_train)
        if self.task_b.bucket:
            lengths = data.row_lengths(ctx.train_x, self.task_b.pad)
            order = data.length_batches(order, lengths, self.protocol.batch_size, ctx.np_rng)
        source_a = self.task_a if self.task_a is not None else self.task_b
        xa, ya = source_a.x_train[:0], source_a.y_train[:0]
        if self.n_replay:
            size = self.protocol.batch_size
            parts = [[m.replay_batch(ctx, m.replay_size(size)) for m in self.replayers] for _ in range(self.steps_per_epoch)]
            xa = np.concatenate([p[0] for step_parts in parts for p in step_parts])
            ya = np.concatenate([p[1] for step_parts in parts for p in step_parts])
        losses, totals = (t.numpy() for t in run_epoch(ctx.train_x[order], ctx.train_y[order], xa, ya))
        bad = np.flatnonzero(~np.isfinite(totals))
        if bad.size:
            self.bar.close()
            kept = (f"; the last good checkpoint (epoch {epoch - 1}) is kept in {self.checkpoint_dir}"
                    if self.checkpointer and epoch > 1 else "")
            raise NonFiniteLossError(
                f"the training loss became {totals[bad[0]]} at epoch {epoch}, step {bad[0] + 1} ({self.label}, "
                f"learning rate {self.protocol.learning_rate * phase.lr_scale:g}): lower the learning rate or the "
                f"penalty strength, and check the inputs for NaN{kept}")
        state.steps += self.steps_per_epoch
        self.bar.update(self.steps_per_epoch)
        state.train_seconds += time.perf_counter() - t0
        row = {"epoch": epoch, "phase": phase.name, "loss": float(np.mean(losses))}
        if self.eval_every and epoch % self.eval_every == 0:
            row.update(ctx.evaluate())
        self.bar.set_postfix(loss=f"{row['loss']:.3f}")
        return row

    def _save(self, state: RunState) -> None:
        if self.checkpointer is None:
            return
        ctx = self.ctx
        self.checkpointer.save(state.epoch, {
            "fingerprint": self.fingerprint, "state": asdict(state), "probed_head": ctx.probed_head,
            "backbone": [v.numpy() for v in ctx.backbone_variables], "head": [w.numpy() for w in ctx.head.weights],
            "np_rng": ctx.np_rng.bit_generator.state, "tf_rng": ctx.rng.state.numpy(),
            "methods": [m.state() for m in self.methods],
        })

    def finish(self, state: RunState) -> FineTuneResult:
        """The methods' after-training hooks, the final measurement, the result (and its warnings)."""
        ctx, p = self.ctx, self.protocol
        for m in self.methods:
            m.after_training(ctx)
        final = ctx.evaluate()
        config = {**asdict(p), "phases": [asdict(ph) for ph in self.phases], "replay_per_batch": self.n_replay}
        classifier = "B" in final and self.task_b.kind != "lm"
        note = chance_level_warning(final["B"], self.task_b.num_classes, p.learning_rate) if classifier else None
        notes = [note] if note else []
        for note in notes:
            warnings.warn(note, ChanceLevelWarning, stacklevel=3)
        result = FineTuneResult(
            id=self.id, methods=methods_lib.records(self.methods), method=self.label, model=str(self.model),
            task=self.task_name, seed=p.seed, config=config, before=state.before, final=final, history=state.history,
            extra=dict(ctx.extra), train_seconds=state.train_seconds, steps=state.steps, context=ctx, warnings=notes)
        if self.models is not None:
            self.models.returned_with(ctx.backbone, result)
        return result


def finetune(
    model=None,
    task="permute",
    method=None,
    *,
    epochs: int = PROTOCOL.epochs,
    batch_size: int = PROTOCOL.batch_size,
    learning_rate: float = PROTOCOL.learning_rate,
    schedule: str = PROTOCOL.schedule,
    seed: int = PROTOCOL.seed,
    old_head="auto",
    evaluator=None,
    eval_every: int = 1,
    progress=None,
    on_epoch=None,
    checkpoint_dir=None,
    resume: bool = False,
    strategy=None,
    before: dict | None = None,
    models: ModelPool | None = None,
) -> FineTuneResult:
    """Fine-tune ``model`` on task B with ``method`` and measure task A and task B every epoch.

    model: bundled name, SavedModel path or hub handle (default: the bundled model for ``task``).
    task: "permute" | "rot90" | "split", a (task_a, task_b) pair of ``utils.data.Task``, or a Task.
    method: a ``utils.methods`` object or a list of them (default: full fine-tuning).
    epochs, batch_size, learning_rate (Adam), schedule, seed: the protocol (defaults: ``PROTOCOL``).
    old_head: the frozen task-A head; "auto" loads the one shipped with ``model``.
    evaluator: callable(ctx) -> dict of metrics (default: ``make_evaluator()``).
    eval_every: measure every this many epochs (0: only before and after training; faster).
    on_epoch: optional callable(epoch, metrics) called after each epoch (and after its checkpoint).
    checkpoint_dir: write a checkpoint after every epoch there (``utils.checkpoint``).
    resume: continue from the newest checkpoint in ``checkpoint_dir``; the result, weights included,
        is the same as an uninterrupted run with the same arguments.
    strategy: a ``tf.distribute`` strategy (``mirrored_strategy()``) to train data-parallel; methods
        with ``distributable = False`` (they draw random numbers or add variables inside the step) refuse it.
    before: the pretrained model's metrics when they are already known (several runs from one model): skips
        measuring them again, which costs seconds with a transformer.
    models: a ``ModelPool`` to borrow the loaded model from: several runs in a row, each loading the model once
        between them (the result keeps the model while it is referenced). Ignored under a ``strategy``.
    """
    protocol = Protocol(epochs, batch_size, learning_rate, schedule, seed)
    run = Run(model, task, method, protocol, old_head=old_head, evaluator=evaluator, eval_every=eval_every,
              progress=progress, on_epoch=on_epoch, checkpoint_dir=checkpoint_dir, resume=resume, strategy=strategy,
              before=before, models=models)
    seed_everything(seed)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()  # variables made here are mirrored
    with scope, graph_rewrites(not _token_ids(run.task_b.x_train)):
        run.prepare()
        return run.finish(run.train(run.restore()))
