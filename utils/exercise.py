"""Notebook 03 as an exercise: the self-checks (an autograder for each piece) and the learner copy.

The notebook in git is the worked solution. Solution code sits between ``### BEGIN SOLUTION`` and
``### END SOLUTION``; ``python -m utils.exercise`` (``make exercises``) writes a learner copy of every
notebook that has such markers to ``build/exercises/``, with each solution replaced by a stub that
raises ``NotImplementedError``. The checks compare the learner's function with the reference on small
cases and fail with ``ExerciseCheckFailed``, whose message says what is wrong.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import numpy as np

from . import image_data, metrics, paths

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


class ExerciseCheckFailed(AssertionError):
    """A learner's function does not do what the exercise asks; the message says what differs."""


def _call(fn, *args):
    try:
        return fn(*args)
    except NotImplementedError:
        raise ExerciseCheckFailed(
            f"{fn.__name__}() is not written yet: replace the `raise NotImplementedError` in its cell, run it, "
            f"then run this check again"
        ) from None


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ExerciseCheckFailed(message)


# --- piece 1: preprocessing ----------------------------------------------------------------------------

def reference_preprocess(images, permutation=None):
    """Raw digit images (counts 0..16, [N, 8, 8]) -> float32 [N, 8, 8, 1] in [0, 1], pixels permuted if asked."""
    x = (np.asarray(images, dtype=np.float32) / 16.0)[..., None]
    return image_data.permute_pixels(x, permutation) if permutation is not None else x


def check_preprocess(fn) -> str:
    """``fn(images, permutation=None)`` must match ``reference_preprocess``."""
    from sklearn.datasets import load_digits

    images = load_digits().images[:40]
    perm = image_data.pixel_permutation()
    for args, what in (((images,), "the images"), ((images, perm), "the permuted images")):
        got = _call(fn, *args)
        want = reference_preprocess(*args)
        _require(isinstance(got, np.ndarray), f"return a numpy array, got {type(got).__name__}")
        _require(got.shape == want.shape, f"for {what}: shape {got.shape}, expected {want.shape} ([N, 8, 8, 1]: add a channel axis)")
        _require(got.dtype == np.float32, f"for {what}: dtype {got.dtype}, expected float32 (what the model's input signature says)")
        _require(float(got.max()) <= 1.0 and float(got.min()) >= 0.0,
                 f"for {what}: values in [{got.min():g}, {got.max():g}], expected [0, 1]: the raw counts go up to 16")
        _require(np.allclose(got, want, atol=1e-6), f"for {what}: values differ from the reference "
                 f"(max difference {np.abs(got - want).max():.3g}); permute the 64 pixels of each image with the same permutation")
    return "preprocess: OK (shape, dtype, range and values match the reference on 40 images, with and without the permutation)"


# --- piece 2: the regularisation term ----------------------------------------------------------------------

def reference_l2sp(variables, anchors, strength):
    """L2-SP: ``strength / 2 * sum((theta - theta0)^2)`` (as ``utils.methods.L2SP``)."""
    from .methods.base import squared_distance

    return 0.5 * strength * squared_distance(variables, anchors)


