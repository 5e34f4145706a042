"""Seconds per run when each run loads its model, and when the runs borrow one loaded model (``ModelPool``).

    python benchmarks/bench_pool.py              # the convnet and MiniLM, 4 runs each way (about 80 s)

What a comparison (``utils.compare``) pays per run besides the steps: loading the SavedModel and tracing the step,
whose backward pass through the restored function is built once per loaded model. Both ways run in this one
process, alternating (own, pooled, own, pooled, ...), so machine drift hits both alike; wall time per run, median.
"""

from __future__ import annotations

import argparse
import statistics
import time

import utils

utils.transformer_threads()  # before TensorFlow starts, as in notebook 04

from utils import image_data, models, text_data  # noqa: E402
from utils import methods as M  # noqa: E402
from utils.pool import ModelPool  # noqa: E402
from utils.train import finetune  # noqa: E402


def cases():
    """(name, finetune arguments) of one short run per model: the convnet on the digits, MiniLM on the intents."""
    bench = text_data.TextBench.build(models.load("minilm-l6-preprocess"), None, intent_fraction=1 / 3,
                                       general_fraction=1 / 3, intent_test_fraction=0.5)
    return [("digits-convnet, permute, 3 epochs", dict(task=image_data.task_pair("permute"), epochs=3)),
            ("minilm-l6, intents, 1 epoch", dict(model="minilm-l6", task=bench.intents, epochs=1, learning_rate=3e-4,
                                                 old_head=None, evaluator=bench.evaluator()))]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=4, help="runs each way per model")
    args = parser.parse_args(argv)
    print(f"{'model':36s} {'own model s/run':>16s} {'pooled s/run':>13s} {'ratio':>6s}")
    for name, kw in cases():
        pool, seconds = ModelPool(), {"own": [], "pooled": []}
        finetune(method=[M.FullFineTuning()], seed=0, progress=False, **kw)  # warm-up: TensorFlow's first calls
        for i in range(args.runs):
            for way in ("own", "pooled"):
                t0 = time.perf_counter()
                finetune(method=[M.FullFineTuning()], seed=i, progress=False, eval_every=0,
                         models=pool if way == "pooled" else None, **kw)
                seconds[way].append(time.perf_counter() - t0)
        own, pooled = (statistics.median(seconds[w]) for w in ("own", "pooled"))
        print(f"{name:36s} {own:16.2f} {pooled:13.2f} {own / pooled:6.2f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
