"""The environment check printed at the top of every notebook: versions, and what to do when one is off."""

from __future__ import annotations

import os
import platform


def check_environment(verbose: bool = True) -> dict:
    """Versions of TensorFlow, tf_keras, tensorflow-hub, tensorflow-text and the Keras switch.

    Returns {"versions": {...}, "problems": [str, ...]}; each problem says how to fix it.
    """
    import tensorflow as tf

    versions = {"python": platform.python_version(), "tensorflow": tf.__version__}
    problems = []
    if os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        problems.append("TF_USE_LEGACY_KERAS is not 1: `import utils` before TensorFlow (it sets it), then restart.")
    try:
        import tf_keras

        versions["tf_keras"] = tf_keras.__version__
        if tf.keras.layers.Layer is not tf_keras.layers.Layer:
            problems.append(
                f"tf.keras is {tf.keras.__name__} (Keras 3), which rejects hub.KerasLayer: restart the kernel and "
                "import utils first, or set TF_USE_LEGACY_KERAS=1 before importing TensorFlow."
            )
    except ImportError:
        problems.append("tf_keras is missing: `pip install tf-keras==<your tensorflow version>` (Keras 2 for TF Hub).")
    try:
        import tensorflow_hub

        versions["tensorflow_hub"] = tensorflow_hub.__version__
    except ImportError:
        problems.append("tensorflow-hub is missing: `pip install tensorflow-hub==0.16.1`.")
    try:
        import tensorflow_text

        versions["tensorflow_text"] = tensorflow_text.__version__
        if tensorflow_text.__version__.split(".")[:2] != tf.__version__.split(".")[:2]:
            problems.append(
                f"tensorflow-text {tensorflow_text.__version__} is built for another TensorFlow than "
                f"{tf.__version__}: install tensorflow-text=={'.'.join(tf.__version__.split('.')[:2])}.*"
            )
    except Exception as e:  # ImportError, or the undefined-symbol error of a mismatched build
        problems.append(
            f"tensorflow_text does not import ({type(e).__name__}: {str(e)[:120]}). An `undefined symbol: "
            "_ZN10tensorflow...` error means it was built for another TensorFlow: pin both to the same minor version."
        )
    versions["TF_USE_LEGACY_KERAS"] = os.environ.get("TF_USE_LEGACY_KERAS", "<unset>")
    versions["cpus"] = os.cpu_count()
    versions["gpus"] = len(tf.config.list_physical_devices("GPU"))
    if verbose:
        for k, v in versions.items():
            print(f"{k:20s} {v}")
        print("environment OK" if not problems else "PROBLEMS:\n- " + "\n- ".join(problems))
    return {"versions": versions, "problems": problems}
