"""MiniLM-L6 on this machine: encoder throughput and training-step time at 32, 64 and 128 tokens.

    python benchmarks/bench_text.py            # about 1.5 minutes on 2 CPU cores

Batch 32 of real intent messages padded to the length measured (the encoder computes every position, padding
included, so the cost is that of full-length sentences). Throughput: sentences per second of the encoder in inference mode. Step: one Adam step of
full fine-tuning (encoder + a linear head), forward and backward. Medians of repeated calls, after a warm-up
(tracing excluded), all in this one process so the ratios between lengths are fair.
"""

from __future__ import annotations

import argparse
import statistics
import time

import utils  # noqa: F401  (Keras 2 for TF Hub)


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up: tracing and first-call allocation
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(lengths=(32, 64, 128), batch: int = 32, repeats: int = 3) -> list[dict]:
    import numpy as np
    import tensorflow as tf
    import tf_keras as keras

    from utils import hub, text_models, text_tasks

    texts, _, _, _, _ = text_tasks.labelled("intents", "label")
    vocab = text_models.read_vocab()
    encoder = hub.load("minilm-l6", trainable=True)
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
    rows = []
    for length in lengths:
        pre = text_models.make_preprocessor(vocab, length)
        ids = pre(tf.constant(texts[:batch])).numpy()
        t_infer = median_seconds(lambda ids=ids: infer(ids).numpy(), repeats)
        t_step = median_seconds(lambda ids=ids: step(ids).numpy(), repeats)
        rows.append({"tokens": length, "sentences_per_s": batch / t_infer, "infer_s": t_infer, "step_s": t_step})
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    rows = measure(repeats=args.repeats)
    base = rows[0]
    print("MiniLM-L6 (22.7M parameters), batch 32")
    print(f"{'tokens':>6s} {'sentences/s':>12s} {'train step s':>13s} {'step vs 32':>11s}")
    for r in rows:
        print(f"{r['tokens']:6d} {r['sentences_per_s']:12.1f} {r['step_s']:13.2f} {r['step_s'] / base['step_s']:11.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
