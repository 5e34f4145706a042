"""What the runner trains on, whatever the track: a ``Task`` (arrays and what they are), the checks that refuse a
task before any training, and the batching helpers for padded token ids. No track lives here: the digits are
``utils.image_data``, the text track ``utils.text_data``, the language model's skills ``utils.lm_data``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True)
class Task:
    """A task to fine-tune on: train, validation and test arrays, plus what they are.

    x_train, x_val, x_test: the inputs (images float32 [N, H, W, C], or token ids int32 [N, T]);
    y_*: int32 class labels [N] in [0, num_classes) (or next-token targets, for kind "lm").
    x_val / y_val: the validation split, for choices (None when a task has none); test is only reported.
    kind: "classification" (a new head of num_classes) or "lm" (a language model's own output layer: x int32 ids
    [N, T], y int32 next-token targets [N, T] with -1 where nothing is scored, num_classes = the vocabulary), or
    "preference": a language model's rows in pairs, (chosen, rejected) at rows 2i and 2i + 1 of the training split
    (the validation and test splits are "lm" rows, what the bench scores); it trains only with a method that brings a
    pairwise loss (``utils.methods.DPO``), and the runner keeps each pair in one batch.
    pad: for token ids padded at the end of each row, the padding id: the runner trims each batch to its longest
    row (``used_length``), so the model must not let padding change the outputs before it (causal or masked attention).
    bucket: with ``pad``, the runner also batches rows of similar length together (``length_batches``), so that
    trimming removes more padding. For rows of mixed lengths (the intents: 7 to 25 tokens) the transformer then
    runs on about a quarter fewer positions.
    base_model: the bundled model pretrained on the capability this task builds on (``finetune``'s default model).
    bench: what measures a run on this task (``ImageBench``, ``TextBench``, ``CapabilitySuite``): an object whose
    ``evaluator()`` returns ``evaluate(ctx) -> metrics``; the runner uses it unless it is given ``evaluator=``.
    weights: float32 [N] per training example, what its loss is multiplied by (None: every one weighs 1). Negative
    weights push an example's likelihood down: a policy gradient's advantages (``utils.on_policy``).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    description: str = ""
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    kind: str = "classification"
    pad: int | None = None
    bucket: bool = False
    base_model: str | None = None
    bench: object = field(default=None, repr=False, compare=False)
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def has_validation(self) -> bool:
        return self.y_val is not None and len(self.y_val) > 0

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, without the batch dimension."""
        return tuple(self.x_train.shape[1:])

    def subset(self, fraction: float, seed: int = 0) -> Task:
        """The same task with only ``fraction`` of the training examples (stratified, fixed seed)."""
        if not 0 < fraction <= 1:
            raise ValueError(f"fraction must be in (0, 1], got {fraction}")
        if fraction == 1:
            return self
        keep = stratified_sample(self.y_train, fraction, seed)
        return replace(self, name=f"{self.name}[{fraction:g}]", x_train=self.x_train[keep], y_train=self.y_train[keep])

    def map_inputs(self, fn, name: str, description: str) -> Task:
        """The same task with ``fn`` applied to the inputs of every split (labels and splits unchanged)."""
        return replace(self, name=name, description=description, x_train=fn(self.x_train), x_test=fn(self.x_test),
                       x_val=None if self.x_val is None else fn(self.x_val))


def stratified_sample(y: np.ndarray, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``fraction`` of every class of ``y`` (at least one each), drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    keep = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        keep.append(rng.choice(idx, size=max(1, int(round(fraction * len(idx)))), replace=False))
    return np.sort(np.concatenate(keep))


def stratified_split(y: np.ndarray, test_fraction: float, seed: int):
    """(train indices, test indices) with ``test_fraction`` of every class held out."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


class InvalidDataError(ValueError):
    """A task's arrays cannot be trained on; the message names the array, the first bad row and the fix."""


def _first_row(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask.reshape(len(mask), -1).any(axis=1))[0])


def used_length(pad: int, *ids):
    """The number of leading columns of the id arrays ``ids`` (each [N, T]; numpy or tensors) that hold something
    other than ``pad`` in some row: the columns after it are padding only, and can be dropped from the batch."""
    import tensorflow as tf

    rows = tf.concat([tf.convert_to_tensor(a, tf.int32) for a in ids], axis=0)
    used = tf.cast(tf.reduce_any(tf.not_equal(rows, pad), axis=0), tf.int32)
    return tf.shape(used)[0] - tf.argmax(tf.reverse(used, [0]), output_type=tf.int32)


BUCKET_GROUP = 8  # batches per length-sorted group (Hugging Face's group_by_length sorts groups of 50)


def row_lengths(x: np.ndarray, pad: int) -> np.ndarray:
    """Each row's length: the index after its last id that is not ``pad`` (0 for a row of padding only)."""
    used = np.asarray(x).reshape(len(x), -1) != pad
    return np.where(used.any(axis=1), used.shape[1] - np.argmax(used[:, ::-1], axis=1), 0)


