"""MiniLM-L6 on this machine: what each change to its training path saves, and its cost at 32, 64 and 128 tokens.

    python benchmarks/bench_text.py            # about 8 minutes on 2 CPU cores
    python benchmarks/bench_text.py --paths    # only the first table (about 6 minutes)

1. The code paths, oldest first, each one change on top of the row above, run by the runner
   (``utils.train.finetune``: full fine-tuning of the intents, all 608 training messages, batch 32):

     as filed (issue 14)   the encoder's dense layers as batched matmuls of [N, L, in] by the shared kernel, every
                           batch as wide as the data set's longest message (25 tokens), 1 intra-op thread
     2 threads             ``utils.transformer_threads`` (notebooks 04, 05 and 06)
     batches by length     rows of similar length batched together, each batch trimmed to its longest row
                           (``Task.bucket``, ``Task.pad``)
     2-D matmul            the bundled encoder: each dense layer one [N*L, in] @ [in, out] matmul, whose gradient
                           is one product instead of N per-sentence products summed (``text_model``): today's path

   Training: messages per second over epochs 2 and 3 (epoch 1 sets its graph up). Inference: messages per second
   of ``text_data.embed`` (batches of similar length, as the evaluator) over the test and general-ability sets.
   The thread pools are fixed when TensorFlow starts, so each thread count runs in its own child process; the
   children alternate, and the medians are printed. The "as filed" encoder is the bundled one's weights exported
   with the batched matmuls (same exporter, same outputs within 1e-5).

2. The cost of longer inputs (batch 32 padded to 32, 64 and 128 tokens, today's encoder and threads): throughput
   in inference and the time of one training step. The preprocessor cuts messages at 32 tokens.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

PATHS = ("as filed (issue 14)", "2 threads", "batches by length", "2-D matmul")
THREADS = {PATHS[0]: 1}  # every other path: 2


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: tracing and first-call allocation
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def export_batched_encoder(folder: Path) -> None:
    """The bundled MiniLM's weights in the encoder as it was when issue 14 was filed (dense layers as batched
    matmuls against the shared kernel), exported as the bundled one is."""
    import tensorflow as tf
    import tf_keras as keras

    from utils import models, text_model, zoo

    class Batched(text_model._bert_layer_class()):
        @staticmethod
        def _dense(x, params):
            kernel, bias = params
            return tf.matmul(x, kernel) + bias

    ids = keras.Input((None,), dtype="int32", name="input_word_ids")
    model = keras.Model(ids, Batched(name="minilm_encoder")(ids))
    for w, v in zip(model.weights, zoo.keras_model("minilm-l6").weights):
        w.assign(v)
    models.export(model, folder, tf.TensorSpec([None, None], tf.int32))


def child(paths: list[str], epochs: int) -> dict:
    """In this process (one thread layout): each path's training and inference messages per second."""
    import numpy as np
    import tensorflow as tf

    from utils import models, text_data, train

    bench = text_data.TextBench.build(models.load("minilm-l6-preprocess"))
    task = bench.intents
    ids = np.concatenate([np.pad(a, ((0, 0), (0, 32 - a.shape[1]))) for a in (  # what the evaluator embeds
        task.x_test, bench.para_a, bench.para_b, bench.topic_test, bench.distractors, bench.sts_a, bench.sts_b)])
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        for path in paths:
            model = "minilm-l6" if path == PATHS[-1] else str(Path(tmp) / "batched")
            if model != "minilm-l6" and not Path(model).exists():
                export_batched_encoder(Path(model))
            t = replace(task, pad=None, bucket=False) if path in PATHS[:2] else task  # as wide as the longest message
            r = train.finetune(model=model, task=t, epochs=epochs, eval_every=0, progress=False, old_head=None,
                               evaluator=lambda ctx: {}, schedule="constant", learning_rate=1e-4)
            seconds = [b["seconds"] - a["seconds"] for a, b in zip(r.history, r.history[1:])]
            encoder = models.load(model)
            features = tf.function(lambda x, e=encoder: e(x, training=False), reduce_retracing=True)
            out[path] = {"train": len(t.y_train) / statistics.median(seconds),
                         "infer": len(ids) / median_seconds(lambda f=features: text_data.embed(f, ids), 3)}
    return out


