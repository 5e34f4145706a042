"""Per-step training time of each method as a ratio to full fine-tuning, measured side by side.

    python benchmarks/bench_methods.py              # step-time ratios (about a minute)
    python benchmarks/bench_methods.py --compare    # also the wall time of the 3-seed comparison (~3 min)

All runs happen in this one process, interleaved (full, m1, full, m2, ...; repeated), so machine
drift hits every method alike. Time excludes tracing and evaluation (``FineTuneResult.train_seconds``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import utils  # noqa: F401  (Keras 2 for TF Hub)
from utils import compare, image_data, suites
from utils import methods as M
from utils.train import finetune

METHODS = [
    M.FrozenBackbone(), M.LPFT(), M.L2SP(0.1), M.EWC(0.1), M.LwF(1.0), M.Rehearsal(0.1), M.Rehearsal(0.5),
    M.LoRA(16), M.Dropout(0.5), M.WeightDecay(l2=1e-3), M.Augment(), M.WiSEFT(0.5, sweep=(0.5,)),
]


def step_seconds(method, epochs: int, seed: int) -> float:
    r = finetune(task=image_data.task_pair("permute"), method=method, epochs=epochs, seed=seed, eval_every=0, progress=False)
    return r.train_seconds / r.steps


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--compare", action="store_true", help="also time `utils.compare` with 3 seeds")
    args = parser.parse_args(argv)

    step_seconds(None, 1, 0)  # warm-up: first TensorFlow calls are slow
    full, per_method = [], {m.label: [] for m in METHODS}
    for rep in range(args.repeats):
        for m in METHODS:
            full.append(step_seconds(None, args.epochs, rep))
            per_method[m.label].append(step_seconds(m, args.epochs, rep))
    base = statistics.median(full)
    print(f"full fine-tuning: {base * 1e3:.2f} ms per step (median of {len(full)} runs, batch 32, permute)")
    print(f"{'method':32s} {'ms/step':>8s} {'ratio to full':>14s}")
    for label, times in per_method.items():
        t = statistics.median(times)
        print(f"{label:32s} {t * 1e3:8.2f} {t / base:14.2f}")
    if args.compare:
        t0 = time.perf_counter()
        summary = compare.compare("permute", seeds=3, suite=suites.images(), progress=False)
        print(f"3-seed comparison of {len(summary['methods'])} method rows "
              f"({len(suites.images())} runs x 3 seeds): {time.perf_counter() - t0:.0f} s wall time")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
