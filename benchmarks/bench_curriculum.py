"""The time budgets, measured here and printed against their goals: every notebook with its fast parameters (the
whole curriculum in 6 minutes; notebook 04 in 90 s, notebooks 05 and 06 in 120 s each) and the test suite (`make test` in 7 minutes).

    python benchmarks/bench_curriculum.py              # notebooks into build/bench/, then the test suite
    python benchmarks/bench_curriculum.py --no-tests   # notebooks only

The notebooks run through the same executor as ``make run`` (``utils.curriculum``), writing to their own folder so
``build/`` stays as it is; the tests run as ``make test`` runs them (two workers, FAST parameters). Exits non-zero
when a notebook or a test fails, not when a budget is missed: the figures are the report.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

CURRICULUM_GOAL = 6 * 60
NOTEBOOK_GOALS = {"04_text_models": 90, "05_llm_forgetting": 120, "06_on_policy_and_preferences": 120}
TESTS_GOAL = 7 * 60
TEST_COMMAND = [sys.executable, "-m", "pytest", "-q", "-n", "2", "--dist", "loadfile"]  # the Makefile's `test`


def verdict(seconds: float, goal: float) -> str:
    return f"{'within' if seconds <= goal else 'OVER'} the goal of {goal:.0f} s"


def time_tests() -> tuple[float, bool]:
    """Wall seconds of the test suite as `make test` runs it, and whether it passed."""
    env = {**os.environ, "WORKBOOK_FAST": "1", "WORKBOOK_PROGRESS": "0"}
    t0 = time.perf_counter()
    done = subprocess.run(TEST_COMMAND, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    return time.perf_counter() - t0, done.returncode == 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/bench"))
    parser.add_argument("--no-tests", action="store_true", help="skip timing the test suite (about 8 minutes)")
    args = parser.parse_args(argv)
    os.environ["WORKBOOK_FAST"] = "1"
    os.environ["WORKBOOK_BUILD_DIR"] = str(args.out.resolve())
    from utils import curriculum

    runs = curriculum.run(curriculum.notebooks(), args.out.resolve())
    total = sum(r.seconds for r in runs)
    print(f"\n{'budget':40s} {'seconds':>8s} {'share':>6s}")
    for r in runs:
        goal = NOTEBOOK_GOALS.get(r.name.removesuffix(".ipynb"))
        print(f"{r.name:40s} {r.seconds:8.1f} {r.seconds / total:6.0%}{'' if r.ok else '  FAILED'}"
              + (f"  {verdict(r.seconds, goal)}" if goal else ""))
    print(f"{'whole curriculum (FAST=1)':40s} {total:8.1f} {'':6s}  {verdict(total, CURRICULUM_GOAL)}")
    ok = all(r.ok for r in runs)
    if not args.no_tests:
        seconds, passed = time_tests()
        print(f"{'make test (pytest -n 2)':40s} {seconds:8.1f} {'':6s}  {verdict(seconds, TESTS_GOAL)}"
              + ("" if passed else "  FAILED"))
        ok = ok and passed
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
