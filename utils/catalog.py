"""The catalogue of bundled models: their names, files and metadata. No TensorFlow, no builders.

``utils.models`` reads it to resolve a bundled name; ``utils.zoo`` builds what it lists. Each model folder
under ``data/models/NAME`` holds a SavedModel plus:

    head.npz       the task-A classification head: kernel float32 [features, classes], bias [classes]
    model.json     what the model is: input shape, feature size, classes, measured accuracies
    MODEL_CARD.md  how it was built, its measured accuracy, input spec and licences
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from . import paths

HEAD_FILE = "head.npz"
META_FILE = "model.json"
CARD_FILE = "MODEL_CARD.md"


@dataclass(frozen=True)
class DigitsRecipe:
    """How a digits feature extractor is pretrained. Units: epochs, examples per batch."""

    classes: tuple[int, ...] = tuple(range(10))
    seed: int = 0
    epochs: int = 60
    batch_size: int = 32
    learning_rate: float = 2e-3  # peak of a cosine decay to 0
    augment_shift: int = 1  # pixels of random translation during pretraining
    augment_noise: float = 0.05  # std of Gaussian pixel noise during pretraining
    feature_dim: int = 64


PRETRAINING_LENGTHS = (5, 20, 60, 240)  # epochs of the digits-convnet variants (60: the bundled default)


@dataclass(frozen=True)
class MiniLMRecipe:
    """all-MiniLM-L6-v2 ported from its released weights (see ``utils.text_model``); no training."""

    part: str  # "encoder" | "preprocessor"
    seq_len: int = 32
    # the port's version, kept in model.json: a build of another version is out of date, and `make models` builds it
    # again (2: dense layers as one 2-D matmul, whose gradient is about 1.3x faster to train through)
    version: int = 2


@dataclass(frozen=True)
class ByteLMRecipe:
    """How the byte-level language model is pretrained on the standard library's source (``utils.lm_model``).
    Units: optimizer steps, windows per batch, bytes of context."""

    part: str  # "model" | "preprocessor"
    seed: int = 0
    steps: int = 6000
    batch_size: int = 32
    learning_rate: float = 3e-3  # peak of a linear warm-up then cosine decay to a tenth
    warmup: int = 200
    layers: int = 4
    d_model: int = 128
    heads: int = 4
    ctx: int = 128
    threads: int = 2  # TensorFlow intra-op threads while pretraining: ~1.7x faster than the workbook's 1 here


@dataclass(frozen=True)
class ChatRecipe:
    """How the instruction-tuned ``byte-lm-chat`` is made from ``base`` (``utils.zoo``): supervised fine-tuning through
    the workbook's one runner on the instruction mixture (``utils.lm_data.instruction_mixture``: every capability's
    ``train_examples``, the facts' phrasings repeated ``facts_repeat`` times), with ``general_share`` of every batch
    replayed from general text. Units: epochs over the mixture, examples per batch, optimizer steps of warm-up."""

    base: str = "byte-lm"
    train_examples: int = 1024
    facts_repeat: int = 4
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 1e-3  # Adam's peak, after the warm-up, then cosine decay to 0
    warmup: int = 100
    general_share: float = 0.25
    seed: int = 0
    threads: int = 2


@dataclass(frozen=True)
class BundledModel:
    """A model this workbook ships or builds: its name, what it is and how to build it."""

    name: str
    summary: str
    recipe: object
    committed: bool  # True: the artifact is in git; False: built by `make` when missing

    @property
    def path(self) -> Path:
        return paths.MODELS_DIR / self.name


BUNDLED: dict[str, BundledModel] = {
    m.name: m
    for m in (
        BundledModel(
            "digits-convnet",
            "convnet feature extractor (64-d) pretrained on digits 0-9; task-A head in head.npz",
            DigitsRecipe(),
            committed=True,
        ),
        BundledModel(
            "digits-convnet-0to4",
            "the same convnet pretrained on digits 0-4 only (task A of the 'split' pair)",
            DigitsRecipe(classes=tuple(range(5))),
            committed=True,
        ),
        *(BundledModel(
            f"digits-convnet-e{epochs}",
            f"the same convnet pretrained for {epochs} epochs instead of 60 (notebook 01: is the open model "
            f"under- or over-trained on its source?)",
            DigitsRecipe(epochs=epochs),
            committed=True,
        ) for epochs in PRETRAINING_LENGTHS if epochs != DigitsRecipe.epochs),
        BundledModel(
            "byte-lm",
            "byte-level causal language model (4 layers, d=128) pretrained on the Python standard library's source: "
            "int32 ids -> next-byte logits",
            ByteLMRecipe("model"),
            committed=True,
        ),
        BundledModel(
            "byte-lm-chat",
            "byte-lm instruction-tuned in a chat template on six capabilities (transformations, counting, knowledge, "
            "format): int32 ids -> next-byte logits",
            ChatRecipe(),
            committed=True,
        ),
        BundledModel(
            "byte-lm-preprocess",
            "its tensorflow_text preprocessor: strings -> int32 ids [N, 128] (BOS, UTF-8 bytes, PAD)",
            ByteLMRecipe("preprocessor"),
            committed=True,
        ),
        BundledModel(
            "minilm-l6",
            "all-MiniLM-L6-v2 sentence encoder (22.7M parameters): int32 token ids -> 384-d normalised embeddings",
            MiniLMRecipe("encoder"),
            committed=False,
        ),
        BundledModel(
            "minilm-l6-preprocess",
            "its tensorflow_text preprocessor: strings -> 32 token ids ([CLS] ... [SEP], 0-padded)",
            MiniLMRecipe("preprocessor"),
            committed=False,
        ),
    )
}


def is_built(name: str) -> bool:
    """True when the bundled model's files are all present and, for a recipe with a ``version``, of that version."""
    model = BUNDLED[name]
    p = model.path
    if not ((p / "saved_model.pb").exists() and (p / META_FILE).exists()):
        return False
    version = getattr(model.recipe, "version", None)
    return version is None or read_meta(p).get("version") == version


def read_meta(path: Path) -> dict:
    """model.json of a built model folder ({} when the folder has none)."""
    f = Path(path) / META_FILE
    return json.loads(f.read_text()) if f.exists() else {}
