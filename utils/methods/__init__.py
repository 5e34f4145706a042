"""Fine-tuning methods: one small class per file, consulted by the one runner (``utils.train``).

Pass one or a list (they compose): ``finetune(method=[Rehearsal(0.1), EWC(1.0)])``.
``build("ewc", strength=1.0)`` makes one from its key (used by the command-line tools).
See ``utils.methods.base`` for the hooks.

Adding a method is one file here: a ``Method`` subclass with its own ``key`` and its options declared as fields
registers itself when its module is imported, and this package imports every module in its folder. The command
line and ``build`` read the registry; which runs a comparison makes is an experiment design (``utils.suites``).
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import REGISTRY, Context, FullFineTuning, Method, Phase, Row, brings_loss, defaults_of, hook_source

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")
# every registered class by its class name: ``methods.EWC``, ``methods.LoRA``...
globals().update({cls.__name__: cls for cls in REGISTRY.values() if cls.__module__.startswith(__name__)})


def options(key: str) -> dict:
    """The declared options of method ``key`` and their defaults."""
    return defaults_of(REGISTRY[key])


def build(key: str, **kwargs) -> Method:
    """A method from its registry key and options, with clear errors for unknown keys or options."""
    if key not in REGISTRY:
        import difflib

        close = difflib.get_close_matches(key, REGISTRY, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown method {key!r}{hint}; methods: {', '.join(REGISTRY)}")
    allowed = options(key)
    for k in kwargs:
        if k not in allowed:
            raise ValueError(f"method {key!r} has no option {k!r}; its options: {', '.join(allowed) or 'none'}")
    return REGISTRY[key](**kwargs)


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
    """The display name of a (list of) method(s), e.g. ``rehearsal(10%)+ewc(λ=1)`` (tables and plots only)."""
    return "+".join(m.label for m in as_list(methods))


def run_id(methods, overrides: dict | None = None) -> str:
    """The stable ASCII identity of a run: its methods' ids joined by "+", then any protocol overrides,
    e.g. ``rehearsal(fraction=0.5)[epochs=20,learning_rate=0.005]``. Result tables are keyed by it."""
    ids = "+".join(m.id for m in as_list(methods))
    shown = {k: v for k, v in (overrides or {}).items() if v is not None}
    return ids + (f"[{','.join(f'{k}={v:g}' if isinstance(v, float) else f'{k}={v}' for k, v in shown.items())}]" if shown else "")


def records(methods) -> list[dict]:
    """[{"method": key, "options": {...}}, ...] of a (list of) method(s): what result files store."""
    return [m.record() for m in as_list(methods)]


__all__ = ["Method", "Phase", "Context", "Row", "FullFineTuning", "REGISTRY", "build", "options", "as_list", "label",
           "run_id", "records", "hook_source", "brings_loss", *sorted(c.__name__ for c in REGISTRY.values() if c is not Method)]