def run_child(paths: list[str], threads: int, epochs: int) -> dict:
    env = {**os.environ, "TF_NUM_INTRAOP_THREADS": str(threads), "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("WORKBOOK_THREADS_DEFAULTED", None)  # a thread count set here, by hand: utils keeps it
    proc = subprocess.run([sys.executable, __file__, "--child", json.dumps(paths), "--epochs", str(epochs)],
                          env=env, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"the {threads}-thread child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def paths_table(rounds: int, epochs: int) -> list[str]:
    runs = {p: [] for p in PATHS}
    for _ in range(rounds):
        for threads in (1, 2):
            chosen = [p for p in PATHS if THREADS.get(p, 2) == threads]
            for p, v in run_child(chosen, threads, epochs).items():
                runs[p].append(v)
    med = {p: {k: statistics.median(v[k] for v in vs) for k in ("train", "infer")} for p, vs in runs.items()}
    base = med[PATHS[0]]
    lines = [f"MiniLM-L6 training and inference paths (messages/s, medians of {rounds} alternating children)",
             f"{'path':22s} {'train/s':>8s} {'vs above':>9s} {'vs filed':>9s} {'infer/s':>8s} {'vs filed':>9s}"]
    above = base
    for p in PATHS:
        m = med[p]
        lines.append(f"{p:22s} {m['train']:8.1f} {m['train'] / above['train']:9.2f} {m['train'] / base['train']:9.2f} "
                     f"{m['infer']:8.1f} {m['infer'] / base['infer']:9.2f}")
        above = m
    now = med[PATHS[-1]]
    lines.append(f"training speed-up, today's path vs as filed: {now['train'] / base['train']:.2f}x (goal 1.5x); "
                 f"inference: {now['infer'] / base['infer']:.2f}x (goal 1.5x)")
    return lines


def lengths_table(lengths=(32, 64, 128), batch: int = 32, repeats: int = 3) -> list[str]:
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    from utils import models, text_data, text_model

    texts, _, _, _, _ = text_data.labelled("intents", "label")
    vocab = text_model.read_vocab()
    encoder = models.load("minilm-l6", trainable=True)
    head = keras.layers.Dense(8)
    head.build((None, 384))
    variables = encoder.trainable_variables + head.trainable_variables
    optimizer = keras.optimizers.Adam(1e-4)
    labels = np.zeros(batch, np.int32)

    @tf.function
    def step(ids):
        with tf.GradientTape() as tape:
            logits = head(encoder(ids, training=True))
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    infer = tf.function(lambda ids: encoder(ids, training=False))
    lines = ["MiniLM-L6 (22.7M parameters), batch 32, today's encoder and threads",
             f"{'tokens':>6s} {'sentences/s':>12s} {'train step s':>13s} {'step vs 32':>11s}"]
    base = None
    for length in lengths:
        ids = text_model.make_preprocessor(vocab, length)(tf.constant(texts[:batch])).numpy()
        t_infer = median_seconds(lambda ids=ids: infer(ids).numpy(), repeats)
        t_step = median_seconds(lambda ids=ids: step(ids).numpy(), repeats)
        base = base or t_step
        lines.append(f"{length:6d} {batch / t_infer:12.1f} {t_step:13.2f} {t_step / base:11.2f}")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", action="store_true", help="only the table of code paths")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of the 1- and 2-thread children")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import utils  # noqa: F401  (Keras 2 for TF Hub; after argparse: --child sets the threads in its environment)

    if args.child:
        print(json.dumps(child(json.loads(args.child), args.epochs)))
        return 0
    print("\n".join(paths_table(args.rounds, args.epochs)), flush=True)
    if not args.paths:
        utils.transformer_threads()
        print("\n" + "\n".join(lengths_table()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
