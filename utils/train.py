"""The one fine-tuning runner: ``finetune(model, task, method)`` for notebooks, scripts and benchmarks.

It knows no method and no track. The task says what kind it is (``Task.kind``), which picks a head policy
(``HEADS``): a classification task gets a new dense head beside the model's frozen task-A head; a language-model
task trains the model's own output layer, shared by every skill, on the answer tokens only, with general text as
task A. The task also says how a run on it is measured (``Task.bench``: ``ImageBench``, ``TextBench``, ``CapabilitySuite``),
unless the caller passes ``evaluator=``. Methods (``utils.methods``) change what trains, the loss, the batches and
the weights after training through the hooks ``utils.methods.base`` declares; the loop never names a method.

``finetune`` builds a ``Run`` and calls its steps in order, each short enough to read at once:

    Run.prepare()   load the model, pick the heads, build the Context, let the methods set up
    Run.restore()   the RunState: a fresh one (the pretrained model measured), or a checkpoint's
    Run.train()     each phase: an optimizer, a compiled epoch, then epochs (evaluate, checkpoint, stop?)
    Run.finish()    the methods' last word (WiSE-FT, restore best), final metrics, the FineTuneResult

The protocol's defaults (epochs, batch size, learning rate, schedule, seed) are defined once, in ``PROTOCOL``.
What a run records every epoch is its bench's (``result.history``; the digits' metrics are listed in
``utils.image_data.ImageBench``); every choice is made on the validation metrics (``*_val``), test is reported.

Runs are deterministic under a seed: ``set_random_seed`` + op determinism give bit-identical
results on a CPU for the same runs in the same order in a process. What ran before in the process can change the
last bits of a step, which a chaotic run (LoRA on the digits over 10 epochs) carries to its third decimal: checks
are proven under the numeric variants of ``make robust``, not on bit-identity across processes.
"""

from __future__ import annotations

import contextlib
import sys
import time
import warnings
from dataclasses import asdict, replace

import numpy as np

