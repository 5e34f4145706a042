"""What decoding from the chat model costs: the compiled, batched decoder (``utils.lm_data.sample_ids``) with its
key/value cache, without it (the model run on the window each step), and a plain Python loop that calls the model
once per token on the full window (what ``lm_data.generate`` did first), measured side by side in this one process;
and what sampling k answers per prompt costs, with and without the cache (on-policy methods sample every round).

    python benchmarks/bench_sampling.py      # about 2 minutes on 2 CPU cores

Prints, for 32 camel prompts: seconds per call (median of the repeats, after one warm-up call) of the Python loop,
the compiled greedy decoder and the compiled sampler at k = 4, each compiled one without and with the cache, the
ratios, and milliseconds per generated token. Every path must write the same tokens (checked here). With 2
intra-op threads, as the language-model notebooks run.
"""

from __future__ import annotations

import argparse
import statistics
import time

import utils  # Keras 2 for TF Hub

utils.transformer_threads()  # as notebook 05 runs, before TensorFlow starts

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
    draws = {cache: lm_data.sample_ids(chat, prompts, k=4, seed=1, cache=cache) for cache in (False, True)}
    assert (draws[False] == draws[True]).all(), "sampling with and without the cache disagree"
    drawn = int((draws[True] != lm.PAD).sum())
    loop = timed(lambda: python_loop(chat, prompts), args.repeats)
    rows = {}
    for cache in (False, True):
        greedy = timed(lambda c=cache: lm_data.sample_ids(chat, prompts, k=1, temperature=0.0, cache=c), args.repeats)
        rows[cache] = (greedy, timed(lambda c=cache: lm_data.sample_ids(chat, prompts, k=4, seed=1, cache=c), args.repeats))
    print(f"{len(prompts)} prompts, {tokens} greedy tokens, {drawn} sampled (k = 4); medians of {args.repeats} calls")
    print(f"python loop, full window          {loop:7.2f} s  {1000 * loop / tokens:6.1f} ms per token")
    for cache, (greedy, sampled) in rows.items():
        name = "key/value cache" if cache else "windowed"
        print(f"compiled greedy, {name:17s} {greedy:7.2f} s  {1000 * greedy / tokens:6.1f} ms per token  "
              f"({loop / greedy:.2f}x the loop)")
        print(f"compiled k = 4, {name:18s} {sampled:7.2f} s  {1000 * sampled / drawn:6.1f} ms per token")
    print(f"the cache: {rows[False][0] / rows[True][0]:.2f}x faster greedy, {rows[False][1] / rows[True][1]:.2f}x faster "
          "sampling")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
