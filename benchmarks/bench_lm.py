"""Notebook 05's run of full SFT (byte-lm on the camel skill, FAST settings), along the code paths it could take,
measured side by side in this one process: what each of the runner's choices for the language model saves.

    python benchmarks/bench_lm.py             # about 2 minutes on 2 CPU cores

Paths (interleaved, repeated; medians):
  rewrites on, full width   Grappler's graph rewrites on (TensorFlow's default), every batch 48 tokens wide
  rewrites off, full width  the rewrites off (``utils.runtime.graph_rewrites``, what the runner does for the LM)
  rewrites off, trimmed     and each batch trimmed to its longest row (``Task.pad``): the runner's path
  continued layer           the runner's path on a layer already loaded and trained (``models.load`` returns it):
                            how ``lm_experiments.sequence`` goes from stage to stage, without a save and a reload
  nested export             the runner's path on the same weights saved by ``tf.saved_model.save`` of the Keras
                            model (each layer's call a nested function) instead of ``utils.models.export`` (one flat
                            function): what the flat export saves in tracing the backward pass
Columns: wall seconds of the whole run (load, tracing, 3 epochs, the final evaluation), seconds of the first
epoch (its graph is set up on the first call), and milliseconds per step after it. With 2 intra-op threads, as
notebook 05 runs (``utils.transformer_threads``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import utils  # Keras 2 for TF Hub

utils.transformer_threads()  # as notebook 05 runs, before TensorFlow starts

from utils import lm_data, lm_experiments, runtime  # noqa: E402
from utils import methods as M  # noqa: E402

REWRITES = runtime.graph_rewrites


def one_run(bench, before, rewrites: bool, trim: bool, model="byte-lm"):
    task = lm_data.skill_task("camel")
    task = task if trim else replace(task, pad=None)
    runtime.graph_rewrites = lambda enabled=True: REWRITES(rewrites)  # this path, whatever the runner would choose
    try:
        t0 = time.perf_counter()
        r = lm_experiments.sft(task, model=model, method=M.FullFineTuning(), bench=bench, epochs=3, learning_rate=1e-3,
                        before=before)
        wall = time.perf_counter() - t0
    finally:
        runtime.graph_rewrites = REWRITES
    first = r.history[1]["seconds"]
    per_step = (r.history[-1]["seconds"] - first) / (r.steps - r.steps // 3)
    return r, {"wall": wall, "first_epoch": first, "ms_per_step": 1e3 * per_step}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import tempfile

    import tensorflow as tf

    from utils import models, zoo

    nested = tempfile.mkdtemp()
    tf.saved_model.save(zoo.keras_model("byte-lm"), nested)  # the same weights, saved the nested (Keras) way

    bench = lm_data.CapabilitySuite(general_bytes=4096, examples=64)  # notebook 05's FAST settings
    before = bench.measure(models.load("byte-lm"), "camel")
    paths = {"rewrites on, full width": (True, False), "rewrites off, full width": (False, False),
             "rewrites off, trimmed": (False, True)}
    rows = {name: [] for name in (*paths, "continued layer", "nested export")}
    one_run(bench, before, False, True)  # warm-up: the process's first TensorFlow calls are slow
    for _ in range(args.repeats):
        for name, (rewrites, trim) in paths.items():
            r, m = one_run(bench, before, rewrites, trim)
            rows[name].append(m)
        rows["continued layer"].append(one_run(bench, before, False, True, model=r.context.backbone)[1])
        rows["nested export"].append(one_run(bench, before, False, True, model=nested)[1])
    med = {name: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for name, ms in rows.items()}
    base = med["rewrites on, full width"]
    print(f"full SFT of byte-lm on camel, 3 epochs of 16 steps (batch 32); medians of {args.repeats}")
    print(f"{'path':26s} {'wall s':>7s} {'1st epoch s':>12s} {'ms/step':>8s} {'wall: old/new':>14s}")
    for name, m in med.items():
        print(f"{name:26s} {m['wall']:7.2f} {m['first_epoch']:12.2f} {m['ms_per_step']:8.1f} "
              f"{base['wall'] / m['wall']:14.2f}")
    flat, old = med["rewrites off, trimmed"], med["nested export"]
    print(f"flat export (utils.models.export) vs nested: {old['wall'] / flat['wall']:.2f}x wall per run "
          f"({old['wall'] - flat['wall']:.2f} s less, mostly tracing the backward pass)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
