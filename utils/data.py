"""Task A and the task-B variants, as numpy arrays ready for ``tf.data`` or a training loop.

Task A is scikit-learn's copy of the UCI handwritten digits (1,797 images, 8x8, 10 classes,
licence CC BY 4.0), split 70/30 into training and test, stratified, with a fixed seed; 15% of the
training part (stratified, its own fixed seed) is held out again as the *validation* split. Every
choice (a hyperparameter, a "best" method, a stopping epoch, a WiSE-FT alpha) is made on validation
accuracy; test accuracy is only reported. The bundled models are pretrained on the training part
only, so validation images are unseen by them too. Every task-B variant is built from the *same*
split, so a test or validation image of task A never appears in a training set of task B.

Images are float32 ``[N, 8, 8, 1]`` in ``[0, 1]``; labels are int32 ``[N]``.

Task pairs (``task_pair(name)``):
    permute  A: digits 0-9.  B: the same images with a fixed pixel permutation, a new 10-class head.
    rot90    A: digits 0-9.  B: the images rotated by 90 degrees, a new 10-class head.
    split    A: digits 0-4.  B: digits 5-9, relabelled 0-4, a new 5-class head.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

SPLIT_SEED = 0  # seed of the 70/30 split: fixed, so every model and notebook sees the same split
VAL_SEED = 2  # seed of the validation split carved from the training part
VAL_FRACTION = 0.15  # share of each class of the training part held out for validation
PERMUTATION_SEED = 1  # seed of the fixed pixel permutation of task B "permute"
TEST_FRACTION = 0.3
TASK_PAIRS = ("permute", "rot90", "split")


@dataclass(frozen=True)
class Task:
    """A classification task: train and test arrays plus what they are.

    x_train, x_val, x_test: float32 [N, 8, 8, 1] in [0, 1]; y_*: int32 [N] in [0, num_classes).
    x_val / y_val: the validation split, for choices (None when a task has none); test is only reported.
    kind: "classification" (a new head of num_classes) or "lm" (a language model's own output layer: x int32 ids
    [N, T], y int32 next-token targets [N, T] with -1 where nothing is scored, num_classes = the vocabulary).
    pad: for token ids padded at the end of each row, the padding id: the runner trims each batch to its longest
    row (``used_length``), so the model must not let padding change the outputs before it (causal or masked attention).
    bucket: with ``pad``, the runner also batches rows of similar length together (``length_batches``), so that
    trimming removes more padding. For rows of mixed lengths (the intents: 7 to 25 tokens) the transformer then
    runs on about a quarter fewer positions.
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


def stratified_split(y: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED):
    """(train indices, test indices) with ``test_fraction`` of every class held out; the workbook's fixed split."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test = int(round(test_fraction * len(idx)))
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def train_val_test_split(y: np.ndarray):
    """(train, validation, test) indices of ``y``: the fixed 70/30 split, then ``VAL_FRACTION`` of the
    training part held out (stratified, ``VAL_SEED``). Sorted, disjoint, covering ``y``."""
    train, test = stratified_split(y)
    inner_train, inner_val = stratified_split(y[train], VAL_FRACTION, VAL_SEED)
    return train[inner_train], train[inner_val], test


@functools.lru_cache(maxsize=1)
def _digits_arrays() -> tuple[np.ndarray, np.ndarray, tuple]:
    """The UCI digits as (x float32 [N, 8, 8, 1] in [0, 1], y int32 [N], (train, val, test) indices), read-only:
    read and split once per process (a notebook builds the task for every run; each build took 0.1 s)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    y = bunch.target.astype(np.int32)
    split = train_val_test_split(y)
    for a in (x, y, *split):
        a.flags.writeable = False
    return x, y, split


def digits(classes=range(10)) -> Task:
    """Task A: the UCI digits restricted to ``classes`` (relabelled 0..len(classes)-1)."""
    x, y, (train, val, test) = _digits_arrays()
    classes = list(classes)
    relabel = {c: i for i, c in enumerate(classes)}

    def pick(idx):
        idx = idx[np.isin(y[idx], classes)]
        return x[idx], np.array([relabel[v] for v in y[idx]], dtype=np.int32)

    (xtr, ytr), (xva, yva), (xte, yte) = pick(train), pick(val), pick(test)
    name = "digits" if classes == list(range(10)) else f"digits{classes[0]}-{classes[-1]}"
    return Task(name, xtr, ytr, xte, yte, len(classes), f"UCI handwritten digits, classes {classes}", xva, yva)


