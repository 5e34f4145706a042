"""Check cells: a claim, the number measured for it, and its margin to the threshold.

    from utils.evidence import check, observe
    check("full fine-tuning keeps >= 0.5 of task A", summary["methods"]["full"]["metrics"]["A_head"], ">=", 0.5)

``check`` asserts the claim on the measured value (the mean over seeds when it is given several), prints one
line with the value, the threshold and the margin (in seed standard deviations when there are several
seeds), and, when the notebook runs under ``utils.curriculum`` (``make run``, ``make robust``), records it in
``build/checks/<notebook>.json``. ``make robust`` (``utils.robust``) runs the curriculum under several
numeric variants, gathers those records and fails when a check fails anywhere or sits closer than two
standard deviations to its threshold. ``observe`` prints and records a number that is *not* asserted: a
claim whose margin is too thin to assert says "about" in the prose and is observed instead. ``sanity`` asserts what
holds by construction or by arithmetic (a frozen part unchanged, a formula's bytes, a file read back, an error path):
it guards the code and is counted apart, never as evidence about fine-tuning.

A measured value is a number, a list of per-seed numbers, or a ``utils.compare`` row ({"mean", "std", "n"|"values"}).
"""

from __future__ import annotations

import json
import os

from . import paths
from .metrics import mean_std

OPS = {
    ">=": lambda v, t: v >= t,
    ">": lambda v, t: v > t,
    "<=": lambda v, t: v <= t,
    "<": lambda v, t: v < t,
    "==": lambda v, t: v == t,
}
NOTEBOOK_ENV = "WORKBOOK_NOTEBOOK"  # set by utils.curriculum for each kernel: where records go
CALIBRATE_ENV = "WORKBOOK_CALIBRATE"  # "1": record failing checks without raising (to measure a spread over seeds)
FLOAT_NOISE = 1e-9  # a standard deviation below this is floating-point noise of one exact value: no margin in sd


class ClaimFailed(AssertionError):
    """A check cell's claim does not hold on the measured numbers."""


def summarize(value) -> tuple[float, float | None, int]:
    """(mean, std over seeds or None, number of seeds) of a number, a list of numbers or a compare row."""
    if isinstance(value, dict):
        values = value.get("values")
        if values is not None:
            return summarize(list(values))
        n = int(value.get("n", 1))
        return float(value["mean"]), (float(value["std"]) if n > 1 else None), n
    if isinstance(value, (list, tuple)) or hasattr(value, "__len__") and not isinstance(value, str):
        if len(value) == 0:
            raise ValueError("a measured value needs at least one number")
        row = mean_std(value)
        return row["mean"], (row["std"] if row["n"] > 1 else None), row["n"]
    return float(value), None, 1


def margin(mean: float, op: str, threshold: float) -> float:
    """How far the value is on the good side of the threshold (negative: the claim fails)."""
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    if op == "==":
        return 0.0 if mean == threshold else -abs(mean - threshold)
    return mean - threshold if op in (">=", ">") else threshold - mean


def _record(entry: dict) -> None:
    notebook = os.environ.get(NOTEBOOK_ENV)
    if not notebook:
        return
    folder = paths.BUILD_DIR / "checks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{notebook}.json"
    entries = json.loads(path.read_text()) if path.exists() else []
    entries = [e for e in entries if e["claim"] != entry["claim"]] + [{"notebook": notebook, **entry}]
    path.write_text(json.dumps(entries, indent=1, ensure_ascii=False) + "\n")


def _line(mark: str, claim: str, mean: float, std, n: int, op: str, threshold: float) -> str:
    spread = f" ± {std:.3f} over {n} seeds" if std is not None else ""
    gap = margin(mean, op, threshold)
    in_sd = f" = {gap / std:.1f} sd" if std and std >= FLOAT_NOISE else ""
    return f"{mark} {claim}: {mean:.4g}{spread} {op} {threshold:.4g} (margin {gap:+.4g}{in_sd})"


def check(claim: str, value, op: str, threshold: float, kind: str = "check") -> float:
    """Assert ``value op threshold`` (on the mean over seeds), print and record it; returns the mean.

    claim: the sentence the prose makes, e.g. "full fine-tuning loses >= 20 points of task A".
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
    mean, std, n = summarize(value)
    holds = OPS[op](mean, threshold)
    entry = {"claim": claim, "kind": kind, "mean": mean, "std": std, "n": n, "op": op, "threshold": threshold,
             "margin": margin(mean, op, threshold), "passed": bool(holds)}
    _record(entry)
    print(_line("✓" if holds else "✗", f"sanity: {claim}" if kind == "sanity" else claim, mean, std, n, op, threshold))
    if not holds and os.environ.get(CALIBRATE_ENV) != "1":
        spread = f" (mean of {n} seeds, std {std:.4f})" if std is not None else ""
        raise ClaimFailed(f"{claim}: measured {mean:.4f}{spread}, which is not {op} {threshold:g}")
    return mean


def sanity(claim: str, value, op: str, threshold: float) -> float:
    """``check`` for a claim true by construction or by arithmetic: asserted the same way, printed as "sanity:" and
    recorded as kind "sanity", which ``build/REPORT.md``, the README's seeds table and ``make robust`` count apart
    from the evidence."""
    return check(claim, value, op, threshold, kind="sanity")


def observe(claim: str, value, op: str | None = None, threshold: float | None = None) -> float:
    """Print and record a measured number without asserting it (a claim too close to call)."""
    mean, std, n = summarize(value)
    entry = {"claim": claim, "kind": "observation", "mean": mean, "std": std, "n": n, "op": op,
             "threshold": threshold, "margin": None if op is None else margin(mean, op, threshold), "passed": None}
    _record(entry)
    if op is None:
        spread = f" ± {std:.3f} over {n} seeds" if std is not None else ""
        print(f"· {claim}: {mean:.4g}{spread} (observed, not asserted)")
    else:
        print(_line("·", claim, mean, std, n, op, threshold) + " (observed, not asserted)")
    return mean


def values(row: dict, key: str) -> list[float]:
    """The per-seed values of metric ``key`` in a ``utils.compare`` row (its record, or its metrics)."""
    return list(row.get("metrics", row)[key]["values"])


def paired(row_a: dict, row_b: dict, key: str) -> list[float]:
    """Per-seed differences ``row_a[key] - row_b[key]`` of two ``utils.compare`` rows run on the same seeds:
    the fair way to compare two methods, since both saw the same initialisation and batch order per seed."""
    a, b = values(row_a, key), values(row_b, key)
    if len(a) != len(b):
        raise ValueError(f"paired differences need the same seeds: {len(a)} vs {len(b)} values")
    return [x - y for x, y in zip(a, b)]
