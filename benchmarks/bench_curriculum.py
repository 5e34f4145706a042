"""Wall time of every notebook with its fast parameters, against the goal of the whole curriculum in 6 minutes.

    python benchmarks/bench_curriculum.py      # executes notebooks/ with WORKBOOK_FAST=1 into build/bench/

The same executor as ``make run`` (``utils.curriculum``), writing to its own folder so ``build/`` stays as it is.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

GOAL_SECONDS = 6 * 60


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("build/bench"))
    args = parser.parse_args(argv)
    os.environ["WORKBOOK_FAST"] = "1"
    os.environ["WORKBOOK_BUILD_DIR"] = str(args.out.resolve())
    from utils import curriculum

    runs = curriculum.run(curriculum.notebooks(), args.out.resolve())
    total = sum(r.seconds for r in runs)
    print(f"\n{'notebook':40s} {'seconds':>8s} {'share':>6s}")
    for r in runs:
        print(f"{r.name:40s} {r.seconds:8.1f} {r.seconds / total:6.0%}{'' if r.ok else '  FAILED'}")
    verdict = "within" if total <= GOAL_SECONDS else "over"
    print(f"{'whole curriculum (FAST=1)':40s} {total:8.1f}   {verdict} the {GOAL_SECONDS // 60}-minute goal")
    return 0 if all(r.ok for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
