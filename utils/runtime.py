"""How TensorFlow runs the runner's functions: the compiled features function, Grappler's graph rewrites, the
``tf.distribute`` strategies (data-parallel on several devices or machines), and whether to draw progress bars.
No method, no track."""

from __future__ import annotations

import contextlib
import os

import numpy as np


def features_function(backbone, example, strategy):
    """x -> backbone features in inference mode (under a strategy, computed by its first replica), as one
    ``tf.function`` for every batch size (and every sequence length, for token ids). Called directly, a restored
    SavedModel function sets itself up again for each new input shape, about 0.2 s each for a transformer."""
    import tensorflow as tf

    spec = features_spec(example)
    if strategy is None:
        return tf.function(lambda x: backbone(x, training=False), input_signature=[spec])
    run = tf.function(lambda x: strategy.run(lambda v: backbone(v, training=False), args=(x,)), input_signature=[spec])
    return lambda x: strategy.experimental_local_results(run(x))[0]


def features_spec(example):
    """The input signature of ``_features_function``: any batch size (and any length, for token ids)."""
    import tensorflow as tf

    example = np.asarray(example)
    shape = [None] * example.ndim if token_ids(example) else [None, *example.shape[1:]]
    return tf.TensorSpec(shape, tf.as_dtype(example.dtype))


def token_ids(x) -> bool:
    """Whether inputs are token ids (integers: the transformers' inputs), not images (floats)."""
    return np.asarray(x).dtype.kind in "iu"


@contextlib.contextmanager
def graph_rewrites(enabled: bool = True):
    """Within: Grappler's graph rewrites on (TensorFlow's default) or off, for the functions first run here.

    ``finetune`` turns them off for the transformers (token-id inputs: MiniLM, byte-lm): rewriting their training
    graph (the restored model's forward and backward, the optimizer, the epoch's loop) cost 1.5 to 2 s at each run's
    first call, more than the rewritten graph saves per step over a run of a few dozen steps
    (``benchmarks/bench_lm.py`` measures both for the language model). On for the convnet, whose graph is small."""
    import tensorflow as tf

    before = tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": not enabled})
    try:
        yield
    finally:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": before})


def mirrored_strategy(cpus: int = 2):
    """A ``tf.distribute.MirroredStrategy`` over the GPUs, or over ``cpus`` logical CPU devices without one.

    Splitting the CPU must happen before TensorFlow first uses it: call this at the start of a process.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        try:
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpus)
        except RuntimeError as e:
            if len(tf.config.list_logical_devices("CPU")) < cpus:
                raise RuntimeError(
                    "TensorFlow is already running on one CPU device: create the mirrored strategy at the "
                    "start of a new process (for example `python -m utils.finetune_cli --strategy mirrored`)"
                ) from e
        devices = [d.name for d in tf.config.list_logical_devices("CPU")[:cpus]]
    else:
        devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    return tf.distribute.MirroredStrategy(devices)


def multi_worker_strategy():
    """A ``tf.distribute.MultiWorkerMirroredStrategy`` over the workers that ``TF_CONFIG`` names (one process per
    machine, each with the same command). Create it at the start of the process, before TensorFlow runs anything.

    TF_CONFIG on worker i: {"cluster": {"worker": ["host0:port", "host1:port"]}, "task": {"type": "worker", "index": i}}
    """
    import json

    import tensorflow as tf

    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "null")
        workers = config["cluster"]["worker"]
        index = config["task"]["index"]
    except (ValueError, TypeError, KeyError) as e:
        raise RuntimeError(
            'the multi-worker strategy needs TF_CONFIG on every worker, e.g. {"cluster": {"worker": ["10.0.0.1:2222", '
            f'"10.0.0.2:2222"]}}, "task": {{"type": "worker", "index": 0}}}} (got {os.environ.get("TF_CONFIG")!r})') from e
    if not 0 <= int(index) < len(workers):
        raise RuntimeError(f"TF_CONFIG's task index {index} is not one of the {len(workers)} workers")
    return tf.distribute.MultiWorkerMirroredStrategy()


def progress_enabled(progress) -> bool:
    """Whether to draw a progress bar: ``progress`` when given, else not when WORKBOOK_PROGRESS=0 (tests, and the
    kernels ``make run`` executes, whose saved outputs would keep every frame of the bar)."""
    if progress is not None:
        return bool(progress)
    return os.environ.get("WORKBOOK_PROGRESS", "1") != "0"


def learning_rate_schedule(rate: float, schedule: str = "constant", steps: int = 1, warmup: int = 0, floor: float = 0.0):
    """The learning rate over ``steps`` optimizer steps: "constant" or "cosine" (from ``rate`` down to
    ``floor * rate``), after ``warmup`` steps of linear warm-up from 0 (tf_keras's ``CosineDecay`` with
    ``warmup_target``). Without warm-up a constant rate is the plain number."""
    import tf_keras as keras

    cosine = keras.optimizers.schedules.CosineDecay
    if not warmup:
        return cosine(rate, max(1, steps), alpha=floor) if schedule == "cosine" else rate
    alpha = floor if schedule == "cosine" else 1.0  # alpha = 1: the cosine stays at its start, a constant rate
    return cosine(0.0, max(1, steps - warmup), alpha=alpha, warmup_target=rate, warmup_steps=warmup)
