"""One way to load an open-weight model: ``load(model)`` returns a ``hub.KerasLayer``.

``model`` may be
    * a bundled model name, e.g. ``"digits-convnet"`` (see ``python -m utils.zoo list``);
    * a local SavedModel folder (the one holding ``saved_model.pb``);
    * a tfhub.dev / Kaggle Models handle such as
      ``"https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5"``, which needs
      the network the first time (then it is cached under ``TFHUB_CACHE_DIR``).

Any SavedModel that can be called on a batch loads, not only TF-Hub's "reusable SavedModel" form:

    * reusable SavedModels (TF Hub, ``tf.saved_model.save`` of a tf_keras model; the bundled models):
      ``hub.KerasLayer`` as it is;
    * a plain ``tf.Module`` saved with a ``__call__`` tf.function: its variables are found by walking
      the restored object, so it fine-tunes too;
    * a Keras 3 ``model.export(path)`` archive: its ``serve`` endpoint (the ``serving_default``
      signature's function); a single output is taken automatically; trainable through the exported
      ``trainable_variables``.

Loading a SavedModel runs its graph: load only models you trust (TensorFlow's security guidance).

Every problem is reported before any training starts, by an exception that says what was
wrong and what to do: ``ModelNotFoundError``, ``NotASavedModelError``, ``CorruptModelError``,
``HubOfflineError``, ``StaleHubCacheError``, ``IncompatibleInputError`` (all ``ModelLoadError``).
"""

from __future__ import annotations

import hashlib
import os
import socket
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from . import catalog

NETWORK_TIMEOUT_S = 3.0


class ModelLoadError(ValueError):
    """A model could not be loaded; the message says why and what to do."""


class ModelNotFoundError(ModelLoadError):
    """Neither a bundled name, nor an existing path, nor a hub handle."""


class NotASavedModelError(ModelLoadError):
    """The path exists but holds no saved_model.pb / saved_model.pbtxt."""


class CorruptModelError(ModelLoadError):
    """The SavedModel's files are there but cannot be read (a truncated or damaged variables file)."""


class NotTrainableError(ModelLoadError):
    """The model exposes no trainable variables, so a method that fine-tunes the backbone cannot run."""


class HubOfflineError(ModelLoadError):
    """A tfhub.dev / Kaggle handle that is not cached, with no network to fetch it."""


class StaleHubCacheError(ModelLoadError):
    """The hub cache holds a folder for the handle, but no SavedModel inside."""


class IncompatibleInputError(ModelLoadError):
    """The data does not have the shape or type the model's input signature asks for."""