def check_l2sp(fn) -> str:
    """``fn(variables, anchors, strength)`` must be the L2-SP penalty, value and gradient."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    anchors = [tf.constant(rng.normal(size=s).astype(np.float32)) for s in ((3, 4), (4,))]
    variables = [tf.Variable(a + rng.normal(scale=0.1, size=a.shape).astype(np.float32)) for a in anchors]
    at_anchor = float(_call(fn, [tf.Variable(a) for a in anchors], anchors, 1.0))
    _require(abs(at_anchor) < 1e-6, f"the penalty at the pretrained weights is {at_anchor:.4g}, expected 0: L2-SP pulls "
             f"toward the pretrained weights (the anchors), not toward zero (that would be weight decay)")
    with tf.GradientTape() as tape:
        got = _call(fn, variables, anchors, 0.3)
    _require(tf.convert_to_tensor(got).shape.rank == 0, f"return a scalar, got shape {tf.convert_to_tensor(got).shape}")
    want = float(reference_l2sp(variables, anchors, 0.3))
    ratio = float(got) / want
    _require(abs(ratio - 1) < 1e-4, f"penalty {float(got):.5g}, expected {want:.5g} (ratio {ratio:.3g}): "
             + ("missing the 1/2 or counting twice?" if abs(ratio - 2) < 1e-3 or abs(ratio - 0.5) < 1e-3 else
                "use strength / 2 * the sum over all variables of the squared differences"))
    grads = tape.gradient(got, variables)
    _require(all(g is not None for g in grads), "no gradient reaches the variables: compute with TensorFlow ops, not numpy")
    for g, v, a in zip(grads, variables, anchors):
        _require(np.allclose(g.numpy(), 0.3 * (v.numpy() - a.numpy()), atol=1e-5),
                 "the gradient is not strength * (theta - theta0): square the differences (not abs) and sum them")
    return "l2sp_penalty: OK (zero at the anchors, value and gradient match the reference)"


# --- piece 3: the training and validation loop -------------------------------------------------------------

TRAIN_TOLERANCE = 0.02  # accuracy points between the learner's loop and utils.train.finetune, same seed


def check_training(fn, model: str = "digits-convnet") -> str:
    """``fn(backbone, old_head, task_a, task_b, penalty, epochs, ...)`` must match the runner on a small case."""
    from . import methods as M
    from . import models
    from .train import finetune

    task_a, task_b = image_data.task_pair("permute")
    small_b = task_b.subset(0.25)
    strength = 0.1

    def penalty(variables, anchors):
        return reference_l2sp(variables, anchors, strength)

    history, head = _call(fn, models.load(model, trainable=True), models.load_head(model), task_a, small_b, penalty, 2)
    _require(isinstance(history, list) and len(history) == 3,
             f"return the history as a list of 3 rows (epoch 0 = before training, then one per epoch), got {type(history).__name__} "
             f"of length {len(history) if hasattr(history, '__len__') else '?'}")
    for row in history:
        missing = {"epoch", "loss", "A_head_val", "B_val"} - set(row)
        _require(not missing, f"every history row needs epoch, loss, A_head_val and B_val (validation accuracies); "
                              f"row {row.get('epoch')} lacks {sorted(missing)}")
    ref = finetune(model, (task_a, small_b), M.L2SP(strength), epochs=2, seed=0, schedule="constant", progress=False).history
    _require(abs(history[0]["A_head_val"] - ref[0]["A_head_val"]) < 1e-6,
             f"before training A_head_val should be the pretrained model's validation accuracy ({ref[0]['A_head_val']:.3f}), "
             f"got {history[0]['A_head_val']:.3f}: measure the old head on task A's validation split (x_val, y_val)")
    for key in ("A_head_val", "B_val"):
        got, want = history[-1][key], ref[-1][key]
        _require(abs(got - want) <= TRAIN_TOLERANCE,
                 f"after 2 epochs {key} = {got:.3f}, the reference runner gets {want:.3f} (tolerance {TRAIN_TOLERANCE}): "
                 f"check the loss (mean cross-entropy + penalty), the optimizer (Adam, this learning rate), the seeded "
                 f"head initialiser, the batch order (a new permutation of the examples every epoch) and that you "
                 f"validate on x_val / y_val")
    return (f"train_and_validate: OK (validation A_head {history[-1]['A_head_val']:.3f}, B {history[-1]['B_val']:.3f}; "
            f"the runner: {ref[-1]['A_head_val']:.3f}, {ref[-1]['B_val']:.3f})")


# --- piece 4: your own Method, run by the real runner ----------------------------------------------------------

METHOD_TOLERANCE = 1e-4  # largest weight difference from the library's L2SP after the same run (float order only)


def check_method(cls, model: str = "digits-convnet", strength: float = 0.1) -> str:
    """``cls`` must be a registered ``utils.methods.Method`` taking ``strength`` whose hooks make the runner train
    exactly as the library's ``L2SP(strength)``: same seed, same data, the same weights after two epochs."""
    from . import methods as M
    from .train import finetune

    _require(isinstance(cls, type) and issubclass(cls, M.Method),
             f"write a class that subclasses utils.methods.Method, got {cls!r}")
    _require("key" in vars(cls) and M.REGISTRY.get(cls.key) is cls,
             f"give {getattr(cls, '__name__', cls)} its own key (key = \"my-l2-sp\"): a Method subclass with a key "
             f"registers itself, and the runner and the script find it by that key")
    _require(cls.key != "l2-sp", "the key l2-sp is the library's: choose another (e.g. my-l2-sp)")
    task_a, task_b = image_data.task_pair("permute")
    pair = (task_a, task_b.subset(0.25))

    def weights(method):
        try:
            r = finetune(model, pair, method, epochs=2, seed=0, schedule="constant", progress=False)
        except NotImplementedError:
            raise ExerciseCheckFailed(f"{cls.__name__}.penalty is not written yet: replace the `raise "
                                      f"NotImplementedError` in its cell, run it, then run this check again") from None
        return [v.numpy() for v in r.context.backbone_variables], r.final

    mine, mine_final = weights(_call(cls, strength))
    ref, ref_final = weights(M.L2SP(strength))
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(mine, ref))
    _require(diff <= METHOD_TOLERANCE,
             f"after the same two epochs your method's backbone differs from L2SP({strength})'s by up to {diff:.2g} "
             f"(tolerance {METHOD_TOLERANCE:g}): the penalty hook should return strength / 2 * the sum of squared "
             f"distances from the pretrained weights, ctx.initial (not from zero), over ctx.backbone_variables")
    return (f"{cls.__name__}: OK (registered as {cls.key!r}; same weights as L2SP({strength}) within {diff:.1g}; "
            f"task B {mine_final['B']:.3f}, task A {mine_final['A_head']:.3f})")


