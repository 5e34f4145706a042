"""Intra-op threads, 1 or 2, for each bundled model: a training step and an inference batch, measured in child
processes that alternate (the thread pools are fixed when TensorFlow starts, so one process cannot hold both).

    python benchmarks/bench_threads.py          # about 3 minutes on 2 CPU cores

The workbook runs the small convnet with 1 thread per op (its ops are too short to split) and the transformers
(MiniLM, byte-lm) with 2 (``utils.transformer_threads``, notebooks 04, 05 and 06): this prints why, as ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r'''
import json, statistics, sys, time
import numpy as np
import utils
import tensorflow as tf, tf_keras as keras
from utils import models
name, shape, dtype, repeats = sys.argv[1], tuple(json.loads(sys.argv[2])), sys.argv[3], int(sys.argv[4])
model = models.load(name, trainable=True)
rng = np.random.default_rng(0)
x = (rng.integers(1, 250, shape) if dtype == "int32" else rng.random(shape)).astype(dtype)
opt = keras.optimizers.Adam(1e-4)
@tf.function
def step(x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(x, training=True)))
    opt.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    return loss
infer = tf.function(lambda x: model(x, training=False))
def median(fn):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter(); fn(); times.append(time.perf_counter() - t0)
    return statistics.median(times)
print(json.dumps({"step": median(lambda: step(x).numpy()), "infer": median(lambda: infer(x).numpy())}))
'''
MODELS = {"digits-convnet": ([32, 8, 8, 1], "float32"), "minilm-l6": ([32, 19], "int32"),
          "byte-lm": ([32, 43], "int32")}  # batch 32 as trained: digits, intents (19 tokens), a camel batch


def child(name: str, threads: int, repeats: int) -> dict:
    shape, dtype = MODELS[name]
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": str(threads), "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", CHILD, name, json.dumps(shape), dtype, str(repeats)], env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="alternations of 1 and 2 threads per model")
    parser.add_argument("--repeats", type=int, default=10, help="timed calls per child")
    args = parser.parse_args(argv)
    print(f"{'model':16s} {'step 1 thr':>10s} {'step 2 thr':>10s} {'speed-up':>9s} {'infer 1':>9s} {'infer 2':>9s} "
          f"{'speed-up':>9s}   (seconds, medians of {args.rounds} alternating children)")
    for name in MODELS:
        runs = {1: [], 2: []}
        for _ in range(args.rounds):
            for threads in (1, 2):
                runs[threads].append(child(name, threads, args.repeats))
        med = {t: {k: statistics.median(r[k] for r in rs) for k in ("step", "infer")} for t, rs in runs.items()}
        print(f"{name:16s} {med[1]['step']:10.4f} {med[2]['step']:10.4f} {med[1]['step'] / med[2]['step']:9.2f} "
              f"{med[1]['infer']:9.4f} {med[2]['infer']:9.4f} {med[1]['infer'] / med[2]['infer']:9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