def bundled_names() -> list[str]:
    """Names of the models this workbook ships or builds."""
    return list(catalog.BUNDLED)


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
    if model in catalog.BUNDLED:
        folder = catalog.BUNDLED[model].path
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

    A layer that is already loaded is returned itself (made ``trainable`` as asked): fine-tuning it trains it
    further in place, as ``utils.lm_experiments.sequence`` does from stage to stage without a save and a reload.
    trainable: whether fine-tuning may change the layer's variables.
    kwargs: passed to ``hub.KerasLayer`` (``signature``, ``output_key``, ``arguments``...).
    """
    import tensorflow_hub as hub

    if isinstance(model, hub.KerasLayer) and not kwargs:
        model.trainable = trainable
        return model
    location = resolve(model)
    handle = location
    try:
        if not is_hub_handle(location):
            if catalog.read_meta(location).get("kind") == "text_preprocessor":
                import tensorflow_text  # noqa: F401  registers the ops the preprocessor uses (NormalizeUTF8...)
            form = _form(location) if not kwargs else "given"
            if form == "tf1":
                kwargs = _tf1_signature(model, location, trainable)
            elif form not in ("reusable", "given"):
                handle = Endpoint.load(location)
        return hub.KerasLayer(handle, trainable=trainable, **kwargs)
    except ModelLoadError:
        raise
    except Exception as e:  # tensorflow raises many kinds; say which model failed, keep the cause
        raise _load_error(model, location, e) from e


def _tf1_signature(model, location, trainable: bool) -> dict:
    """The ``hub.KerasLayer`` arguments that reach a TF1-format model through its signature; refuses ``trainable``."""
    from tensorflow.python.saved_model import loader_impl

    signatures = loader_impl.parse_saved_model(str(location)).meta_graphs[0].signature_def
    names = [n for n in signatures if not n.startswith("__")]
    if trainable:
        raise NotTrainableError(
            f"{model!r} is in the TF1 format (a TF1 Hub module or TF1 SavedModel, like the article's "
            f"inception_v3/feature_vector/1): TensorFlow 2 reaches it only through its signatures ({', '.join(names)}), "
            f"as a frozen graph function, so it cannot be fine-tuned. Load it with trainable=False as a feature "
            f"extractor, or choose the model's TF2 version (for inception_v3: feature_vector/5)")
    name = "default" if "default" in names else names[0]
    outputs = list(signatures[name].outputs)
    return {"signature": name, "output_key": "default" if "default" in outputs else outputs[0]}


def _load_error(model, location, e: Exception) -> ModelLoadError:
    text = f"{type(e).__name__}: {e}".strip()
    if any(s in text for s in ("DataLoss", "OutOfRange", "truncated", "corrupt", "Read less bytes", "Checksum")):
        return CorruptModelError(
            f"the variables of {model!r} in {location}/variables cannot be read: the file is truncated or "
            f"damaged ({text.splitlines()[0][:200]}). Copy or download the model again (bundled models: "
            f"`python -m utils.zoo build NAME`)")
    hint = " (a text model: `import tensorflow_text` before loading it)" if "Op type not registered" in text else ""
    return ModelLoadError(f"could not load {model!r} from {location}: {text}{hint}")


def _form(location) -> str:
    """"reusable" (TF-Hub form: a __call__ plus variable lists, or no trainable variables at all), "module" (a
    __call__ whose trainable variables are not listed), "keras3" (a ``serve`` endpoint), "tf1" (a TF1 SavedModel or
    TF1 Hub module: graphs and signatures, no objects); read from saved_model.pb, nothing run."""
    from tensorflow.python.saved_model import loader_impl

    graph = loader_impl.parse_saved_model(str(location)).meta_graphs[0]
    if not graph.object_graph_def.nodes or (Path(location) / "tfhub_module.pb").exists():
        return "tf1"
    children = {c.local_name for c in graph.object_graph_def.nodes[0].children}
    if "__call__" in children:
        listed = "trainable_variables" in children or "variables" in children
        trainable = any(n.WhichOneof("kind") == "variable" and n.variable.trainable for n in graph.object_graph_def.nodes)
        return "reusable" if listed or not trainable else "module"
    if "serve" in children:
        return "keras3"
    raise NotASavedModelError(
        f"{location} is a SavedModel that cannot be called: it has no __call__ function and no `serve` endpoint "
        f"(signatures: {', '.join(graph.signature_def) or 'none'}). Save the model with tf.saved_model.save on a "
        "tf.Module or tf_keras model, or with Keras 3's model.export(path)")


def _tracked_variables(root) -> list:
    """Every tf.Variable reachable from a restored SavedModel object, each once, in a fixed order."""
    import tensorflow as tf

    seen, found, stack = set(), [], [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if isinstance(obj, tf.Variable):
            found.append(obj)
            continue
        children = getattr(obj, "_trackable_children", None)
        if callable(children):
            stack.extend(child for _, child in sorted(children().items(), reverse=True))
    return found


def _single_output(outputs):
    if isinstance(outputs, dict):
        if len(outputs) != 1:
            raise ModelLoadError(f"the model returns {len(outputs)} outputs ({', '.join(outputs)}): load it with "
                                 "hub.KerasLayer(path, signature=..., output_key=...) to choose one")
        return next(iter(outputs.values()))
    if isinstance(outputs, (list, tuple)):
        if len(outputs) != 1:
            raise ModelLoadError(f"the model returns {len(outputs)} outputs: choose one with hub.KerasLayer(..., output_key=...)")
        return outputs[0]
    return outputs


class Endpoint:
    """A SavedModel that is not in TF-Hub's reusable form, as the callable with variables ``hub.KerasLayer``
    takes: a plain ``tf.Module`` with ``__call__``, or a Keras 3 export reached through ``serve``.

    variables / trainable_variables: what fine-tuning changes (found by walking the restored object when
    the SavedModel does not list them). input_spec: the ``tf.TensorSpec`` of the input.
    """

    def __init__(self, loaded, function, variables, trainable_variables, input_spec, location):
        self.loaded, self.function, self.input_spec, self.location = loaded, function, input_spec, location
        self.variables, self.trainable_variables = list(variables), list(trainable_variables)

    @classmethod
    def load(cls, location) -> Endpoint:
        import tensorflow as tf

        form = _form(location)
        loaded = tf.saved_model.load(str(location))
        if form == "keras3":
            function = loaded.serve
            variables = list(loaded.variables)
            trainable = list(loaded.trainable_variables)
        else:
            function = loaded.__call__
            variables = _tracked_variables(loaded)
            trainable = [v for v in variables if v.trainable]
        concretes = getattr(function, "concrete_functions", None) or []
        specs = [s for c in concretes[:1] for s in tf.nest.flatten(c.structured_input_signature)
                 if isinstance(s, tf.TensorSpec)]
        return cls(loaded, function, variables, trainable, specs[0] if specs else None, str(location))

    def __call__(self, x):
        return _single_output(self.function(x))

    def __str__(self) -> str:
        return self.location

    def exportable(self):
        """A ``tf.Module`` with this model's variables and a ``__call__`` of fixed input signature, ready for
        ``tf.saved_model.save`` (it reloads as a "module" form SavedModel)."""
        import tensorflow as tf

        module = tf.Module()
        module.model_variables = self.variables
        module.__call__ = tf.function(lambda x: self(x), input_signature=[self.input_spec])
        return module


def save(layer, folder) -> None:
    """Save a loaded layer's model (its variables as they are now, e.g. fine-tuned) as a SavedModel in ``folder``
    that ``load`` and ``hub.KerasLayer`` load again."""
    import tensorflow as tf

    obj = layer.resolved_object  # the restored SavedModel object (or Endpoint), weights updated in place
    logger, level = tf.get_logger(), tf.get_logger().level
    logger.setLevel("WARNING")  # not "INFO:tensorflow:Assets written to ..." for every save
    try:
        tf.saved_model.save(obj.exportable() if isinstance(obj, Endpoint) else obj, str(folder))
    finally:
        logger.setLevel(level)


def export(model, folder, input_spec) -> None:
    """Save a tf_keras ``model`` as a reusable SavedModel (what ``load`` and ``hub.KerasLayer`` take) whose call is
    one flat function per value of ``training``, for inputs of ``input_spec`` (a ``tf.TensorSpec``).

    Why not ``tf.saved_model.save(model)``: that saves every Keras layer's call as a function of its own, nested
    inside the model's, and a run that fine-tunes the reloaded model builds the backward pass of each nested
    function separately. One flat function gives the same outputs (bit for bit) and traces its gradient in about
    a third less time, paid by every fine-tuning run (``benchmarks/bench_lm.py``).
    """
    import tensorflow as tf
    from tensorflow.python.trackable.autotrackable import AutoTrackable

    obj = AutoTrackable()  # the attributes TF Hub's reusable SavedModel form asks for; not the Keras model itself,
    obj.variables = list(model.variables)  # whose layers tf.saved_model.save would also export, nested, unused
    obj.trainable_variables = list(model.trainable_variables)
    obj.regularization_losses = []
    obj.__call__ = tf.function(lambda inputs, training=False: model(inputs, training=training))
    for training in (False, True):
        obj.__call__.get_concrete_function(input_spec, training=training)
    tf.saved_model.save(obj, str(folder))


def input_signature(layer):
    """The ``tf.TensorSpec`` of the layer's first input, or None when the SavedModel does not say."""
    import tensorflow as tf

    obj = getattr(layer, "resolved_object", None)
    if isinstance(obj, Endpoint):
        return obj.input_spec
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
    f = Path(location) / catalog.HEAD_FILE
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
    "CorruptModelError",
    "NotTrainableError",
    "Endpoint",
    "HubOfflineError",
    "StaleHubCacheError",
    "IncompatibleInputError",
]
