"""The workbook's library: fine-tuning open-weight models without losing what they know.

Importing ``utils`` (or any of its modules) sets ``TF_USE_LEGACY_KERAS=1`` before
TensorFlow loads, so ``tf.keras`` and ``tensorflow_hub.KerasLayer`` use Keras 2
(the ``tf_keras`` package). Keras 3 rejects hub layers; see ``utils.env``.

Modules, in layers (a module imports only from its own layer or below; ``tests/test_layers.py`` checks it and
``docs/ARCHITECTURE.md`` draws it):
    shared       common, paths, metrics, env   seeding, atomic writes, settings compared; where files live; metrics
    catalogue    catalog                        the bundled models' names, recipes, files and metadata
    models       models, runtime, quantize      ``models.load``: one way to load a model; how TensorFlow runs it; NF4
    tasks        tasks                          ``Task``: what the runner trains on, whatever the track
    tracks       image_data                     the digits: task A, the task-B variants, ``ImageBench``
                 text_model, text_data          all-MiniLM-L6-v2 ported; the intents and ``TextBench``
                 lm_model, lm_data              the byte-level language model; its skills and ``CapabilitySuite``
    builders     zoo                            builds the bundled models
    methods      methods/                       one file per method; ``methods/base.py`` declares the hooks
    runner       train, heads, pool, checkpoint, results   ``finetune``: the one runner (it imports no track)
    experiments  suites, compare, lm_experiments, merging, evidence, robust, report, plots, costs, finetune_cli
    course       exercise, interview, curriculum, lab      notebooks' helpers, ``make run``, ``make lab``
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
    before TensorFlow runs anything, as notebooks 04, 05 and 06 do first; a TF_NUM_INTRAOP_THREADS set by hand wins."""
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
