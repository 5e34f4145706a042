"""The thread layout: 1 intra-op thread by default, 2 for transformers, a hand-set count kept, the robust variant's
swap, and a clear warning when it is asked for after TensorFlow has started (each case in a fresh process)."""

import os
import subprocess
import sys

import pytest

from utils import paths

SCRIPT = """
import os, warnings
import utils
before = os.environ["TF_NUM_INTRAOP_THREADS"]
if {late}:
    import tensorflow as tf
    tf.constant(1) + 1
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    utils.transformer_threads()
print(before, os.environ["TF_NUM_INTRAOP_THREADS"], "late" if any("too late" in str(w.message) for w in caught) else "-")
"""


def layout(env: dict, late: bool = False) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TF_NUM_", "WORKBOOK_THREADS"))}
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(late=late)], env={**clean, **env}, cwd=paths.ROOT,
                         capture_output=True, text=True, check=True)
    return out.stdout.split()


@pytest.mark.parametrize("env, expected", [
    ({}, ["1", "2", "-"]),                                    # the workbook's default, then a transformer's
    ({"WORKBOOK_THREADS_SWAP": "1"}, ["2", "1", "-"]),        # make robust's variant: each on its other count
    ({"TF_NUM_INTRAOP_THREADS": "3"}, ["3", "3", "-"]),       # set by hand: kept
])
def test_thread_layout(env, expected):
    assert layout(env) == expected


def test_a_child_process_chooses_again_unless_the_count_was_set_by_hand():
    child = {"TF_NUM_INTRAOP_THREADS": "2", "WORKBOOK_THREADS_DEFAULTED": "1"}  # a parent's transformer layout
    assert layout(child) == ["1", "2", "-"]


def test_asking_after_tensorflow_started_warns_and_changes_nothing():
    assert layout({}, late=True) == ["1", "1", "late"]
