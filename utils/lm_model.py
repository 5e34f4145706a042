"""A small byte-level causal language model: its corpus, model, tokeniser, pretraining and bits-per-byte.

The corpus every machine has: the Python standard library's source (code, comments and docstrings: code and
English). It is split *by file* into pretraining text and held-out text; the held-out text is committed
(``data/lm/heldout.txt``) so that every machine evaluates on the same bytes, whatever its Python.

Tokens are bytes (ids 0-255) plus three specials: BOS starts every text, EOS ends an answer (the skills of
notebook 05 learn to emit it), PAD fills a batch. ``make_preprocessor`` does it in the graph with
tensorflow_text's ``ByteSplitter``, so the exported preprocessor takes strings.

Bits per byte (the unit of compressors and of PEFT's forgetting benchmark, in bits): the model's mean
next-byte cross-entropy on held-out text, in log base 2, every byte scored with at least ``ctx // 2`` bytes of
context. ``compressor_bits_per_byte`` gives gzip, bz2 and lzma on the same bytes, for scale.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import lzma
import math
import sysconfig
from pathlib import Path

import numpy as np

from . import paths

BOS, EOS, PAD = 256, 257, 258
VOCAB = 260  # 256 bytes + BOS, EOS, PAD + one spare (a multiple of 4)
MLP_RATIO = 4  # the MLP's hidden width, in multiples of d_model
LM_DIR = paths.ROOT / "data" / "lm"
HELDOUT_FILE = LM_DIR / "heldout.txt"
REPLAY_FILE = LM_DIR / "replay.txt"  # a sample of the pretraining text: what replay mixes into fine-tuning batches
EXCLUDED = ("site-packages", "test", "tests", "idlelib", "lib2to3", "encodings", "pydoc_data", "turtledemo",
            "ensurepip", "__pycache__")
HELDOUT_EVERY = 16  # a file is held out when sha256(its path) % 16 == 0: about 3 % of the bytes
SEPARATOR = "\n# ===== {name} =====\n"  # between files of the held-out text (scored like the rest)


def stdlib_files(root: Path | None = None) -> list[Path]:
    """The corpus: every ``.py`` file of the standard library, sorted, without tests, vendored tools and tables."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    files = [p for p in root.rglob("*.py")
             if not any(part in EXCLUDED or part.startswith("config-") for part in p.relative_to(root).parts[:-1])]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def _bucket(relative: str) -> int:
    """A stdlib-relative path's bucket, 0 .. HELDOUT_EVERY - 1, fixed by its name alone."""
    return int(hashlib.sha256(relative.encode()).hexdigest(), 16) % HELDOUT_EVERY


def is_heldout(relative: str) -> bool:
    """Whether the file at this stdlib-relative path belongs to the held-out text (bucket 0)."""
    return _bucket(relative) == 0


def split_corpus(root: Path | None = None) -> tuple[list[Path], list[Path]]:
    """(pretraining files, held-out files) of the standard library, split by file name."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    files = stdlib_files(root)
    held = [p for p in files if is_heldout(p.relative_to(root).as_posix())]
    return [p for p in files if p not in held], held


def join_files(files, root: Path | None = None) -> bytes:
    """The files' bytes, each introduced by a separator line that names it."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    return b"".join(SEPARATOR.format(name=p.relative_to(root).as_posix()).encode() + p.read_bytes() for p in files)


def is_replay(relative: str) -> bool:
    """Whether a pretraining file belongs to the committed replay sample (bucket 1)."""
    return _bucket(relative) == 1


def write_texts() -> dict:
    """Write the held-out text and the replay sample (``python -m utils.lm_model texts``); the committed copies are
    what notebooks and tests read, so they are identical on every machine."""
    root = Path(sysconfig.get_paths()["stdlib"])
    pretraining, held = split_corpus(root)
    replay = [p for p in pretraining if is_replay(p.relative_to(root).as_posix())]
    out = {HELDOUT_FILE: join_files(held, root), REPLAY_FILE: join_files(replay, root)}
    for path, text in out.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text)
    return out


def _committed(path: Path) -> bytes:
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it is committed with the workbook (restore it with git, "
                                "or write this Python's with `python -m utils.lm_model texts`)")
    return path.read_bytes()


def heldout_text() -> bytes:
    """The committed held-out text (bytes): never trained on."""
    return _committed(HELDOUT_FILE)