from . import methods as methods_lib
from . import models, runtime, tasks
from .checkpoint import ResumeError, RunCheckpoints  # noqa: F401  ResumeError: raised by a run, caught by its callers
from .common import PROTOCOL, Protocol, seed_everything
from .heads import HEADS
from .methods.base import Context, Phase, example_cross_entropy
from .pool import ModelPool
from .results import ChanceLevelWarning, FineTuneResult, RunState, chance_level_warning


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message says when and what to try."""


def _train_step(ctx: Context, methods, variables, optimizer, replay_size: int, replay_weights=None):
    """step(x, y, w, xa, ya, count=None, replicas=1) -> (loss, total loss): one optimizer step.

    The task-B examples' losses (cross-entropy, or the one method that brings its own: ``Method.example_loss``),
    each times its weight ``w``, and the replayed examples' cross-entropy are summed and divided by the number of
    task-B examples (``count``): replay adds examples to the batch (each weighs as much as a task-B example, or
    ``replay_weights`` [replay_size] when given) without diluting task B's gradient. Penalties are divided by
    ``replicas`` under a distribution strategy.
    """
    import tensorflow as tf

    cross_entropy = example_cross_entropy
    own = [m for m in methods if methods_lib.brings_loss(m)]
    example_loss = (lambda x, y, logits: own[0].example_loss(ctx, x, y, logits)) if own else (
        lambda x, y, logits: cross_entropy(y, logits))
    pad = ctx.task_b.pad

    def step(x, y, w, xa, ya, count=None, replicas=1):
        if pad is not None:  # padded token ids: drop the columns that are padding in every row (per-position targets too)
            n = tasks.used_length(pad, x, xa)
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
            ce_sum = tf.reduce_sum(example_loss(x, y, logits) * w)
            if replay_size:
                ce_a = cross_entropy(ya, ctx.old_head(all_features[n_b:]))
                ce_sum += tf.reduce_sum(ce_a if replay_weights is None else ce_a * tf.constant(replay_weights, ce_a.dtype))
            if count is None:
                count = tf.cast(n_b, tf.float32)
            loss = ce_sum / count  # replayed examples are added to the batch: task B's gradient is not diluted
            terms = [p / replicas for p in (m.penalty(ctx, x, features, logits) for m in methods) if p is not None]
            total = loss + tf.add_n(terms) if terms else loss
        grads = tape.gradient(total, variables)
        if replicas != 1:  # an embedding's sparse gradient differs in shape between replicas (each trims its own
            grads = [tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g for g in grads]  # rows): dense
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

    x, y, w: the epoch's task-B examples and their weights in batch order; xa, ya: ``replay_size`` task-A examples
    per step.
    Running the whole epoch in one graph call saves the per-step Python dispatch (about 20% here).
    Under a ``tf.distribute`` strategy each replica takes every n-th example of the batch and scales
    its loss so that the optimizer's all-reduced (summed) gradient is the whole batch's gradient.
    """
    import tensorflow as tf

    batch, n_replay = ctx.batch_size, replay_size
    if strategy is not None:
        def replica_step(x, y, w, xa, ya):
            rc = tf.distribute.get_replica_context()
            n, r = rc.num_replicas_in_sync, rc.replica_id_in_sync_group
            count = tf.cast(tf.shape(x)[0], tf.float32)
            return step(x[r::n], y[r::n], w[r::n], xa[r::n], ya[r::n], count, n)

        def run_step(*args):
            per_replica = strategy.run(replica_step, args=args)
            return tuple(strategy.reduce("SUM", t, axis=None) for t in per_replica)
    else:
        run_step = step

    def epoch(x, y, w, xa, ya):
        """All steps of one epoch in the graph: x, y, w in batch order; xa, ya hold n_replay examples per step."""
        n = tf.shape(x)[0]
        steps = (n + batch - 1) // batch

        def body(i, losses, totals):
            lo, hi = i * batch, tf.minimum((i + 1) * batch, n)
            ra, rb = i * n_replay, (i + 1) * n_replay
            loss, total = run_step(x[lo:hi], y[lo:hi], w[lo:hi], xa[ra:rb], ya[ra:rb])
            return i + 1, losses.write(i, loss), totals.write(i, total)

        arrays = [tf.TensorArray(tf.float32, size=steps) for _ in range(2)]
        _, losses, totals = tf.while_loop(lambda i, *_: i < steps, body, [tf.constant(0), *arrays], parallel_iterations=1)
        return losses.stack(), totals.stack()

    def spec(a):
        return tf.TensorSpec([None, *a.shape[1:]], tf.as_dtype(a.dtype))

    a = ctx.task_a if ctx.task_a is not None else ctx.task_b
    signature = [spec(ctx.train_x), spec(ctx.train_y), spec(ctx.train_w), spec(a.x_train), spec(a.y_train)]
    return tf.function(epoch, input_signature=signature, autograph=False)  # one trace, whatever the sizes


def _phase_variables(ctx: Context, methods, phase: Phase) -> list:
    variables = list(ctx.head.trainable_variables)
    if phase.train == "all":
        variables = ctx.backbone_variables + variables
    for m in methods:
        variables = m.select_variables(ctx, variables)
    return variables


def _build_optimizer(ctx, methods, variables, learning_rate, schedule="constant", steps=1, warmup=0):
    """Adam over the variables the methods' gradient transforms produce (found with zero gradients), at the rate
    ``runtime.learning_rate_schedule`` gives over the phase's ``steps``."""
    import tensorflow as tf
    import tf_keras as keras

    gv = [(tf.zeros_like(v), v) for v in variables]
    for m in methods:
        gv = m.transform_gradients(ctx, gv)
    optimizer = keras.optimizers.Adam(runtime.learning_rate_schedule(learning_rate, schedule, steps, warmup))
    optimizer.build([v for _, v in gv])
    return optimizer


