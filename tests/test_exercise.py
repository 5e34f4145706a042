"""The exercise checks fail on wrong answers, and the learner copy fails its first check with the stubs."""

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from utils import exercise
from utils.exercise import BEGIN, END, ExerciseCheckFailed
from utils.paths import NOTEBOOKS_DIR

NOTEBOOK = NOTEBOOKS_DIR / "03_coding_exercise.ipynb"


def solution(name):
    """The worked solution of function ``name``, executed from the notebook's own cell."""
    import tensorflow as tf
    import tf_keras as keras

    from utils.common import seed_everything
    from utils.exercise import accuracy

    nb = nbformat.read(NOTEBOOK, as_version=4)
    source = next(c.source for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source)
    namespace = {"np": np, "tf": tf, "keras": keras, "accuracy": accuracy, "seed_everything": seed_everything}
    exec(source, namespace)
    return namespace[name], source


def test_strip_solutions_leaves_a_stub_that_names_the_function():
    src = f"def f(x):\n    '''doc'''\n    {BEGIN}\n    return x + 1\n    {END}\n\nprint(1)"
    out = exercise.strip_solutions(src)
    assert "return x + 1" not in out and "'''doc'''" in out and out.endswith("print(1)")
    assert '    raise NotImplementedError("write f() here, then run the check below")' in out
    with pytest.raises(ValueError, match="without"):
        exercise.strip_solutions(f"{BEGIN}\nx = 1")
    with pytest.raises(ValueError, match="without"):
        exercise.strip_solutions(f"x = 1\n{END}")


def test_the_worked_solutions_pass_their_checks():
    assert "OK" in exercise.check_preprocess(solution("preprocess")[0])
    assert "OK" in exercise.check_l2sp(solution("l2sp_penalty")[0])


@pytest.mark.parametrize("wrong, message", [
    (lambda vs, anchors, s: 0.5 * s * sum(float(np.sum(v.numpy() ** 2)) for v in vs), "toward zero"),
    (lambda vs, anchors, s: s * sum(__import__("tensorflow").reduce_sum((v - a) ** 2) for v, a in zip(vs, anchors)),
     "missing the 1/2"),
    (lambda vs, anchors, s: 0.5 * s * sum(__import__("tensorflow").reduce_sum(abs(v - a)) for v, a in zip(vs, anchors)),
     "expected"),
    (lambda vs, anchors, s: __import__("tensorflow").constant(0.5 * s * sum(float(np.sum((v.numpy() - a.numpy()) ** 2))
                                                                            for v, a in zip(vs, anchors))),
     "no gradient reaches the variables"),
])
def test_a_wrong_regulariser_is_caught(wrong, message):
    with pytest.raises(ExerciseCheckFailed, match=message):
        exercise.check_l2sp(wrong)


@pytest.mark.parametrize("wrong, message", [
    (lambda images, permutation=None: np.asarray(images, np.float32)[..., None], r"expected \[0, 1\]"),
    (lambda images, permutation=None: np.asarray(images, np.float32) / 16, "add a channel axis"),
    (lambda images, permutation=None: np.asarray(images, np.float64)[..., None] / 16, "expected float32"),
    (lambda images, permutation=None: np.asarray(images, np.float32)[..., None] / 16, "for the permuted images"),
])
def test_wrong_preprocessing_is_caught(wrong, message):
    with pytest.raises(ExerciseCheckFailed, match=message):
        exercise.check_preprocess(wrong)


def test_a_training_loop_that_ignores_the_penalty_is_caught():
    fn, source = solution("train_and_validate")  # it passes check_training: notebook 03's check cell runs it
    line = "total = loss + penalty(backbone.trainable_variables, anchors)"
    assert line in source
    namespace = dict(fn.__globals__)
    exec(source.replace(line, "total = loss"), namespace)
    with pytest.raises(ExerciseCheckFailed, match="A_head_val = .* the reference runner gets"):
        exercise.check_training(namespace["train_and_validate"])


def test_the_learner_copy_fails_its_first_check_with_the_stubs(tmp_path):
    copy = exercise.learner_copy(NOTEBOOK, tmp_path)
    nb = nbformat.read(copy, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert BEGIN not in text and "raise NotImplementedError" in text and "x.reshape(n, 64, 1)" not in text
    assert text.count("raise NotImplementedError") == 4
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
    with pytest.raises(CellExecutionError) as failure:
        client.execute()
    assert failure.value.ename == "ExerciseCheckFailed" and "preprocess() is not written yet" in failure.value.evalue
    failed = [c for c in nb.cells if c.cell_type == "code" and any(o.get("output_type") == "error" for o in c.outputs)]
    first_check = next(c for c in nb.cells if "check" in c.metadata.get("tags", []))
    assert failed == [first_check]


@pytest.fixture
def learner_method():
    """The notebook's MyL2SP cell, executed with the worked l2sp_penalty; the registry is restored afterwards."""
    from utils import methods as M

    penalty, _ = solution("l2sp_penalty")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    source = next(c.source for c in nb.cells if c.cell_type == "code" and "class MyL2SP" in c.source)
    before = dict(M.REGISTRY)

    def define(src=source, **names):
        namespace = {"M": M, "l2sp_penalty": penalty, **names}
        exec(src, namespace)
        return namespace["MyL2SP"]

    yield define, source
    M.REGISTRY.clear()
    M.REGISTRY.update(before)


def test_the_worked_method_passes_through_the_real_runner(learner_method):
    define, _ = learner_method
    assert "OK (registered as 'my-l2-sp'" in exercise.check_method(define())


@pytest.mark.parametrize("change, message", [
    (("ctx.initial, self.strength)", "[0 * w for w in ctx.initial], self.strength)"), "not from zero"),  # weight decay
    (("return l2sp_penalty(", "return None and l2sp_penalty("), "differs from L2SP"),  # no penalty at all
    (("self.strength)", "2 * self.strength)"), "differs from L2SP"),  # twice the strength
    (('    key = "my-l2-sp"\n', ""), "give MyL2SP its own key"),  # not registered
    (('key = "my-l2-sp"', 'key = "l2-sp"'), "taken by L2SP"),  # the library's key
    (("return l2sp_penalty(", "raise NotImplementedError  # "), "penalty is not written yet"),  # the learner's stub
])
def test_a_wrong_learner_method_is_caught(learner_method, change, message):
    define, source = learner_method
    old, new = change
    assert old in source
    with pytest.raises((ExerciseCheckFailed, ValueError), match=message):
        exercise.check_method(define(source.replace(old, new)))


def test_a_class_that_is_not_a_method_is_caught():
    with pytest.raises(ExerciseCheckFailed, match="subclasses utils.methods.Method"):
        exercise.check_method(dict)
