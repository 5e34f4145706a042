"""The one fine-tuning runner: ``finetune(model, task, method)`` for notebooks, scripts and benchmarks.

It loads the pretrained backbone through ``utils.hub.load`` (trainable), puts a new head on it for
task B, keeps the shipped task-A head frozen beside it, and trains with Adam in a compiled step.
Methods (``utils.methods``) change what trains, the loss, the batches and the weights after
training through hooks; the loop never names a method.

Every epoch it records (``result.history``):
    A_head      task-A test accuracy of the *original* head on the updated backbone (the headline:
                what a user of the old capability sees)
    A_probe     task-A test accuracy of a linear probe re-fitted on the updated features
                ("is the information still there?")
    B           task-B test accuracy of the new head
    A_head_val, B_val  the same two on the validation splits: every choice (a hyperparameter, a best
                method, a stopping epoch, a WiSE-FT alpha) is made on these; test numbers are only reported
    B_train     task-B accuracy on the examples trained on
    loss        mean training loss (cross-entropy, without penalties) over the epoch

Runs are deterministic under a seed: ``set_random_seed`` + op determinism give bit-identical
results on a CPU.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from dataclasses import dataclass, field

import numpy as np

from . import data, hub, metrics
from . import methods as methods_lib
from .methods.base import Context, Phase
from .zoo import seed_everything

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
    """What one run measured. ``history[0]`` is the pretrained model (epoch 0)."""

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
        def clean(v):
            if isinstance(v, dict):
                return {str(k): clean(x) for k, x in v.items()}
            if isinstance(v, (list, tuple)):
                return [clean(x) for x in v]
            if isinstance(v, (np.floating, np.integer)):
                return v.item()
            return v

        return clean({k: getattr(self, k) for k in
                      ("method", "model", "task", "seed", "config", "before", "final", "history", "extra",
                       "train_seconds", "steps", "warnings")})


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


def _progress_enabled(progress) -> bool:
    if progress is not None:
        return bool(progress)
    return os.environ.get("WORKBOOK_PROGRESS", "1") != "0"


def _batched(fn, x, batch=EVAL_BATCH):
    return np.concatenate([fn(x[i : i + batch]).numpy() for i in range(0, len(x), batch)])


def make_evaluator(probe: bool = True):
    """The standard measurements (see the module docstring) as a function of the Context."""

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
            if probe:
                a_train = _batched(feats, ctx.task_a.x_train)
                out["A_probe"] = metrics.linear_probe_accuracy(a_train, ctx.task_a.y_train, a_test, ctx.task_a.y_test)
        return out

    return evaluate


def _make_epoch(ctx: Context, methods, variables, optimizer, replay_size: int, strategy=None):
    """One compiled epoch: (x, y, xa, ya) -> per-step (cross-entropy, total loss).

    x, y: the epoch's task-B examples in batch order; xa, ya: ``replay_size`` task-A examples per step.
    The cross-entropy is summed over the task-B and the replayed examples and divided by the number of
    task-B examples: replay adds examples to the batch (each weighs as much as a task-B example) without
    diluting task B's gradient.
    Running the whole epoch in one graph call saves the per-step Python dispatch (about 20% here).
    Under a ``tf.distribute`` strategy each replica takes every n-th example of the batch and scales
    its loss so that the optimizer's all-reduced (summed) gradient is the whole batch's gradient.
    """
    import tensorflow as tf

    def cross_entropy(labels, logits):
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.cast(labels, tf.int32), logits=logits)

    def step(x, y, xa, ya, count=None, replicas=1):
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
    """x -> backbone features in inference mode; under a strategy, computed by its first replica."""
    if strategy is None:
        return lambda x: backbone(x, training=False)  # a restored function: no tracing needed
    import tensorflow as tf

    spec = tf.TensorSpec([None, *np.shape(example)[1:]], tf.as_dtype(np.asarray(example).dtype))
    run = tf.function(lambda x: strategy.run(lambda v: backbone(v, training=False), args=(x,)), input_signature=[spec])
    return lambda x: strategy.experimental_local_results(run(x))[0]


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
                    "start of a new process (for example `python -m utils.finetune --strategy mirrored`)"
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


SCHEDULES = ("constant", "cosine")
DEFAULT_SCHEDULE = "cosine"  # the protocol's: a quiet end of training, so final numbers vary less over seeds


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


class ResumeError(ValueError):
    """A checkpoint cannot be resumed with these settings; the message says why."""


def _fingerprint(model, task_name, label, epochs, batch_size, learning_rate, schedule, seed) -> dict:
    return {"model": str(model), "task": task_name, "method": label, "epochs": epochs, "batch_size": batch_size,
            "learning_rate": learning_rate, "schedule": schedule, "seed": seed}


def finetune(
    model=None,
    task="permute",
    method=None,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    schedule: str = DEFAULT_SCHEDULE,
    seed: int = 0,
    old_head="auto",
    evaluator=None,
    eval_every: int = 1,
    progress=None,
    on_epoch=None,
    checkpoint_dir=None,
    resume: bool = False,
    strategy=None,
    before: dict | None = None,
) -> FineTuneResult:
    """Fine-tune ``model`` on task B with ``method`` and measure task A and task B every epoch.

    model: bundled name, SavedModel path or hub handle (default: the bundled model for ``task``).
    task: "permute" | "rot90" | "split", a (task_a, task_b) pair of ``utils.data.Task``, or a Task.
    method: a ``utils.methods`` object or a list of them (default: full fine-tuning).
    epochs, batch_size, learning_rate (Adam), seed: the protocol.
    schedule: "cosine" (the learning rate decays to 0 over each phase: the end of training is quiet, so the
        final numbers vary less from seed to seed) or "constant".
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
    """
    import tensorflow as tf
    import tf_keras as keras
    from tqdm.std import tqdm

    from .checkpoint import Checkpointer

    for name, value, low in (("epochs", epochs, 0), ("batch_size", batch_size, 1)):
        if not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if not learning_rate > 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate!r}")
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {', '.join(SCHEDULES)}, got {schedule!r}")
    methods = methods_lib.as_list(method)
    label = methods_lib.label(methods)
    task_a, task_b, task_name = resolve_tasks(task)
    data.validate(task_b, "task B")
    if task_a is not None:
        data.validate(task_a, "task A")
    if strategy is not None:
        refused = [m.name for m in methods if not m.distributable]
        if refused:
            ok = ", ".join(n for n, c in methods_lib.REGISTRY.items() if c.distributable)
            raise ValueError(f"{', '.join(refused)} cannot train under a distribution strategy yet; "
                             f"use the default strategy, or one of: {ok}")
    if model is None:
        model = DEFAULT_MODEL.get(task_name, "digits-convnet")
    checkpointer = Checkpointer(checkpoint_dir) if checkpoint_dir is not None else None
    fingerprint = _fingerprint(model, task_name, label, epochs, batch_size, learning_rate, schedule, seed)
    saved = None
    if checkpointer is not None:
        if resume:
            saved = checkpointer.latest()
            if saved is not None and saved["fingerprint"] != fingerprint:
                diff = {k: (saved["fingerprint"].get(k), v) for k, v in fingerprint.items() if saved["fingerprint"].get(k) != v}
                raise ResumeError(f"the checkpoints in {checkpoint_dir} are from another run; (saved, now): {diff}")
        elif checkpointer.epochs():
            raise ResumeError(f"{checkpoint_dir} already holds checkpoints: resume them, or choose another directory")
    elif resume:
        raise ResumeError("resume=True needs a checkpoint_dir")
    seed_everything(seed)

    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:  # variables made here are mirrored across the strategy's devices
        backbone = hub.load(model, trainable=True)
        hub.check_input(backbone, task_b.x_train, name=f"task {task_b.name!r}")
        if old_head == "auto":
            old_head = hub.load_head(model)
        if old_head is not None and task_a is not None and old_head.units != task_a.num_classes:
            raise ValueError(
                f"the head of {model!r} has {old_head.units} classes but task A ({task_a.name}) has "
                f"{task_a.num_classes}: use the model pretrained on task A (for {task_name!r}: "
                f"{DEFAULT_MODEL.get(task_name, 'see utils.train.DEFAULT_MODEL')})"
            )
        head = keras.layers.Dense(
            task_b.num_classes, name="new_head", kernel_initializer=keras.initializers.GlorotUniform(seed=seed)
        )
        features = _features_function(backbone, task_b.x_train, strategy)
        head.build((None, int(features(task_b.x_train[:1]).shape[-1])))

        ctx = Context(
            backbone=backbone, head=head, old_head=old_head, task_a=task_a, task_b=task_b,
            train_x=task_b.x_train, train_y=task_b.y_train,
            initial=[tf.constant(v.numpy()) for v in backbone.trainable_variables],
            rng=tf.random.Generator.from_seed(seed), np_rng=np.random.default_rng(seed), seed=seed,
            learning_rate=learning_rate, batch_size=batch_size, model=model,
        )
        ctx.features = features
        evaluate = evaluator or make_evaluator()
        ctx.evaluate = lambda: evaluate(ctx)

        for m in methods:
            m.setup(ctx)
        phases = next((p for p in (m.phases(epochs) for m in methods) if p is not None), [Phase(epochs)])
        if not ctx.backbone_variables and any(p.train == "all" and p.epochs for p in phases):
            raise hub.NotTrainableError(
                f"{model!r} exposes no trainable variables, so {label} would train only the new head and report "
                f"the backbone unchanged: use --method frozen (method=FrozenBackbone()) for a linear probe, or save "
                f"the model with its variables (tf.saved_model.save of a tf.Module or tf_keras model, Keras 3 "
                f"model.export())")
        replayers = [m for m in methods if m.replay_size(batch_size) > 0]
        n_replay = sum(m.replay_size(batch_size) for m in replayers)
        n_train = len(ctx.train_y)
        steps_per_epoch = -(-n_train // batch_size)

        if saved is None:
            before = dict(before) if before is not None else ctx.evaluate()
            history = [{"epoch": 0, "phase": "pretrained", "loss": None, **before, "seconds": 0.0}]
            done, steps, train_seconds, stopped = 0, 0, 0.0, False
        else:  # resume: everything an epoch boundary needs, in the state it had then
            for v, w in zip(ctx.backbone_variables + list(head.weights), saved["backbone"] + saved["head"]):
                v.assign(w)
            ctx.np_rng.bit_generator.state = saved["np_rng"]
            ctx.rng.reset(saved["tf_rng"])
            ctx.head_anchor = saved["head_anchor"]
            for m, st in zip(methods, saved["methods"]):
                m.load_state(st)
            history, before = saved["history"], saved["history"][0]
            history[0] = dict(before)
            done, steps, train_seconds, stopped = saved["epoch"], saved["steps"], saved["train_seconds"], saved["stopped"]

        bar = tqdm(total=steps_per_epoch * sum(p.epochs for p in phases), initial=steps, desc=label, leave=False,
                   disable=not _progress_enabled(progress), file=sys.stderr, mininterval=0.5)
        source_a = task_a if task_a is not None else task_b
        empty_a, empty_ya = source_a.x_train[:0], source_a.y_train[:0]
        epoch = 0
        for phase_index, phase in enumerate(phases):
            first, last = epoch, epoch + phase.epochs  # this phase covers epochs first+1 .. last
            epoch = last
            if stopped or phase.epochs == 0 or last <= done:
                continue
            ctx.phase = phase
            variables = _phase_variables(ctx, methods, phase)
            optimizer = _build_optimizer(ctx, methods, variables, learning_rate * phase.lr_scale, schedule,
                                         phase.epochs * steps_per_epoch)
            ctx.optimizer = optimizer
            if saved is not None and saved["phase_index"] == phase_index and done > first:
                for v, w in zip(optimizer.variables, saved["optimizer"]):
                    v.assign(w)
            run_epoch = _make_epoch(ctx, methods, variables, optimizer, n_replay, strategy)
            run_epoch.get_concrete_function()  # trace now, so train_seconds counts training only
            for current in range(max(first, done) + 1, last + 1):
                t0 = time.perf_counter()
                order = ctx.np_rng.permutation(n_train)
                xa, ya = empty_a, empty_ya
                if n_replay:
                    parts = [[m.replay_batch(ctx, m.replay_size(batch_size)) for m in replayers] for _ in range(steps_per_epoch)]
                    xa = np.concatenate([p[0] for step_parts in parts for p in step_parts])
                    ya = np.concatenate([p[1] for step_parts in parts for p in step_parts])
                losses, totals = (t.numpy() for t in run_epoch(ctx.train_x[order], ctx.train_y[order], xa, ya))
                bad = np.flatnonzero(~np.isfinite(totals))
                if bad.size:
                    bar.close()
                    kept = f"; the last good checkpoint (epoch {current - 1}) is kept in {checkpoint_dir}" if checkpointer and current > 1 else ""
                    raise NonFiniteLossError(
                        f"the training loss became {totals[bad[0]]} at epoch {current}, step {bad[0] + 1} ({label}, "
                        f"learning rate {learning_rate * phase.lr_scale:g}): lower the learning rate or the "
                        f"penalty strength, and check the inputs for NaN{kept}"
                    )
                steps += steps_per_epoch
                bar.update(steps_per_epoch)
                train_seconds += time.perf_counter() - t0
                row = {"epoch": current, "phase": phase.name, "loss": float(np.mean(losses))}
                if eval_every and current % eval_every == 0:
                    row.update(ctx.evaluate())
                for m in methods:
                    stopped = m.after_epoch(ctx, current, row) or stopped
                row["seconds"] = train_seconds
                history.append(row)
                bar.set_postfix(loss=f"{row['loss']:.3f}")
                if checkpointer is not None:
                    checkpointer.save(current, {
                        "fingerprint": fingerprint, "epoch": current, "phase_index": phase_index,
                        "backbone": [v.numpy() for v in ctx.backbone_variables], "head": [w.numpy() for w in head.weights],
                        "optimizer": [v.numpy() for v in optimizer.variables], "np_rng": ctx.np_rng.bit_generator.state,
                        "tf_rng": ctx.rng.state.numpy(), "head_anchor": ctx.head_anchor, "history": history,
                        "steps": steps, "train_seconds": train_seconds, "stopped": stopped,
                        "methods": [m.state() for m in methods],
                    })
                if on_epoch is not None:
                    on_epoch(current, row)
                if stopped:
                    break
        bar.close()
        for m in methods:
            m.after_training(ctx)
        final = ctx.evaluate()
        config = {"epochs": epochs, "batch_size": batch_size, "learning_rate": learning_rate, "schedule": schedule, "seed": seed,
                  "phases": [p.__dict__ for p in phases], "replay_per_batch": n_replay}
        note = chance_level_warning(final["B"], task_b.num_classes, learning_rate) if "B" in final else None
        notes = [note] if note else []
        for note in notes:
            warnings.warn(note, ChanceLevelWarning, stacklevel=2)
        return FineTuneResult(
            method=label, model=str(model), task=task_name, seed=seed, config=config, before=before, final=final,
            history=history, extra=dict(ctx.extra), train_seconds=train_seconds, steps=steps, context=ctx,
            warnings=notes,
        )
