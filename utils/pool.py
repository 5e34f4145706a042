"""Loaded models lent to one run after another (``ModelPool``): what a comparison uses so that each model is loaded,
and its restored function's gradient built, once rather than once per run."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from . import models, runtime


@dataclass
class _Lent:
    """A model the pool lends: the layer, its pretrained values and its features functions (by input signature)."""

    layer: object
    pretrained: list
    features: dict = field(default_factory=dict)


class ModelPool:
    """Loaded models, lent to one run after another: each model is loaded once, and every run that borrows it gets
    the same layer back with all its variables reset to the pretrained values.

    Loading a model, and building the gradient of its restored function while the step traces, is then paid once
    per comparison rather than per run: about 2 s of every MiniLM run (``benchmarks/bench_pool.py`` measures both
    ways). A run on a lent model computes what it would on a model of its own (``tests/test_compare.py``).

    Who owns a lent model is explicit. A run's result holds its trained layer only until the next run borrows it
    (its weights are then reset). To keep a run's trained model, say so: ``pool.keep(result)`` gives that layer up
    to the result for good, and the pool loads a fresh copy for the next run (``utils.compare``'s ``keep=``).
    """

    def __init__(self):
        self._lent: dict = {}  # str(model) -> _Lent

    def load(self, model):
        """``models.load(model, trainable=True)`` the first time (and after ``keep``); otherwise the same layer as
        last time, its weights reset to the pretrained ones. A loaded layer passed in stays the caller's own."""
        if not isinstance(model, (str, os.PathLike)):
            return models.load(model, trainable=True)
        key = os.fspath(model)
        lent = self._lent.get(key)
        if lent is None:
            layer = models.load(model, trainable=True)
            self._lent[key] = _Lent(layer, [v.numpy() for v in layer.variables])
            return layer
        for v, w in zip(lent.layer.variables, lent.pretrained):
            v.assign(w)
        lent.layer.trainable = True
        return lent.layer

    def keep(self, result) -> None:
        """Give the model that trained ``result`` (a ``FineTuneResult``) to it for good: it is never lent again."""
        self._lent = {k: lent for k, lent in self._lent.items() if lent.layer is not result.context.backbone}

    def features(self, layer, example):
        """``runtime.features_function(layer, example)``, traced once per lent layer and input signature."""
        lent = next((lent for lent in self._lent.values() if lent.layer is layer), None)
        if lent is None:
            return runtime.features_function(layer, example, None)
        spec = runtime.features_spec(example)
        key = (tuple(spec.shape.as_list()), spec.dtype.name)
        if key not in lent.features:
            lent.features[key] = runtime.features_function(layer, example, None)
        return lent.features[key]
