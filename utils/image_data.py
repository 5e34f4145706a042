"""The image track: the UCI digits as task A and the task-B variants, and ``ImageBench``, what a run on them measures.

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
from dataclasses import replace

import numpy as np

from . import metrics
from .tasks import Task, stratified_split

SPLIT_SEED = 0  # seed of the 70/30 split: fixed, so every model and notebook sees the same split
VAL_SEED = 2  # seed of the validation split carved from the training part
VAL_FRACTION = 0.15  # share of each class of the training part held out for validation
PERMUTATION_SEED = 1  # seed of the fixed pixel permutation of task B "permute"
TEST_FRACTION = 0.3
TASK_PAIRS = ("permute", "rot90", "split")
EVAL_BATCH = 512
BASE_MODELS = {tuple(range(10)): "digits-convnet", tuple(range(5)): "digits-convnet-0to4"}  # classes -> pretrained on them


def train_val_test_split(y: np.ndarray):
    """(train, validation, test) indices of ``y``: the fixed 70/30 split, then ``VAL_FRACTION`` of the
    training part held out (stratified, ``VAL_SEED``). Sorted, disjoint, covering ``y``."""
    train, test = stratified_split(y, TEST_FRACTION, SPLIT_SEED)
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
    return Task(name, xtr, ytr, xte, yte, len(classes), f"UCI handwritten digits, classes {classes}", xva, yva,
                base_model=BASE_MODELS.get(tuple(classes)), bench=IMAGES)


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
        return a, replace(b, name="split", description="digits 5-9, relabelled 0-4", base_model=a.base_model)
    raise ValueError(f"unknown task {name!r}: choose one of {', '.join(TASK_PAIRS)}")


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


class ImageBench:
    """What a run on a digits task measures (the runner's default ``Task.bench`` for them), every epoch:

        A_head      task-A test accuracy of the *original* head on the updated backbone (the headline: what a user
                    of the old capability sees)
        A_probe     task-A test accuracy of a linear probe re-fitted on the updated features ("is the information
                    still there?"; ``probe=False`` leaves it out)
        B           task-B test accuracy of the new head
        A_head_val, B_val  the same two on the validation splits: every choice is made on these
        B_train     task-B accuracy on the examples trained on
        A_drift     how far the task-A test features turned: mean 1 - cos(f(x), f0(x)) (0 before training)
        A_scale     how much they grew or shrank: mean ||f(x)|| / ||f0(x)|| (1 before training)

    A fixed linear head reads directions more than lengths, so A_drift tracks what the old head loses.
    """

    def __init__(self, probe: bool = True):
        self.probe = probe

    def evaluator(self):
        """evaluate(ctx) -> the metrics above; the pretrained features f0 are measured once per evaluator."""
        cache: dict = {}

        def pretrained_features(ctx, x):
            """f0(x): the backbone's features with its pretrained weights (``ctx.initial``), measured once."""
            key = (str(ctx.model), len(x))
            if key not in cache:
                now = [v.numpy() for v in ctx.backbone_variables]
                ctx.set_backbone([w.numpy() for w in ctx.initial])
                cache[key] = _batched(ctx.features, x)
                ctx.set_backbone(now)
            return cache[key]

        return lambda ctx: self.measure(ctx, pretrained_features)

    def measure(self, ctx, pretrained_features) -> dict:
        feats, a, b = ctx.features, ctx.task_a, ctx.task_b
        out = {"B": metrics.accuracy(ctx.head(_batched(feats, b.x_test)).numpy(), b.y_test)}
        if b.has_validation:
            out["B_val"] = metrics.accuracy(ctx.head(_batched(feats, b.x_val)).numpy(), b.y_val)
        out["B_train"] = metrics.accuracy(ctx.head(_batched(feats, ctx.train_x)).numpy(), ctx.train_y)
        if a is None:
            return out
        a_test = _batched(feats, a.x_test)
        if ctx.old_head is not None:
            out["A_head"] = metrics.accuracy(ctx.old_head(a_test).numpy(), a.y_test)
            if a.has_validation:
                out["A_head_val"] = metrics.accuracy(ctx.old_head(_batched(feats, a.x_val)).numpy(), a.y_val)
        f0 = pretrained_features(ctx, a.x_test)
        norms = np.linalg.norm(a_test, axis=1) * np.linalg.norm(f0, axis=1) + 1e-12
        out["A_drift"] = float(np.mean(1 - np.sum(a_test * f0, axis=1) / norms))
        out["A_scale"] = float(np.mean(np.linalg.norm(a_test, axis=1) / (np.linalg.norm(f0, axis=1) + 1e-12)))
        if self.probe:
            a_train = _batched(feats, a.x_train)
            out["A_probe"] = metrics.linear_probe_accuracy(a_train, a.y_train, a_test, a.y_test)
        return out


def _batched(fn, x, batch=EVAL_BATCH):
    return np.concatenate([fn(x[i : i + batch]).numpy() for i in range(0, len(x), batch)])


IMAGES = ImageBench()  # the digits tasks' bench: stateless (each evaluator() keeps its own cache)