def pixel_permutation(seed: int = PERMUTATION_SEED, size: int = 64) -> np.ndarray:
    """The fixed pixel permutation of task B "permute": int [size], a permutation of range(size)."""
    return np.random.default_rng(seed).permutation(size)


def permute_pixels(x: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Apply a pixel permutation to images [N, H, W, C] (same permutation for every image)."""
    n, h, w, c = x.shape
    return x.reshape(n, h * w, c)[:, permutation, :].reshape(n, h, w, c)


def translate(x: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Images [N, H, W, C] moved right by ``dx`` and down by ``dy`` pixels (negative: left/up); zeros fill in."""
    out = np.zeros_like(x)
    h, w = x.shape[1:3]
    src_y, dst_y = slice(max(0, -dy), h - max(0, dy)), slice(max(0, dy), h - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), w - max(0, dx)), slice(max(0, dx), w - max(0, -dx))
    out[:, dst_y, dst_x] = x[:, src_y, src_x]
    return out


def add_noise(x: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Images plus Gaussian noise of standard deviation ``sigma``, clipped to [0, 1] (fixed seed)."""
    rng = np.random.default_rng(seed)
    return np.clip(x + rng.normal(0.0, sigma, x.shape).astype(np.float32), 0.0, 1.0)


SHIFTS = ("noise", "translate", "rot90", "permute")


def shifted(task: Task, kind: str, level: float = 1) -> Task:
    """``task`` under a domain shift: "noise" (sigma = level), "translate" (level pixels right and down),
    "rot90" or "permute" (level ignored). Labels and splits are unchanged."""
    if kind == "noise":
        fn = lambda x: add_noise(x, float(level))  # noqa: E731
        name = f"noise σ={level:g}"
    elif kind == "translate":
        fn = lambda x: translate(x, int(level), int(level))  # noqa: E731
        name = f"translate {int(level)}px"
    elif kind == "rot90":
        fn, name = (lambda x: np.rot90(x, k=1, axes=(1, 2)).copy()), "rot90"
    elif kind == "permute":
        perm = pixel_permutation()
        fn, name = (lambda x: permute_pixels(x, perm)), "permute"
    else:
        raise ValueError(f"unknown shift {kind!r}: choose one of {', '.join(SHIFTS)}")
    return task.map_inputs(fn, name, f"{task.description}, {name}")


def task_pair(name: str) -> tuple[Task, Task]:
    """(task A, task B) for one of ``TASK_PAIRS``; see the module docstring."""
    if name in ("permute", "rot90"):
        a = digits()
        return a, shifted(a, name)
    if name == "split":
        a, b = digits(range(5)), digits(range(5, 10))
        return a, replace(b, name="split", description="digits 5-9, relabelled 0-4")
    raise ValueError(f"unknown task {name!r}: choose one of {', '.join(TASK_PAIRS)}")


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
        lm = task.kind == "lm"
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


def translate_and_noise(x, shift: int, noise: float, rng):
    """Random integer translation of each image by up to ``shift`` pixels, then N(0, noise^2) noise, clipped to [0, 1]."""
    import tensorflow as tf

    n = tf.shape(x)[0]
    if shift:
        d = tf.cast(rng.uniform([n, 2], -shift, shift + 1, dtype=tf.int32), tf.float32)
        ones, zeros = tf.ones([n, 1]), tf.zeros([n, 1])
        # projective transform maps output (x, y) to input (x + dx, y + dy): a shift by (-dx, -dy)
        transforms = tf.concat([ones, zeros, d[:, :1], zeros, ones, d[:, 1:], zeros, zeros], axis=1)
        x = tf.raw_ops.ImageProjectiveTransformV3(
            images=x, transforms=transforms, output_shape=tf.shape(x)[1:3],
            fill_value=0.0, interpolation="NEAREST", fill_mode="CONSTANT",
        )
    if noise:
        x = tf.clip_by_value(x + noise * rng.normal(tf.shape(x)), 0.0, 1.0)
    return x
