"""Fine-tuning methods: one small class each, consulted by the one runner ``utils.train.finetune``.

Pass one or a list (they compose): ``finetune(method=[Rehearsal(0.1), EWC(1.0)])``.
``build("ewc", strength=1.0)`` makes one from its name (used by the command-line tools).
See ``utils.methods.base`` for the hooks.
"""

from __future__ import annotations

import inspect

from .augment import Augment
from .base import Context, FullFineTuning, Method, Phase
from .early_stopping import EarlyStopping
from .ewc import EWC
from .frozen import FrozenBackbone
from .l2sp import L2SP
from .lora import LoRA
from .lpft import LPFT
from .lwf import LwF
from .regularizers import Dropout, WeightDecay
from .rehearsal import Rehearsal
from .text_augment import TokenDropout
from .wiseft import WiSEFT

REGISTRY: dict[str, type] = {
    cls.name: cls
    for cls in (
        FullFineTuning, FrozenBackbone, LPFT, L2SP, EWC, LwF, Rehearsal, LoRA, WiSEFT,
        Dropout, WeightDecay, Augment, EarlyStopping, TokenDropout,
    )
}


def options(name: str) -> dict:
    """The constructor options of method ``name`` and their defaults."""
    sig = inspect.signature(REGISTRY[name].__init__)
    return {p: v.default for p, v in sig.parameters.items() if p != "self" and v.kind is v.POSITIONAL_OR_KEYWORD}


def build(name: str, **kwargs) -> Method:
    """A method from its registry name and options, with clear errors for unknown names or options."""
    if name not in REGISTRY:
        import difflib

        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown method {name!r}{hint}; methods: {', '.join(REGISTRY)}")
    allowed = options(name)
    for k in kwargs:
        if k not in allowed:
            raise ValueError(f"method {name!r} has no option {k!r}; its options: {', '.join(allowed) or 'none'}")
    return REGISTRY[name](**kwargs)


def as_list(method) -> list[Method]:
    """None -> [full fine-tuning]; a Method -> [it]; a list stays a list (validated)."""
    if method is None:
        return [FullFineTuning()]
    methods = list(method) if isinstance(method, (list, tuple)) else [method]
    for m in methods:
        if not isinstance(m, Method):
            raise TypeError(f"not a fine-tuning method: {m!r} (use utils.methods classes or utils.methods.build)")
    if sum(m.phases(1) is not None for m in methods) > 1:
        raise ValueError("at most one method may define training phases (frozen, lp-ft)")
    return methods


def label(methods) -> str:
    """The table name of a (list of) method(s), e.g. ``rehearsal(10%)+ewc(λ=1)``."""
    return "+".join(m.label for m in as_list(methods))


__all__ = [
    "Method", "Phase", "Context", "FullFineTuning", "FrozenBackbone", "LPFT", "L2SP", "EWC", "LwF",
    "Rehearsal", "LoRA", "WiSEFT", "Dropout", "WeightDecay", "Augment", "EarlyStopping", "TokenDropout",
    "REGISTRY", "build", "options", "as_list", "label",
]