def accuracy(logits, labels) -> float:
    """Share of argmax(logits) equal to labels (re-exported for the exercise)."""
    return metrics.accuracy(np.asarray(logits), labels)


# --- the learner copy ----------------------------------------------------------------------------------------

def strip_solutions(source: str, where: str = "") -> str:
    """Replace every BEGIN/END SOLUTION block of a cell's source with a ``NotImplementedError`` stub."""
    lines, out, inside = source.split("\n"), [], False
    function = where
    for line in lines:
        m = re.match(r"\s*def (\w+)\(", line)
        if m and not inside:
            function = m.group(1)
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{where}: {BEGIN} inside another solution block")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}# YOUR CODE HERE")
            out.append(f'{indent}raise NotImplementedError("write {function}() here, then run the check below")')
        elif stripped == END:
            if not inside:
                raise ValueError(f"{where}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{where}: {BEGIN} without {END}")
    return "\n".join(out)


def learner_copy(notebook: Path, out_dir: Path) -> Path | None:
    """Write the learner copy of ``notebook`` (solutions stubbed, outputs cleared); None if it has no solutions."""
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    if not any(BEGIN in c.source for c in nb.cells if c.cell_type == "code"):
        return None
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = strip_solutions(cell.source, f"{notebook.name} cell {cell.get('id')}")
            cell.outputs, cell.execution_count = [], None
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / notebook.name
    nbformat.write(nb, target)
    return target


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.exercise", description="Write the learner copies of the notebooks.")
    parser.add_argument("--out", type=Path, default=paths.BUILD_DIR / "exercises")
    args = parser.parse_args(argv)
    written = [p for p in (learner_copy(nb, args.out) for nb in sorted(paths.NOTEBOOKS_DIR.glob("*.ipynb"))) if p]
    for p in written:
        print(f"wrote {p}")
    if not written:
        print("no notebook has solution markers", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
