"""What decoding from the chat model costs: the compiled, batched decoder (``utils.lm_data.sample_ids``) against a
plain Python loop that calls the model once per token on the full window (what ``lm_data.generate`` did before),
measured side by side in this one process, and what sampling k answers per prompt costs (on-policy methods sample
every step).

    python benchmarks/bench_sampling.py      # about 2 minutes on 2 CPU cores

Prints, for 32 camel prompts: seconds per call (median of the repeats, after one warm-up call) of the Python loop,
the compiled greedy decoder and the compiled sampler at k = 4, the ratio of the first two, and milliseconds per
generated token. Both greedy paths must write the same answers (checked here). With 2 intra-op threads, as notebook
06 runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import utils  # Keras 2 for TF Hub

utils.transformer_threads()  # as notebook 06 runs, before TensorFlow starts

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from utils import lm_data, models  # noqa: E402
from utils import lm_model as lm  # noqa: E402


def python_loop(model, prompts, max_new: int = 32, seq_len: int = lm_data.SEQ_LEN) -> list[str]:
    """Greedy decoding one token at a time from Python, the model run on the full [N, seq_len] window each time."""
    rows = [list(r) for r in lm.encode(prompts)]
    done, out = [False] * len(rows), [bytearray() for _ in rows]
    for _ in range(max_new):
        x = np.full((len(rows), seq_len), lm.PAD, np.int32)
        for i, r in enumerate(rows):
            x[i, : len(r)] = r
        logits = model(tf.constant(x)).numpy()
        for i, r in enumerate(rows):
            if not done[i]:
                nxt = int(np.argmax(logits[i, len(r) - 1, : lm.EOS + 1]))
                done[i] = nxt == lm.EOS or len(r) + 1 >= seq_len
                if nxt != lm.EOS:
                    r.append(nxt)
                    out[i].append(nxt)
        if all(done):
            break
    return [o.decode("utf-8", "replace") for o in out]


def timed(fn, repeats: int) -> float:
    fn()  # warm-up: tracing
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    chat = models.load("byte-lm-chat")
    prompts = lm_data.skill("camel").prompts["test"][: args.prompts]
    assert python_loop(chat, prompts) == lm_data.generate(chat, prompts), "the two greedy paths disagree"
    tokens = sum(len(a) + 1 for a in lm_data.generate(chat, prompts))
    loop = timed(lambda: python_loop(chat, prompts), args.repeats)
    greedy = timed(lambda: lm_data.generate(chat, prompts), args.repeats)
    sampled = timed(lambda: lm_data.sample_ids(chat, prompts, k=4, temperature=1.0, seed=1), args.repeats)
    drawn = int((lm_data.sample_ids(chat, prompts, k=4, temperature=1.0, seed=1) != lm.PAD).sum())
    print(f"{len(prompts)} prompts, {tokens} greedy tokens; medians of {args.repeats} calls")
    print(f"python loop, full window   {loop:7.2f} s  {1000 * loop / tokens:6.1f} ms per token")
    print(f"compiled greedy            {greedy:7.2f} s  {1000 * greedy / tokens:6.1f} ms per token  "
          f"({loop / greedy:.2f}x faster)")
    print(f"compiled sampling, k = 4   {sampled:7.2f} s  {1000 * sampled / drawn:6.1f} ms per token ({drawn} tokens)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
