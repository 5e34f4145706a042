"""Bad input is refused before the first training step, with one line that names the array, the row and the fix."""

import warnings
from dataclasses import replace

import numpy as np
import pytest

from utils import image_data, tasks
from utils.tasks import InvalidDataError
from utils.train import ChanceLevelWarning, chance_level_warning, finetune


@pytest.fixture(scope="module")
def pair():
    return image_data.task_pair("permute")


def broken(task, **changes):
    return replace(task, name="mine", **changes)


def nan_at(x, row):
    x = x.copy()
    x[row, 3, 4, 0] = np.nan
    return x


@pytest.mark.parametrize("change, message", [
    (lambda b: {"x_train": nan_at(b.x_train, 7)}, r"x_train row 7 holds NaN or inf"),
    (lambda b: {"x_val": nan_at(b.x_val, 2)}, r"x_val row 2 holds NaN or inf"),
    (lambda b: {"y_test": np.where(np.arange(len(b.y_test)) == 4, 10, b.y_test).astype(np.int32)},
     r"y_test row 4 is 10, outside \[0, 10\)"),
    (lambda b: {"y_train": np.where(np.arange(len(b.y_train)) == 0, -1, b.y_train).astype(np.int32)},
     r"y_train row 0 is -1"),
    (lambda b: {"x_train": b.x_train[:0], "y_train": b.y_train[:0]}, r"x_train is empty"),
    (lambda b: {"x_test": np.zeros((5, 8, 8, 3), np.float32), "y_test": np.zeros(5, np.int32)},
     r"x_test examples have shape \(8, 8, 3\) but x_train's have \(8, 8, 1\)"),
    (lambda b: {"x_train": b.x_train.astype(str)}, r"x_train has dtype <U.*convert with \.astype\(np\.float32\)"),
    (lambda b: {"y_train": b.y_train.astype(np.float32)}, r"y_train must be a 1-D array of integer class ids"),
    (lambda b: {"y_train": np.eye(10, dtype=np.int32)[b.y_train]}, r"one-hot labels: use y\.argmax"),
    (lambda b: {"y_train": b.y_train[:-3]}, r"x_train has \d+ examples but y_train has \d+ labels"),
    (lambda b: {"x_val": b.x_val, "y_val": None}, r"x_val and y_val must both be given"),
])
def test_each_bad_array_is_named_with_its_first_bad_row(pair, change, message):
    a, b = pair
    with pytest.raises(InvalidDataError, match=message) as e:
        tasks.validate(broken(b, **change(b)), "task B")
    assert "\n" not in str(e.value) and "task B 'mine'" in str(e.value)


def test_the_runner_refuses_before_loading_or_training(pair, monkeypatch):
    from utils import models

    a, b = pair
    monkeypatch.setattr(models, "load", lambda *args, **kw: pytest.fail("loaded the model before checking the data"))
    with pytest.raises(InvalidDataError, match="task B 'mine': x_train row 5 holds NaN"):
        finetune(task=(a, broken(b, x_train=nan_at(b.x_train, 5))), epochs=1)
    with pytest.raises(InvalidDataError, match="task A 'mine': y_test row 0"):
        finetune(task=(broken(a, y_test=np.full_like(a.y_test, 12)), b), epochs=1)


def test_the_bundled_tasks_are_valid():
    for name in image_data.TASK_PAIRS:
        for role, task in zip(("task A", "task B"), image_data.task_pair(name)):
            tasks.validate(task, role)
            assert task.has_validation


def test_chance_level_is_named_with_the_learning_rate():
    assert chance_level_warning(0.95, 10, 3e-3) is None
    note = chance_level_warning(0.105, 10, 1.0)
    assert note.startswith("task-B accuracy 0.105 is at chance level (1/10 = 0.100)") and "try 0.1" in note
    assert chance_level_warning(0.2 + 0.019, 5, 0.5) is not None and chance_level_warning(0.25, 5, 0.5) is None


def test_a_run_that_learns_nothing_ends_with_a_warning(pair):
    a, b = pair
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = finetune(task=(a, b.subset(0.2)), learning_rate=1.0, epochs=1, eval_every=0)
    assert r.final["B"] <= 0.12, r.final  # learning rate 1 destroys the model
    assert r.warnings and "learning rate of 1 is probably too high: try 0.1" in r.warnings[0]
    assert any(issubclass(w.category, ChanceLevelWarning) for w in caught)
