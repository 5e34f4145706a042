"""One way to load an open-weight model: ``load(model)`` returns a ``hub.KerasLayer``.

``model`` may be
    * a bundled model name, e.g. ``"digits-convnet"`` (see ``python -m utils.zoo list``);
    * a local SavedModel folder (the one holding ``saved_model.pb``);
    * a tfhub.dev / Kaggle Models handle such as
      ``"https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5"``, which needs
      the network the first time (then it is cached under ``TFHUB_CACHE_DIR``).

Every problem is reported before any training starts, by an exception that says what was
wrong and what to do: ``ModelNotFoundError``, ``NotASavedModelError``, ``HubOfflineError``,
``StaleHubCacheError``, ``IncompatibleInputError`` (all subclasses of ``ModelLoadError``).
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from . import zoo

NETWORK_TIMEOUT_S = 3.0


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says why and what to do."""


class ModelNotFoundError(ModelLoadError):
    """Neither a bundled name, nor an existing path, nor a hub handle."""


class NotASavedModelError(ModelLoadError):
    """The path exists but holds no saved_model.pb / saved_model.pbtxt."""


class HubOfflineError(ModelLoadError):
    """A tfhub.dev / Kaggle handle that is not cached, with no network to fetch it."""


class StaleHubCacheError(ModelLoadError):
    """The hub cache holds a folder for the handle, but no SavedModel inside."""


class IncompatibleInputError(ModelLoadError):
    """The data does not have the shape or type the model's input signature asks for."""


def bundled_names() -> list[str]:
    """Names of the models this workbook ships or builds."""
    return list(zoo.BUNDLED)


def is_hub_handle(model: str) -> bool:
    """True for URLs (tfhub.dev, kaggle.com, any http(s) address) handled by tensorflow_hub's resolvers."""
    return isinstance(model, str) and (model.startswith(("http://", "https://")) or model.startswith("tfhub.dev/"))


def hub_cache_folder(handle: str) -> Path:
    """Where tensorflow_hub caches ``handle``: ``$TFHUB_CACHE_DIR/<sha1 of handle>``."""
    cache = os.environ.get("TFHUB_CACHE_DIR") or os.path.join(tempfile.gettempdir(), "tfhub_modules")
    return Path(cache) / hashlib.sha1(handle.encode("utf8")).hexdigest()


def _has_saved_model(folder: Path) -> bool:
    return (folder / "saved_model.pb").exists() or (folder / "saved_model.pbtxt").exists()


def _network_reachable(url: str, timeout: float = NETWORK_TIMEOUT_S) -> bool:
    host = urlparse(url if "://" in url else "https://" + url).hostname or ""
    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def resolve(model) -> str:
    """The path or handle that ``hub.KerasLayer`` should open for ``model``; raises ModelLoadError."""
    if isinstance(model, os.PathLike):
        model = os.fspath(model)
    if not isinstance(model, str) or not model:
        raise ModelNotFoundError(f"model must be a bundled name, a SavedModel path or a hub handle, got {model!r}")
    options = (
        f"bundled models: {', '.join(bundled_names())}; or a local SavedModel folder; "
        "or a tfhub.dev handle (needs the network once)"
    )
    if model in zoo.BUNDLED:
        folder = zoo.BUNDLED[model].path
        if not _has_saved_model(folder):
            raise ModelNotFoundError(
                f"bundled model {model!r} is not built yet ({folder} has no saved_model.pb): "
                f"run `python -m utils.zoo build {model}` or `make models`"
            )
        return str(folder)
    if is_hub_handle(model):
        handle = model if "://" in model else "https://" + model
        cached = hub_cache_folder(handle)
        if cached.exists():
            if _has_saved_model(cached):
                return handle
            raise StaleHubCacheError(
                f"the hub cache folder {cached} for {handle} holds no SavedModel (an interrupted download?): "
                f"delete that folder and load again (TFHUB_CACHE_DIR chooses where the cache lives)"
            )
        if not _network_reachable(handle):
            raise HubOfflineError(
                f"cannot download {handle}: no network. Offline options: set TFHUB_CACHE_DIR to a cache "
                f"that holds it, download it elsewhere and pass the local SavedModel folder, "
                f"or use a bundled model ({', '.join(bundled_names())})"
            )
        return handle
    folder = Path(model).expanduser()
    if folder.exists():
        if folder.is_dir() and _has_saved_model(folder):
            return str(folder)
        raise NotASavedModelError(
            f"{folder} is not a SavedModel: it contains neither saved_model.pb nor saved_model.pbtxt. "
            "Point at the folder that holds saved_model.pb (for a model saved with tf.saved_model.save)"
        )
    looks_like_path = os.sep in model or model.startswith((".", "~"))
    what = f"no such folder: {model}" if looks_like_path else f"unknown model {model!r}"
    raise ModelNotFoundError(f"{what}. Use one of the {options}")


