"""A method is one file: it registers itself, the comparison suite and the command line find it, and the
runner calls only the hooks ``Method`` declares."""

import ast
import inspect

import numpy as np
import pytest

from utils import compare, train
from utils import methods as M
from utils.finetune_cli import parse
from utils.methods.base import HOOKS


@pytest.fixture
def freeze_first_layer():
    """A new method, written as a learner would in its own file: only a class."""

    class FreezeFirstLayer(M.Method):
        """Fine-tune everything except the backbone's first ``layers`` variables (kernel and bias of layer 1)."""

        key = "freeze-first-layer"

        def __init__(self, layers: int = 2):
            self.layers = layers

        @classmethod
        def suite(cls):
            return [[cls(2)]]

        def select_variables(self, ctx, variables):
            frozen = {v.ref() for v in ctx.backbone_variables[: self.layers]}
            return [v for v in variables if v.ref() not in frozen]

    yield FreezeFirstLayer
    del M.REGISTRY[FreezeFirstLayer.key]


def test_a_new_method_registers_itself_and_joins_the_suite_and_the_cli(freeze_first_layer):
    assert M.REGISTRY["freeze-first-layer"] is freeze_first_layer
    assert "freeze-first-layer" in [compare.entry_id(e) for e in compare.default_suite()]
    settings = parse(["--method", "freeze-first-layer", "--freeze-first-layer-layers", "4"])
    assert isinstance(settings["methods"][0], freeze_first_layer) and settings["methods"][0].layers == 4


def test_the_new_method_trains_through_the_runner(freeze_first_layer, permute_pair):
    a, b = permute_pair
    r = train.finetune(task=(a, b.subset(0.25)), method=freeze_first_layer(2), epochs=1, eval_every=0, progress=False)
    now, start = r.context.backbone_variables, r.context.initial
    assert all(np.array_equal(v.numpy(), w.numpy()) for v, w in zip(now[:2], start[:2]))
    assert not np.array_equal(now[2].numpy(), start[2].numpy())
    assert r.id == "freeze-first-layer" and r.methods == [{"method": "freeze-first-layer", "options": {"layers": 2}}]


def test_the_runner_calls_only_declared_hooks():
    source = ast.parse(inspect.getsource(train))
    called = {n.attr for n in ast.walk(source)
              if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "m"}
    declared = set(HOOKS) | {"key", "distributable"}
    assert called, "the walk found no hook call: the test would pass vacuously"
    assert called <= declared, f"called but not declared on Method: {called - declared}"
    assert {"replay_batch", "replay_size", "select_examples", "after_epoch"} <= called


def test_every_hook_is_documented_on_method():
    doc = inspect.getmodule(M.Method).__doc__
    for hook in HOOKS:
        assert f"{hook}(" in doc, f"{hook} is not in the hook list of utils/methods/base.py"
        assert inspect.getdoc(getattr(M.Method, hook)), f"Method.{hook} has no docstring"


def test_hook_source_shows_the_code_that_runs():
    ewc = M.hook_source(M.EWC)
    assert "def empirical_fisher" in ewc and "def penalty" in ewc and "squared_distance" in ewc
    assert "def __init__" not in ewc
    assert "tf.matmul(g, b, transpose_b=True)" in M.hook_source(M.LoRA)  # the chain rule