class Run:
    """One fine-tuning run, as the four steps ``finetune`` calls: prepare, restore, train, finish.

    The arguments are ``finetune``'s (see there). After ``prepare`` the run holds ``ctx`` (the Context the
    methods see), ``phases`` and ``n_replay``; ``restore`` returns the ``RunState`` that ``train`` advances.
    """

    def __init__(self, model, task, method, protocol: Protocol, *, old_head="auto", evaluator=None, eval_every=1,
                 progress=None, on_epoch=None, checkpoint_dir=None, resume=False, strategy=None, before=None,
                 models: ModelPool | None = None):
        protocol.check()
        self.protocol, self.methods = protocol, methods_lib.as_list(method)
        self.label, self.id = methods_lib.label(self.methods), methods_lib.run_id(self.methods)
        self.task_a, self.task_b = tasks.pair(task)
        _refuse_under_strategy(self.methods, strategy)
        self.model = model if model is not None else self.task_b.base_model
        if self.model is None:
            raise ValueError(f"task {self.task_b.name!r} names no base model: pass finetune(model=NAME_OR_PATH)")
        self.old_head, self.eval_every, self.progress, self.on_epoch = old_head, eval_every, progress, on_epoch
        self.evaluator = evaluator or _bench_evaluator(self.task_b)
        self.strategy, self.known_before = strategy, before
        self.models = models if strategy is None else None
        self.head_policy = HEADS[self.task_b.kind]
        self.checkpoints = RunCheckpoints(checkpoint_dir, {"model": str(self.model), "task": self.task_b.name,
                                                           "method": self.label, **asdict(protocol)}, resume)

    def prepare(self) -> None:
        """The steps before training, in order; afterwards the run holds ``ctx``, ``phases`` and ``n_replay``."""
        backbone = self._load_model()
        features = self._features(backbone)
        head, old_head = self.head_policy.heads(self, features)
        self.ctx = _context(self, backbone, head, old_head, features)
        for m in self.methods:
            m.setup(self.ctx)
        epochs = self.protocol.epochs
        self.phases = next((p for p in (m.phases(epochs) for m in self.methods) if p is not None), [Phase(epochs)])
        _check_trainable(self.ctx, self.phases, self.model, self.label)
        _check_loss(self.head_policy, self.methods, self.task_b, self.protocol.batch_size)
        self.replayers = [m for m in self.methods if m.replay_size(self.protocol.batch_size) > 0]
        self.n_replay = sum(m.replay_size(self.protocol.batch_size) for m in self.replayers)
        self.replay_weights = _replay_weights(self.replayers, self.protocol.batch_size, self.strategy)
        self.steps_per_epoch = -(-len(self.ctx.train_y) // self.protocol.batch_size)

    def _load_model(self):
        """The model to fine-tune (borrowed from the pool when there is one), checked against the task's inputs."""
        backbone = self.models.load(self.model) if self.models is not None else models.load(self.model, trainable=True)
        models.check_input(backbone, self.task_b.x_train, name=f"task {self.task_b.name!r}")
        return backbone

    def _features(self, backbone):
        """x -> features in inference mode, compiled once for every batch size."""
        if self.models is not None:
            return self.models.features(backbone, self.task_b.x_train)
        return runtime.features_function(backbone, self.task_b.x_train, self.strategy)

    def restore(self) -> RunState:
        """A fresh state (the pretrained model measured, or ``before`` when given), or the checkpoint's."""
        if self.checkpoints.saved is None:
            before = dict(self.known_before) if self.known_before is not None else self.ctx.evaluate()
            return RunState(history=[{"epoch": 0, "phase": "pretrained", "loss": None, **before, "seconds": 0.0}])
        return self.checkpoints.restore(self.ctx, self.methods)

    def train(self, state: RunState) -> RunState:
        """Every phase that is not done yet; returns the state after the last epoch."""
        from tqdm.std import tqdm

        total = self.steps_per_epoch * sum(p.epochs for p in self.phases)
        self.bar = tqdm(total=total, initial=state.steps, desc=self.label, leave=False, file=sys.stderr,
                        disable=not runtime.progress_enabled(self.progress), mininterval=0.5)
        end = 0
        for index, phase in enumerate(self.phases):
            first, end = end, end + phase.epochs  # this phase covers epochs first+1 .. end
            if not (state.stopped or phase.epochs == 0 or end <= state.epoch):
                _train_phase(self, index, phase, first, state)
        self.bar.close()
        return state

    def finish(self, state: RunState) -> FineTuneResult:
        """The methods' after-training hooks (their reports), the final measurement, the result and its warnings."""
        ctx, p = self.ctx, self.protocol
        reports = [m.after_training(ctx) for m in self.methods]
        final = ctx.evaluate()
        config = {**asdict(p), "phases": [asdict(ph) for ph in self.phases], "replay_per_batch": self.n_replay}
        at_chance = self.head_policy.warns_at_chance and "B" in final
        note = chance_level_warning(final["B"], self.task_b.num_classes, p.learning_rate) if at_chance else None
        if note:
            warnings.warn(note, ChanceLevelWarning, stacklevel=3)
        return FineTuneResult(
            id=self.id, methods=self.methods, method=self.label, model=str(self.model), task=self.task_b.name,
            seed=p.seed, config=config, before=state.before, final=final, history=state.history, reports=reports,
            train_seconds=state.train_seconds, steps=state.steps, context=ctx, warnings=[note] if note else [])


def _context(run: Run, backbone, head, old_head, features) -> Context:
    """The Context, complete: built on every task-B example, then on the ones the methods select."""
    import tensorflow as tf

    seed, b = run.protocol.seed, run.task_b
    weights = np.ones(len(b.y_train), np.float32) if b.weights is None else np.asarray(b.weights, np.float32)
    ctx = Context(backbone=backbone, head=head, old_head=old_head, task_a=run.task_a, task_b=b,
                  train_x=b.x_train, train_y=b.y_train, train_w=weights,
                  initial=[tf.constant(v.numpy()) for v in backbone.trainable_variables],
                  rng=tf.random.Generator.from_seed(seed), np_rng=np.random.default_rng(seed), seed=seed,
                  learning_rate=run.protocol.learning_rate, batch_size=run.protocol.batch_size,
                  model=run.model, features=features, evaluator=run.evaluator)
    for m in run.methods:
        x, y = m.select_examples(ctx, ctx.train_x, ctx.train_y)
        if len(y) != len(ctx.train_y) and (b.weights is not None or run.head_policy.group > 1):
            raise ValueError(f"{m.label} selects task B's examples, which would part them from their weights or "
                             f"pairs: train {b.name!r} without it")
        ctx = replace(ctx, train_x=x, train_y=y)
    return ctx


def _bench_evaluator(task):
    """The evaluator of ``task``'s bench (``Task.bench``), or a clear error when it has none."""
    if task.bench is None:
        raise ValueError(f"task {task.name!r} has no bench to measure a run on it: give it one (Task.bench: "
                         "utils.image_data.IMAGES for images with a task-A head, a TextBench, an CapabilitySuite) or pass "
                         "finetune(evaluator=...)")
    return task.bench.evaluator()


def _refuse_under_strategy(methods, strategy) -> None:
    """Methods that draw random numbers or add variables inside the step cannot train under a strategy yet."""
    refused = [m.key for m in methods if not m.distributable] if strategy is not None else []
    if refused:
        ok = ", ".join(n for n, c in methods_lib.REGISTRY.items() if c.distributable)
        raise ValueError(f"{', '.join(refused)} cannot train under a distribution strategy yet; "
                         f"use the default strategy, or one of: {ok}")


def _replay_weights(replayers, batch_size: int, strategy):
    """Each replayed example's weight in the loss (``Method.replay_weight``), or None when every one weighs 1."""
    weights = np.concatenate([np.full(m.replay_size(batch_size), m.replay_weight(batch_size), np.float32)
                              for m in replayers]) if replayers else np.ones(0, np.float32)
    if np.all(weights == 1):
        return None
    if strategy is not None:
        raise ValueError("replayed examples weighed below 1 (a replay share under one example per batch) cannot "
                         "train under a distribution strategy yet: use the default strategy, or a larger share")
    return weights


def _check_loss(head_policy, methods, task, batch_size: int) -> None:
    """One loss for task B's examples: the cross-entropy, or the one method that brings its own; a task whose rows
    come in groups (preference pairs) needs such a method and batches of whole groups."""
    own = [m.label for m in methods if methods_lib.brings_loss(m)]
    if len(own) > 1:
        raise ValueError(f"{' and '.join(own)} each bring their own loss for task B: train with one of them")
    if head_policy.loss_required and not own:
        raise ValueError(f"task {task.name!r} ({task.kind}) trains with {head_policy.loss_required}; cross-entropy "
                         "would also train its rejected answers")
    if batch_size % head_policy.group:
        raise ValueError(f"task {task.name!r} keeps its rows in groups of {head_policy.group}: use a batch size that "
                         f"is a multiple of {head_policy.group}, not {batch_size}")


def _check_trainable(ctx: Context, phases, model, label: str) -> None:
    """Refuse to 'fine-tune' a model with no trainable variables (the run would report it unchanged)."""
    if not ctx.backbone_variables and any(p.train == "all" and p.epochs for p in phases):
        raise models.NotTrainableError(
            f"{model!r} exposes no trainable variables, so {label} would train only the new head and "
            f"report the backbone unchanged: use --method frozen (method=FrozenBackbone()) for a linear probe, "
            f"or save the model with its variables (tf.saved_model.save of a tf.Module or tf_keras model, "
            f"Keras 3 model.export())")


def _train_phase(run: Run, index: int, phase: Phase, first: int, state: RunState) -> None:
    """Train the epochs of one phase that are not done yet: a new optimizer (restored mid-phase), a compiled epoch,
    then per epoch: train, measure, the methods' after_epoch, the checkpoint, the caller's on_epoch."""
    ctx, methods, p = run.ctx, run.methods, run.protocol
    ctx.training.phase = phase
    variables = _phase_variables(ctx, methods, phase)
    optimizer = _build_optimizer(ctx, methods, variables, p.learning_rate * phase.lr_scale, p.schedule,
                                 phase.epochs * run.steps_per_epoch, p.warmup)
    ctx.training.optimizer = optimizer
    if state.optimizer is not None and state.phase_index == index and state.epoch > first:
        for v, w in zip(optimizer.variables, state.optimizer):
            v.assign(w)
    step = _train_step(ctx, methods, variables, optimizer, run.n_replay, run.replay_weights)
    run_epoch = _make_epoch(ctx, step, run.n_replay, run.strategy)
    run_epoch.get_concrete_function()  # trace now, so train_seconds counts training only
    for epoch in range(max(first, state.epoch) + 1, first + phase.epochs + 1):
        row = _epoch(run, run_epoch, epoch, phase, state)
        if phase.train == "head" and epoch == first + phase.epochs:
            ctx.training.probed_head = [w.numpy() for w in ctx.head.weights]  # the probe: WiSE-FT's head start
        for m in methods:
            state.stopped = m.after_epoch(ctx, epoch, row) or state.stopped
        row["seconds"] = state.train_seconds
        state.history.append(row)
        state.epoch, state.phase_index = epoch, index
        state.optimizer = [v.numpy() for v in optimizer.variables] if run.checkpoints.on else None
        run.checkpoints.save(state, ctx, methods)
        if run.on_epoch is not None:
            run.on_epoch(epoch, row)
        if state.stopped:
            break


def _epoch(run: Run, run_epoch, epoch: int, phase: Phase, state: RunState) -> dict:
    """Train one epoch (a shuffled order, the replayed examples) and measure it: its history row."""
    ctx, p, n_train = run.ctx, run.protocol, len(run.ctx.train_y)
    t0 = time.perf_counter()
    group = run.head_policy.group
    order = ctx.np_rng.permutation(n_train // group)[:, None] * group + np.arange(group)  # whole groups, shuffled
    order = order.reshape(-1)
    if run.task_b.bucket:
        order = tasks.length_batches(order, tasks.row_lengths(ctx.train_x, run.task_b.pad), p.batch_size, ctx.np_rng)
    source_a = run.task_a if run.task_a is not None else run.task_b
    xa, ya = source_a.x_train[:0], source_a.y_train[:0]
    if run.n_replay:
        parts = [[m.replay_batch(ctx, m.replay_size(p.batch_size)) for m in run.replayers]
                 for _ in range(run.steps_per_epoch)]
        xa = np.concatenate([part[0] for step_parts in parts for part in step_parts])
        ya = np.concatenate([part[1] for step_parts in parts for part in step_parts])
    losses, totals = (t.numpy() for t in run_epoch(ctx.train_x[order], ctx.train_y[order], ctx.train_w[order], xa, ya))
    bad = np.flatnonzero(~np.isfinite(totals))
    if bad.size:
        run.bar.close()
        kept = (f"; the last good checkpoint (epoch {epoch - 1}) is kept in {run.checkpoints.directory}"
                if run.checkpoints.on and epoch > 1 else "")
        raise NonFiniteLossError(
            f"the training loss became {totals[bad[0]]} at epoch {epoch}, step {bad[0] + 1} ({run.label}, "
            f"learning rate {p.learning_rate * phase.lr_scale:g}): lower the learning rate or the "
            f"penalty strength, and check the inputs for NaN{kept}")
    state.steps += run.steps_per_epoch
    run.bar.update(run.steps_per_epoch)
    state.train_seconds += time.perf_counter() - t0
    row = {"epoch": epoch, "phase": phase.name, "loss": float(np.mean(losses))}
    if run.eval_every and epoch % run.eval_every == 0:
        row.update(ctx.evaluate())
    run.bar.set_postfix(loss=f"{row['loss']:.3f}")
    return row


def finetune(
    model=None,
    task=None,
    method=None,
    *,
    epochs: int = PROTOCOL.epochs,
    batch_size: int = PROTOCOL.batch_size,
    learning_rate: float = PROTOCOL.learning_rate,
    schedule: str = PROTOCOL.schedule,
    seed: int = PROTOCOL.seed,
    warmup: int = PROTOCOL.warmup,
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

    model: bundled name, SavedModel path, hub handle or a loaded layer (default: task B's ``base_model``).
    task: a (task_a, task_b) pair of ``utils.tasks.Task`` (``utils.image_data.task_pair("permute")``), or task B alone.
    method: a ``utils.methods`` object or a list of them (default: full fine-tuning).
    epochs, batch_size, learning_rate (Adam), schedule, seed, warmup (steps): the protocol (defaults: ``PROTOCOL``).
    old_head: the frozen task-A head; "auto" loads the one shipped with ``model``.
    evaluator: callable(ctx) -> dict of metrics (default: task B's bench, ``Task.bench.evaluator()``).
    eval_every: measure every this many epochs (0: only before and after training; faster).
    on_epoch: optional callable(epoch, metrics) called after each epoch (and after its checkpoint).
    checkpoint_dir: write a checkpoint after every epoch there (``utils.checkpoint``).
    resume: continue from the newest checkpoint in ``checkpoint_dir``; the result, weights included,
        is the same as an uninterrupted run with the same arguments.
    strategy: a ``tf.distribute`` strategy (``utils.runtime.mirrored_strategy()``) to train data-parallel; methods
        with ``distributable = False`` (they draw random numbers or add variables inside the step) refuse it.
    before: the pretrained model's metrics when they are already known (several runs from one model): skips
        measuring them again, which costs seconds with a transformer.
    models: a ``utils.pool.ModelPool`` to borrow the loaded model from (several runs in a row load it once); the
        result holds the model until the next run borrows it, unless ``models.keep(result)``. Ignored under a strategy.
    """
    protocol = Protocol(epochs, batch_size, learning_rate, schedule, seed, warmup)
    run = Run(model, task, method, protocol, old_head=old_head, evaluator=evaluator, eval_every=eval_every,
              progress=progress, on_epoch=on_epoch, checkpoint_dir=checkpoint_dir, resume=resume, strategy=strategy,
              before=before, models=models)
    seed_everything(seed)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()  # variables made here are mirrored
    with scope, runtime.graph_rewrites(not runtime.token_ids(run.task_b.x_train)):
        run.prepare()
        return run.finish(run.train(run.restore()))
