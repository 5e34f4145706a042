"""A method is one file: its options are declared fields, it registers itself, the command line and a comparison
find it, the runner calls only the hooks ``Method`` declares, and no reader outside a method's file names one."""

import ast
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import utils
from utils import compare, train
from utils import methods as M
from utils.finetune_cli import parse
from utils.methods.base import HOOKS


@pytest.fixture
def freeze_first_layer():
    """A new method, written as a learner would in its own file: only a class, its options declared as fields."""

    class FreezeFirstLayer(M.Method):
        """Fine-tune everything except the backbone's first ``layers`` variables (kernel and bias of layer 1)."""

        key = "freeze-first-layer"
        layers: int = 2

        def select_variables(self, ctx, variables):
            frozen = {v.ref() for v in ctx.backbone_variables[: self.layers]}
            return [v for v in variables if v.ref() not in frozen]

    yield FreezeFirstLayer
    del M.REGISTRY[FreezeFirstLayer.key]


def test_a_new_method_registers_itself_and_the_cli_and_a_comparison_find_it(freeze_first_layer):
    assert M.REGISTRY["freeze-first-layer"] is freeze_first_layer
    assert M.options("freeze-first-layer") == {"layers": 2}
    settings = parse(["--method", "freeze-first-layer", "--freeze-first-layer-layers", "4"])
    assert isinstance(settings["methods"][0], freeze_first_layer) and settings["methods"][0].layers == 4
    assert freeze_first_layer(3).id == "freeze-first-layer(layers=3)" and freeze_first_layer().id == "freeze-first-layer"
    s = compare.compare("permute", seeds=1, epochs=1, suite=[[freeze_first_layer(2)]], progress=False)
    assert list(s["methods"]) == ["freeze-first-layer"]


def test_options_are_declared_fields_and_a_hand_written_init_is_refused():
    with pytest.raises(TypeError, match="declare its options as fields"):
        class Hidden(M.Method):  # noqa: F841
            key = "hidden-options"

            def __init__(self, strength=1.0):
                self.strength = strength
    assert "hidden-options" not in M.REGISTRY
    assert M.EWC(0.3).options == {"strength": 0.3, "samples": None}
    assert M.EWC(0.3).record() == {"method": "ewc", "options": {"strength": 0.3, "samples": None}}


def test_the_new_method_trains_through_the_runner(freeze_first_layer, permute_pair):
    a, b = permute_pair
    r = train.finetune(task=(a, b.subset(0.25)), method=freeze_first_layer(2), epochs=1, eval_every=0, progress=False)
    now, start = r.context.backbone_variables, r.context.initial
    assert all(np.array_equal(v.numpy(), w.numpy()) for v, w in zip(now[:2], start[:2]))
    assert not np.array_equal(now[2].numpy(), start[2].numpy())
    assert r.id == "freeze-first-layer" and r.to_dict()["methods"] == [{"method": "freeze-first-layer",
                                                                        "options": {"layers": 2}}]


def _spy(method):
    """``method`` with every attribute that others read recorded (reads by its own code, ``self.x``, are not)."""
    seen = set()

    class Spy(type(method)):
        def __getattribute__(self, name):
            if sys._getframe(1).f_locals.get("self") is not self and not name.startswith("__"):
                seen.add(name)
            return super().__getattribute__(name)

    spy = Spy(**method.options)
    return spy, seen


@pytest.mark.filterwarnings("ignore::UserWarning")  # one epoch of each phase: the run need not learn
def test_the_runner_reads_only_declared_hooks_and_attributes(permute_pair):
    a, b = permute_pair
    spies = [_spy(M.LPFT(lp_epochs=1)), _spy(M.Rehearsal(0.1)), _spy(M.WiSEFT(0.5, sweep=(0.5,)))]
    r = train.finetune(task=(a, b.subset(0.25)), method=[s for s, _ in spies], epochs=1, progress=False)
    r.rows()
    seen = set().union(*(names for _, names in spies))
    declared = set(HOOKS) | {"key", "distributable", "id", "label", "record", "options", "needs_task_a_data"}
    assert seen <= declared, f"read but not declared on Method: {seen - declared}"
    assert {"select_examples", "setup", "phases", "select_variables", "replay_size", "replay_batch", "augment",
            "transform_features", "penalty", "transform_gradients", "after_apply", "after_epoch",
            "after_training", "rows"} <= seen  # the spy saw the runner at work: the check is not vacuous


def test_every_hook_is_documented_on_method():
    import inspect

    doc = inspect.getmodule(M.Method).__doc__
    for hook in HOOKS:
        assert f"{hook}(" in doc, f"{hook} is not in the hook list of utils/methods/base.py"
        assert inspect.getdoc(getattr(M.Method, hook)), f"Method.{hook} has no docstring"


METHOD_FILES = Path(M.__file__).parent


def method_knowledge(path: Path) -> list[str]:
    """Where a file outside ``utils/methods/`` names a method class or reads a method's report by key."""
    names = {cls.__name__ for cls in M.REGISTRY.values()} - {"Method"} | {"FullFineTuning"}
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr in names - {"FullFineTuning"}:
            found.append(f"{path.name}:{node.lineno} names {node.attr}")
        if isinstance(node, ast.Name) and node.id in names - {"FullFineTuning"}:
            found.append(f"{path.name}:{node.lineno} names {node.id}")
        if isinstance(node, ast.Attribute) and node.attr == "extra" or (
                isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "reports"):
            found.append(f"{path.name}:{node.lineno} reads a method's report")
    return found


READERS = ["compare.py", "lm_experiments.py", "results.py", "train.py", "report.py", "plots.py", "finetune_cli.py",
           "robust.py", "evidence.py", "pool.py", "heads.py", "checkpoint.py", "merging.py"]


def test_no_reader_outside_a_method_s_file_names_a_method_or_reads_its_report():
    root = Path(utils.__file__).parent
    found = [f for name in READERS for f in method_knowledge(root / name)]
    assert not found, "; ".join(found)


def test_the_reader_check_finds_a_planted_special_case(tmp_path):
    planted = tmp_path / "reader.py"
    planted.write_text("def rows_of(result):\n    if isinstance(result.methods[0], M.WiSEFT):\n"
                       "        return result.extra['wise_ft']\n    return result.reports[0]['best_step']\n")
    assert sorted(method_knowledge(planted)) == ["reader.py:2 names WiSEFT", "reader.py:3 reads a method's report",
                                                 "reader.py:4 reads a method's report"]


def test_no_method_imports_another_method():
    own = {p.stem for p in METHOD_FILES.glob("*.py")} - {"__init__", "base"}
    found = [f"{p.name} imports {m}" for p in METHOD_FILES.glob("*.py") if p.stem in own
             for m in re.findall(r"from \.(\w+) import", p.read_text()) if m in own]
    assert not found, "; ".join(found)


def test_hook_source_shows_the_code_that_runs():
    ewc = M.hook_source(M.EWC)
    assert "def empirical_fisher" in ewc and "def penalty" in ewc and "squared_distance" in ewc
    assert "def __init__" not in ewc and "def __post_init__" not in ewc
    assert "tf.matmul(g, b, transpose_b=True)" in M.hook_source(M.LoRA)  # the chain rule
