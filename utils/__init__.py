"""The workbook's library: fine-tuning open-weight models without losing what they know.

Importing ``utils`` (or any of its modules) sets ``TF_USE_LEGACY_KERAS=1`` before
TensorFlow loads, so ``tf.keras`` and ``tensorflow_hub.KerasLayer`` use Keras 2
(the ``tf_keras`` package). Keras 3 rejects hub layers; see ``utils.env``.

Modules, in layers (a module imports only from its own layer or below; ``tests/test_layers.py``):
    common, paths       seeding, atomic writes, JSON conversion; where files live
    catalog             the bundled models' names, recipes, files and metadata
    hub, zoo            ``hub.load``: one way to get a ``hub.KerasLayer``; ``zoo`` builds the bundled models
    data, text_tasks    task A (digits), the task-B variants (permute, rot90, split), the text track
    lm, lm_tasks        the byte-level language model (corpus, model, bits per byte) and its skills
    methods             one file per method; ``methods/base.py`` declares the hooks the runner calls
    train, finetune_cli the runner (``finetune``, ``Run``, ``PROTOCOL``) and the command-line script
    compare, lm_runs, merging, evidence, robust, metrics, plots, costs   comparisons, merges, check cells, figures
    exercise, interview, curriculum, report, env, lab   the course: notebooks' helpers, ``make run``, ``make lab``
"""

import os as _os
import sys as _sys

if "tensorflow" in _sys.modules and _os.environ.get("TF_USE_LEGACY_KERAS") != "1":
    import warnings as _warnings

    _warnings.warn(
        "TensorFlow was imported before utils, without TF_USE_LEGACY_KERAS=1: "
        "tf.keras may be Keras 3, which rejects hub.KerasLayer. Restart the kernel "
        "and import utils (or set TF_USE_LEGACY_KERAS=1) before TensorFlow.",
        stacklevel=2,
    )
_os.environ["TF_USE_LEGACY_KERAS"] = "1"
# Quiet TensorFlow's C++ start-up banner (CUDA probing, CPU feature notes).
_os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The workbook's small models: their ops are too short to gain from splitting each one over cores
# (intra-op), while independent ops can run side by side (inter-op). On 2 cores this makes a training
# step about 1.5x faster. Set here, before TensorFlow starts, so every run uses the same thread
# layout: with op determinism, results are bit-identical for a fixed layout. Transformers split their
# ops over 2 threads (``transformer_threads``). A TF_NUM_INTRAOP_THREADS set by hand wins;
# WORKBOOK_THREADS_SWAP=1 (``make robust``'s thread variant) puts every notebook on its other count.
_DEFAULTED, _SWAP = "WORKBOOK_THREADS_DEFAULTED", "WORKBOOK_THREADS_SWAP"
if "TF_NUM_INTRAOP_THREADS" not in _os.environ or _os.environ.get(_DEFAULTED) == "1":
    _os.environ["TF_NUM_INTRAOP_THREADS"] = "2" if _os.environ.get(_SWAP) == "1" else "1"
    _os.environ[_DEFAULTED] = "1"  # set by the workbook, not by hand: a child process may choose again
_os.environ.setdefault("TF_NUM_INTEROP_THREADS", "2")


def transformer_threads() -> None:
    """Split each TensorFlow op over 2 threads in this process, not 1: worth it for transformers (MiniLM, byte-lm),
    whose matrices are wide enough (``benchmarks/bench_threads.py`` measures both counts side by side). Call it
    before TensorFlow runs anything, as notebooks 04 and 06 do first; a TF_NUM_INTRAOP_THREADS set by hand wins."""
    if _os.environ.get(_DEFAULTED) != "1":
        return
    if "tensorflow" in _sys.modules:
        from tensorflow.python.eager import context

        if context.context()._context_handle is not None:  # the thread pools exist already
            import warnings

            warnings.warn("transformer_threads() comes too late: TensorFlow has started. Restart the kernel and "
                          "call it right after `import utils`.", stacklevel=2)
            return
    _os.environ["TF_NUM_INTRAOP_THREADS"] = "1" if _os.environ.get(_SWAP) == "1" else "2"


__version__ = "0.1.0"