def replay_text() -> bytes:
    """The committed replay sample (bytes): files of the pretraining text."""
    return _committed(REPLAY_FILE)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compressor_bits_per_byte(data: bytes) -> dict:
    """Bits per byte of gzip -9, bz2 -9 and lzma -9e (xz) on ``data``: what a general-purpose compressor reaches."""
    sizes = {"gzip -9": len(gzip.compress(data, 9, mtime=0)), "bz2 -9": len(bz2.compress(data, 9)),
             "lzma -9e": len(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))}
    return {k: 8 * v / len(data) for k, v in sizes.items()}


def make_lm(recipe):
    """The causal decoder as a tf_keras model: int32 ids [N, T] (T <= recipe.ctx) -> float32 logits [N, T, VOCAB].

    Its shape comes from ``recipe`` (``catalog.ByteLMRecipe``: layers, d_model, heads, ctx): pre-LayerNorm blocks,
    learned positions, a GELU MLP of ``MLP_RATIO`` x d_model, an untied output layer. Every weight matrix is a Dense
    kernel (rank 2), which is what LoRA, L2-SP and EWC act on. No dropout.
    """
    import tensorflow as tf
    import tf_keras as keras

    L = keras.layers
    d, h = recipe.d_model, recipe.heads

    class CausalSelfAttention(L.Layer):
        def __init__(self, **kw):
            super().__init__(**kw)
            self.qkv, self.out = L.Dense(3 * d, name="qkv"), L.Dense(d, name="out")

        def call(self, x):
            n, t = tf.shape(x)[0], tf.shape(x)[1]
            q, k, v = tf.split(tf.reshape(self.qkv(x), [n, t, 3, h, d // h]), 3, axis=2)
            q, k, v = (tf.transpose(tf.squeeze(z, 2), [0, 2, 1, 3]) for z in (q, k, v))  # [N, H, T, D/H]
            scores = tf.einsum("nhqd,nhkd->nhqk", q, k) / math.sqrt(d // h)
            causal = tf.linalg.band_part(tf.ones([t, t]), -1, 0)
            weights = tf.nn.softmax(scores + (1.0 - causal) * -1e9, axis=-1)
            mixed = tf.reshape(tf.transpose(tf.einsum("nhqk,nhkd->nhqd", weights, v), [0, 2, 1, 3]), [n, t, d])
            return self.out(mixed)

    ids = keras.Input([None], dtype="int32", name="ids")
    positions = L.Lambda(lambda z: tf.range(tf.shape(z)[1]), name="positions")(ids)
    x = L.Embedding(VOCAB, d, name="tokens")(ids) + L.Embedding(recipe.ctx, d, name="position")(positions)
    for i in range(recipe.layers):
        x = x + CausalSelfAttention(name=f"attn{i}")(L.LayerNormalization(epsilon=1e-5, name=f"ln_attn{i}")(x))
        y = L.Dense(MLP_RATIO * d, activation="gelu", name=f"mlp_in{i}")(L.LayerNormalization(epsilon=1e-5, name=f"ln_mlp{i}")(x))
        x = x + L.Dense(d, name=f"mlp_out{i}")(y)
    logits = L.Dense(VOCAB, name="logits")(L.LayerNormalization(epsilon=1e-5, name="ln_final")(x))
    return keras.Model(ids, logits, name="byte_lm")


def cached_step(model, heads: int = 4):
    """``make_lm``'s forward with a key/value cache, computed from a loaded model's variables (found by ``make_lm``'s
    names), or None when ``model`` lacks them (another architecture). What makes sampling cost one token a step
    instead of the whole window.

    Returns (step, empty, weights, shape): ``weights``, the model's variables in the order ``step`` takes them (as
    arguments: one compiled decoder serves every model of one ``shape``, trained in place or loaded anew);
    ``empty(n, c)`` -> a zero cache for n rows of c positions (per layer, keys and values [n, heads, c, d/heads]);
    ``step(weights, tokens [N, T], positions [N, T], cache)`` -> (logits [N, T, VOCAB], the cache with each token's
    key and value written at its position): a token attends to its row's positions <= its own. The prompt goes in
    one call (positions 0 .. T-1 of an empty cache), then one token a call, each row at its own position (a scatter
    into the cache). ``heads`` is not in the variables' shapes: ``lm_data`` checks the step against the model
    itself before it trusts it.
    """
    import tensorflow as tf

    found = {v.name.split(":")[0]: v for v in getattr(model, "variables", [])}
    layers = sum(1 for name in found if name.startswith("attn") and name.endswith("/qkv/kernel"))
    blocks = ("ln_attn{}/gamma", "ln_attn{}/beta", "attn{}/qkv/kernel", "attn{}/qkv/bias", "attn{}/out/kernel",
              "attn{}/out/bias", "ln_mlp{}/gamma", "ln_mlp{}/beta", "mlp_in{}/kernel", "mlp_in{}/bias",
              "mlp_out{}/kernel", "mlp_out{}/bias")
    names = ["tokens/embeddings", "position/embeddings", "ln_final/gamma", "ln_final/beta", "logits/kernel",
             "logits/bias", *(b.format(i) for i in range(layers) for b in blocks)]
    if not layers or any(name not in found for name in names) or found["tokens/embeddings"].shape[1] % heads:
        return None
    d = found["tokens/embeddings"].shape[1]
    dh = d // heads

    def write(old, new, positions):  # new [N, H, T, Dh] into old [N, H, C, Dh]
        if new.shape[2] != 1:  # the prompt: positions 0 .. T-1 of an empty cache
            return tf.pad(new, [[0, 0], [0, 0], [0, tf.shape(old)[2] - tf.shape(new)[2]], [0, 0]])
        n = tf.shape(new)[0]
        rows, at = tf.repeat(tf.range(n), heads), tf.repeat(positions[:, 0], heads)  # one slot per row and head
        where = tf.stack([rows, tf.tile(tf.range(heads), [n]), at], 1)
        return tf.tensor_scatter_nd_update(old, where, tf.reshape(new, [n * heads, dh]))

    def step(weights, tokens, positions, cache):
        w = dict(zip(names, weights))

        def norm(x, name):
            mean, var = tf.nn.moments(x, [-1], keepdims=True)
            return (x - mean) * tf.math.rsqrt(var + 1e-5) * w[f"{name}/gamma"] + w[f"{name}/beta"]

        def dense(x, name):
            return tf.einsum("ntd,de->nte", x, w[f"{name}/kernel"]) + w[f"{name}/bias"]

        n, t, c = tf.shape(tokens)[0], tf.shape(tokens)[1], tf.shape(cache[0])[2]
        x = tf.gather(w["tokens/embeddings"], tokens) + tf.gather(w["position/embeddings"], positions)
        hidden = tf.range(c)[None, None, None, :] > positions[:, None, :, None]  # [N, 1, T, C]
        written = []
        for i in range(layers):
            q, k, v = (tf.transpose(tf.reshape(z, [n, t, heads, dh]), [0, 2, 1, 3]) for z in
                       tf.split(dense(norm(x, f"ln_attn{i}"), f"attn{i}/qkv"), 3, axis=-1))
            keys, values = write(cache[2 * i], k, positions), write(cache[2 * i + 1], v, positions)
            scores = tf.einsum("nhtd,nhcd->nhtc", q, keys) / math.sqrt(dh)
            mixed = tf.einsum("nhtc,nhcd->nhtd", tf.nn.softmax(tf.where(hidden, -1e9, scores), axis=-1), values)
            x = x + dense(tf.reshape(tf.transpose(mixed, [0, 2, 1, 3]), [n, t, d]), f"attn{i}/out")
            x = x + dense(tf.nn.gelu(dense(norm(x, f"ln_mlp{i}"), f"mlp_in{i}"), approximate=False), f"mlp_out{i}")
            written += [keys, values]
        return dense(norm(x, "ln_final"), "logits"), tuple(written)

    def empty(n, c):
        return tuple(tf.zeros([n, heads, c, dh]) for _ in range(2 * layers))

    shape = (heads, *((name, tuple(found[name].shape)) for name in names))
    return step, empty, [found[name] for name in names], shape


def make_preprocessor(ctx: int):
    """A tf.Module: strings [N] -> int32 ids [N, ctx]: BOS, the string's UTF-8 bytes (truncated), PAD after."""
    import tensorflow as tf
    import tensorflow_text as text

    class Preprocessor(tf.Module):
        def __init__(self):
            super().__init__()
            self.splitter = text.ByteSplitter()

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, strings):
            tokens = tf.cast(self.splitter.split(strings), tf.int32)[:, : ctx - 1]
            bos = tf.fill([tf.shape(strings)[0], 1], BOS)
            return tf.concat([bos, tokens], axis=1).to_tensor(default_value=PAD, shape=[None, ctx])

    return Preprocessor()


def encode(texts, ctx: int | None = None) -> list[np.ndarray]:
    """Python-side twin of the preprocessor, unpadded: [BOS, bytes...] per text (int32)."""
    out = [np.frombuffer(t.encode() if isinstance(t, str) else t, np.uint8).astype(np.int32) for t in texts]
    return [np.concatenate([[BOS], o[: None if ctx is None else ctx - 1]]).astype(np.int32) for o in out]


def windows(data: bytes, ctx: int, stride: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Evaluation windows over ``data``: (ids [W, ctx + 1], scored [W, ctx] bool). Window i starts at i * stride;
    it scores its targets from position ``ctx - stride`` on (all of them in the first window), so each byte is
    scored exactly once, with at least ``ctx - stride`` bytes of context (``stride`` defaults to ctx // 2)."""
    stride = stride or ctx // 2
    arr = np.frombuffer(data, np.uint8).astype(np.int32)
    stream = np.concatenate([[BOS], arr])
    starts = list(range(0, max(len(stream) - ctx - 1, 0) + 1, stride))
    if starts[-1] + ctx + 1 < len(stream):
        starts.append(len(stream) - ctx - 1)
    ids = np.full((len(starts), ctx + 1), PAD, np.int32)
    scored = np.zeros((len(starts), ctx), bool)
    covered = 0  # stream positions (targets) scored so far, exclusive
    for w, s in enumerate(starts):
        chunk = stream[s : s + ctx + 1]
        ids[w, : len(chunk)] = chunk
        first = max(covered, s + 1)  # the first target position this window scores
        scored[w, first - s - 1 : len(chunk) - 1] = True
        covered = s + len(chunk)
    return ids, scored


def bits_per_byte(model, data: bytes, ctx: int = 128, batch_size: int = 64) -> dict:
    """{"bits_per_byte", "nats_per_byte", "next_byte_accuracy", "bytes"} of ``model`` (ids -> logits) on ``data``."""
    import tensorflow as tf

    ids, scored = windows(data, ctx)
    nll = correct = 0.0
    for i in range(0, len(ids), batch_size):
        x, y, m = ids[i : i + batch_size, :-1], ids[i : i + batch_size, 1:], scored[i : i + batch_size]
        logits = model(tf.constant(x))
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits).numpy()
        nll += float((ce * m).sum())
        correct += float(((np.argmax(logits.numpy(), -1) == y) & m).sum())
    n = int(scored.sum())
    return {"bits_per_byte": nll / n / math.log(2), "nats_per_byte": nll / n, "next_byte_accuracy": correct / n,
            "bytes": n}


def pretraining_stream(files) -> np.ndarray:
    """The pretraining text as one int32 token stream: BOS, then each file's bytes, file after file."""
    parts = [np.concatenate([[BOS], np.frombuffer(p.read_bytes(), np.uint8)]) for p in files]
    return np.concatenate(parts).astype(np.int32)


def pretrain(recipe, stream: np.ndarray, log_every: int = 0, log=print):
    """Pretrain ``make_lm(recipe)`` on random windows of ``stream`` for ``recipe.steps`` steps of
    ``recipe.batch_size``: AdamW, linear warm-up over ``recipe.warmup`` steps to ``recipe.learning_rate``, then cosine
    decay to a tenth; the step is compiled with XLA. Deterministic given ``recipe.seed`` on one machine.
    Returns (model, losses)."""
    import tensorflow as tf
    import tf_keras as keras

    from .common import seed_everything
    from .runtime import learning_rate_schedule

    seed_everything(recipe.seed)
    model = make_lm(recipe)
    schedule = learning_rate_schedule(recipe.learning_rate, "cosine", recipe.steps, recipe.warmup, floor=0.1)
    optimizer = keras.optimizers.AdamW(schedule, weight_decay=0.01, beta_2=0.99, global_clipnorm=1.0)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta", "embeddings"])
    variables = model.trainable_variables

    @tf.function(jit_compile=True)
    def step(batch):
        with tf.GradientTape() as tape:
            logits = model(batch[:, :-1], training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=batch[:, 1:], logits=logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return loss

    rng = np.random.default_rng(recipe.seed)
    offsets = np.arange(recipe.ctx + 1)
    losses = []
    for i in range(recipe.steps):
        starts = rng.integers(0, len(stream) - recipe.ctx - 1, recipe.batch_size)
        losses.append(float(step(tf.constant(stream[starts[:, None] + offsets]))))
        if log_every and (i + 1) % log_every == 0:
            log(f"step {i + 1}/{recipe.steps}: loss {np.mean(losses[-log_every:]) / math.log(2):.3f} bits/byte")
    return model, losses


def main(argv=None) -> int:
    """``python -m utils.lm_model texts``: (re)write the held-out text and the replay sample from this Python's stdlib."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m utils.lm_model", description="the byte-level language model's data")
    parser.add_argument("command", choices=["texts"], help="texts: write data/lm/heldout.txt and replay.txt")
    parser.parse_args(argv)
    for path, text in write_texts().items():
        print(f"wrote {path} ({len(text):,} bytes, sha256 {sha256(text)[:16]}…)")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