def length_batches(order: np.ndarray, lengths: np.ndarray, batch_size: int, rng, group: int = BUCKET_GROUP) -> np.ndarray:
    """``order`` (a shuffled epoch) rearranged so that each batch holds rows of similar length.

    The order is cut into groups of ``group`` batches; each group is sorted by length and cut into batches; the
    whole batches are then shuffled (``rng``), so short and long batches alternate through the epoch. A last,
    partial batch stays last: the runner's batches are consecutive slices of ``batch_size`` rows. Each row
    still appears once per epoch, in a random batch among rows of its length range.
    """
    order = np.asarray(order)
    span = batch_size * group
    chunks = [order[i : i + span] for i in range(0, len(order), span)]
    ranked = np.concatenate([c[np.argsort(lengths[c], kind="stable")] for c in chunks]) if chunks else order
    whole = len(ranked) // batch_size
    batches = ranked[: whole * batch_size].reshape(whole, batch_size)[rng.permutation(whole)]
    return np.concatenate([batches.reshape(-1), ranked[whole * batch_size :]])


def validate(task: Task, role: str = "task") -> None:
    """Raise InvalidDataError, before any training, when ``task`` cannot be trained on.

    Checks every split (train, validation when present, test): non-empty; as many labels as inputs;
    numeric inputs (float, or integer token ids) without NaN or inf; integer labels in [0, num_classes);
    the same example shape in every split.
    """
    where = f"{role} {task.name!r}"
    if task.bucket and task.pad is None:
        raise InvalidDataError(f"{where}: bucket=True batches rows by length, which needs the padding id: set pad too")
    if not isinstance(task.num_classes, (int, np.integer)) or task.num_classes < 2:
        raise InvalidDataError(f"{where}: num_classes must be an integer >= 2, got {task.num_classes!r}")
    splits = [("train", task.x_train, task.y_train), ("test", task.x_test, task.y_test)]
    if task.x_val is not None or task.y_val is not None:
        splits.insert(1, ("val", task.x_val, task.y_val))
    shape = None
    for split, x, y in splits:
        if x is None or y is None:
            raise InvalidDataError(f"{where}: x_{split} and y_{split} must both be given (or both left out)")
        x, y = np.asarray(x), np.asarray(y)
        if len(x) == 0:
            raise InvalidDataError(f"{where}: x_{split} is empty: every split needs at least one example")
        if len(x) != len(y):
            raise InvalidDataError(f"{where}: x_{split} has {len(x)} examples but y_{split} has {len(y)} labels")
        if x.dtype.kind not in "fiu":
            raise InvalidDataError(f"{where}: x_{split} has dtype {x.dtype}: inputs must be float "
                                   "(images, float32) or integer token ids; convert with .astype(np.float32)")
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            row = _first_row(~np.isfinite(x))
            raise InvalidDataError(f"{where}: x_{split} row {row} holds NaN or inf: clean or drop that row "
                                   f"(np.isfinite(x).all(axis=...) finds them)")
        lm = task.kind in ("lm", "preference")
        if y.dtype.kind not in "iu" or (y.shape != x.shape if lm else y.ndim != 1):
            want = "int32 next-token targets shaped like x (-1: not scored)" if lm else "a 1-D array of integer class ids"
            raise InvalidDataError(f"{where}: y_{split} must be {want}, got dtype {y.dtype} and shape {y.shape}"
                                   + ("" if lm else " (one-hot labels: use y.argmax(axis=1))"))
        bad = (y < (-1 if lm else 0)) | (y >= task.num_classes)
        if bad.any():
            row = _first_row(bad)
            value = int(np.asarray(y[row]).reshape(-1)[np.asarray(bad[row]).reshape(-1)][0])
            raise InvalidDataError(f"{where}: y_{split} row {row} is {value}, outside "
                                   f"[{-1 if lm else 0}, {task.num_classes}): labels must be "
                                   f"{'-1 or a token id' if lm else '0..num_classes-1'}")
        if shape is not None and x.shape[1:] != shape:
            raise InvalidDataError(f"{where}: x_{split} examples have shape {x.shape[1:]} but x_train's have {shape}: "
                                   "every split must be preprocessed the same way")
        shape = x.shape[1:]
    _validate_rows(task, where)


def _validate_rows(task: Task, where: str) -> None:
    """The checks on the training rows as a whole: their weights, and the pairs of a preference task."""
    n = len(task.x_train)
    if task.weights is not None:
        w = np.asarray(task.weights)
        if w.shape != (n,) or w.dtype.kind != "f" or not np.isfinite(w).all():
            raise InvalidDataError(f"{where}: weights must be finite floats, one per training example ({n}), got "
                                   f"dtype {w.dtype} and shape {w.shape}")
    if task.kind == "preference" and (n % 2 or task.bucket):
        raise InvalidDataError(f"{where}: a preference task holds (chosen, rejected) pairs in consecutive rows, not "
                               f"bucketed: {n} rows{' (odd)' if n % 2 else ''}, bucket={task.bucket}")


def pair(task) -> tuple[Task | None, Task]:
    """``task`` as (task A or None, task B), each checked by ``validate``: a (task A, task B) pair, or task B alone."""
    if isinstance(task, Task):
        task = (None, task)
    if not (isinstance(task, (tuple, list)) and len(task) == 2 and isinstance(task[1], Task)
            and (task[0] is None or isinstance(task[0], Task))):
        raise TypeError(f"task must be a utils.tasks.Task or a (task_a, task_b) pair, got {task!r}; the digits pairs "
                        f"are utils.image_data.task_pair('permute' | 'rot90' | 'split')")
    validate(task[1], "task B")
    if task[0] is not None:
        validate(task[0], "task A")
    return task[0], task[1]