def load(model, trainable: bool = False, **kwargs):
    """A ``hub.KerasLayer`` for a bundled name, a SavedModel path or a tfhub.dev handle.

    trainable: whether fine-tuning may change the layer's variables.
    kwargs: passed to ``hub.KerasLayer`` (``signature``, ``output_key``, ``arguments``...).
    """
    import tensorflow_hub as hub

    location = resolve(model)
    if not is_hub_handle(location) and zoo.read_meta(location).get("kind") == "text_preprocessor":
        import tensorflow_text  # noqa: F401  registers the ops the preprocessor uses (NormalizeUTF8...)
    try:
        return hub.KerasLayer(location, trainable=trainable, **kwargs)
    except Exception as e:  # tensorflow raises many kinds; say which model failed, keep the cause
        hint = ""
        if "Op type not registered" in str(e):
            hint = " (a text model: `import tensorflow_text` before loading it)"
        raise ModelLoadError(f"could not load {model!r} from {location}: {type(e).__name__}: {e}{hint}") from e


def input_signature(layer):
    """The ``tf.TensorSpec`` of the layer's first input, or None when the SavedModel does not say."""
    import tensorflow as tf

    obj = getattr(layer, "_func", None)
    signature = getattr(layer, "_signature", None)
    if signature and obj is not None and signature in getattr(obj, "signatures", {}):
        concretes = [obj.signatures[signature]]
    else:
        call = getattr(obj, "__call__", None)  # noqa: B004  the restored tf.function, read for its signatures
        concretes = getattr(call, "concrete_functions", None) or []
    for concrete in concretes:
        specs = [s for s in tf.nest.flatten(concrete.structured_input_signature) if isinstance(s, tf.TensorSpec)]
        if specs:
            return specs[0]
    return None


def check_input(layer, data, name: str = "the data") -> None:
    """Raise IncompatibleInputError unless ``data`` (an array, or its shape) fits the layer's input.

    The batch dimension is not checked; every other known dimension must match.
    """
    import tensorflow as tf

    spec = input_signature(layer)
    if spec is None:
        return
    shape = tuple(data) if isinstance(data, (tuple, list)) else tuple(np.shape(data))
    expected = tuple(spec.shape.as_list()) if spec.shape.rank is not None else None
    handle = getattr(layer, "_handle", None) or "the model"
    if expected is not None and (
        len(expected) != len(shape) or any(e is not None and e != s for e, s in zip(expected[1:], shape[1:]))
    ):
        raise IncompatibleInputError(
            f"{handle} expects inputs of shape {tuple(expected)} ({spec.dtype.name}) but {name} has shape "
            f"{shape}: reshape or resize the data, or choose a model made for this input"
        )
    if not isinstance(data, (tuple, list)):
        dtype = tf.as_dtype(np.asarray(data).dtype) if not isinstance(data, tf.Tensor) else data.dtype
        if dtype.is_floating != spec.dtype.is_floating or (spec.dtype == tf.string) != (dtype == tf.string):
            raise IncompatibleInputError(
                f"{handle} expects {spec.dtype.name} inputs but {name} is {dtype.name}: convert it first"
            )


def load_head(model):
    """The task-A classification head shipped beside a bundled model, as a frozen tf_keras Dense layer.

    Returns None when the model has no head.npz (for example a tfhub.dev handle).
    """
    import tf_keras as keras

    location = resolve(model)
    if is_hub_handle(location):
        return None
    f = Path(location) / zoo.HEAD_FILE
    if not f.exists():
        return None
    w = np.load(f)
    head = keras.layers.Dense(w["kernel"].shape[1], name="old_head", trainable=False)
    head.build((None, w["kernel"].shape[0]))
    head.set_weights([w["kernel"], w["bias"]])
    return head


__all__ = [
    "load",
    "load_head",
    "resolve",
    "check_input",
    "input_signature",
    "bundled_names",
    "hub_cache_folder",
    "ModelLoadError",
    "ModelNotFoundError",
    "NotASavedModelError",
    "HubOfflineError",
    "StaleHubCacheError",
    "IncompatibleInputError",
]
