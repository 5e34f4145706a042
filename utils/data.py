"""Task A and the task-B variants, as numpy arrays ready for ``tf.data`` or a training loop.

Task A is scikit-learn's copy of the UCI handwritten digits (1,797 images, 8x8, 10 classes,
licence CC BY 4.0), split 70/30, stratified, with a fixed seed. Every task-B variant is built
from the *same* split, so a test image of task A never appears in a training set of task B.

Images are float32 ``[N, 8, 8, 1]`` in ``[0, 1]``; labels are int32 ``[N]``.

Task pairs (``task_pair(name)``):
    permute  A: digits 0-9.  B: the same images with a fixed pixel permutation, a new 10-class head.
    rot90    A: digits 0-9.  B: the images rotated by 90 degrees, a new 10-class head.
    split    A: digits 0-4.  B: digits 5-9, relabelled 0-4, a new 5-class head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SPLIT_SEED = 0  # seed of the 70/30 split: fixed, so every model and notebook sees the same split
PERMUTATION_SEED = 1  # seed of the fixed pixel permutation of task B "permute"
TEST_FRACTION = 0.3
TASK_PAIRS = ("permute", "rot90", "split")


@dataclass(frozen=True)
class Task:
    """A classification task: train and test arrays plus what they are.

    x_train, x_test: float32 [N, 8, 8, 1] in [0, 1]; y_train, y_test: int32 [N] in [0, num_classes).
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    description: str = ""

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
        rng = np.random.default_rng(seed)
        keep = []
        for c in range(self.num_classes):
            idx = np.flatnonzero(self.y_train == c)
            n = max(1, int(round(fraction * len(idx))))
            keep.append(rng.choice(idx, size=n, replace=False))
        keep = np.sort(np.concatenate(keep))
        return Task(
            f"{self.name}[{fraction:g}]",
            self.x_train[keep],
            self.y_train[keep],
            self.x_test,
            self.y_test,
            self.num_classes,
            self.description,
        )


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


def digits(classes=range(10)) -> Task:
    """Task A: the UCI digits restricted to ``classes`` (relabelled 0..len(classes)-1)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    y = bunch.target.astype(np.int32)
    train, test = stratified_split(y)
    classes = list(classes)
    relabel = {c: i for i, c in enumerate(classes)}

    def pick(idx):
        idx = idx[np.isin(y[idx], classes)]
        return x[idx], np.array([relabel[v] for v in y[idx]], dtype=np.int32)

    (xtr, ytr), (xte, yte) = pick(train), pick(test)
    name = "digits" if classes == list(range(10)) else f"digits{classes[0]}-{classes[-1]}"
    return Task(name, xtr, ytr, xte, yte, len(classes), f"UCI handwritten digits, classes {classes}")


def pixel_permutation(seed: int = PERMUTATION_SEED, size: int = 64) -> np.ndarray:
    """The fixed pixel permutation of task B "permute": int [size], a permutation of range(size)."""
    return np.random.default_rng(seed).permutation(size)


def permute_pixels(x: np.ndarray, permutation: np.ndarray) -> np.ndarray:
    """Apply a pixel permutation to images [N, H, W, C] (same permutation for every image)."""
    n, h, w, c = x.shape
    return x.reshape(n, h * w, c)[:, permutation, :].reshape(n, h, w, c)


def _transformed(task: Task, name: str, fn, description: str) -> Task:
    return Task(name, fn(task.x_train), task.y_train, fn(task.x_test), task.y_test, task.num_classes, description)


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
    return _transformed(task, name, fn, f"{task.description}, {name}")


def task_pair(name: str) -> tuple[Task, Task]:
    """(task A, task B) for one of ``TASK_PAIRS``; see the module docstring."""
    if name in ("permute", "rot90"):
        a = digits()
        return a, shifted(a, name)
    if name == "split":
        a, b = digits(range(5)), digits(range(5, 10))
        return a, Task("split", b.x_train, b.y_train, b.x_test, b.y_test, b.num_classes, "digits 5-9, relabelled 0-4")
    raise ValueError(f"unknown task {name!r}: choose one of {', '.join(TASK_PAIRS)}")
