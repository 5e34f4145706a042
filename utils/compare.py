"""Every method on one task pair, over several seeds: ``python -m utils.compare --task permute --seeds 3``.

Writes JSON (``--out``) and prints the same as a table:

    {"task", "seeds", "first_seed", "protocol", "before": {"A_head", "A_probe", ...},
     "methods": {LABEL: {"A_head": {"mean", "std", "n", "values"}, "A_probe": {...}, "B": {...},
                         "A_head_val": {...}, "B_val": {...}, "train_seconds": {...}, "needs_task_a_data": bool}}}

The suite (``default_suite()``) runs each method at its defaults plus a small, stated sweep: L2-SP and EWC
at two strengths, rehearsal at two fractions (10% and 50% of each batch). WiSE-FT needs no training of its own: the runs
marked with it are fine-tuned once and evaluated at alpha = 0.25, 0.5, 0.75 and 1; alpha = 1 *is*
the plain fine-tuned model, reported under the base method's name ("full", "lp-ft(...)").
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import data, metrics
from . import methods as M
from .checkpoint import write_atomic
from .train import DEFAULT_SCHEDULE, finetune

WISE_SWEEP = (0.25, 0.5, 0.75, 1.0)
KEYS = ("A_head", "A_probe", "B")
VALIDATION_KEYS = ("A_head_val", "B_val")  # also summarised when measured: choices are made on these


def default_suite():
    """The runs of a comparison, each a list of methods. Labels come from the methods."""
    return [
        [M.WiSEFT(0.5, sweep=WISE_SWEEP)],  # -> full, wise-ft(α=0.25/0.5/0.75)
        [M.FrozenBackbone()],
        [M.LPFT(), M.WiSEFT(0.5, sweep=WISE_SWEEP)],  # -> lp-ft, lp-ft+wise-ft(...)
        [M.L2SP(0.01)],
        [M.L2SP(0.1)],
        [M.EWC(0.1)],
        [M.EWC(0.3)],
        [M.LwF(1.0)],
        [M.Rehearsal(0.1)],
        [M.Rehearsal(0.5)],
        [M.LoRA(16)],
        [M.Dropout(0.5)],
        [M.WeightDecay(l2=1e-3)],
        [M.Augment()],
        [M.EarlyStopping()],
        [M.Rehearsal(0.1), M.EWC(0.1)],
        [M.LPFT(), M.LwF(1.0)],
        *rehearsal_schedules(),
    ]


def headline_suite():
    """The runs notebook 02's headline claims are about (its fast run): full and frozen, the methods that keep
    task A (rehearsal, EWC, LP-FT with LwF or WiSE-FT) and the rehearsal schedules of the frontier."""
    return [
        [M.WiSEFT(0.5, sweep=WISE_SWEEP)],
        [M.FrozenBackbone()],
        [M.LPFT(), M.WiSEFT(0.5, sweep=WISE_SWEEP)],
        [M.EWC(0.1)],
        [M.Rehearsal(0.1)],
        [M.Rehearsal(0.5)],
        [M.LPFT(), M.LwF(1.0)],
        *rehearsal_schedules(),
    ]


REHEARSAL_SCHEDULES = ((10, 5e-3), (20, 5e-3))  # (epochs, learning rate) beside the protocol's (10, 3e-3)


def rehearsal_schedules(fraction: float = 0.5) -> list[dict]:
    """Rehearsal trained longer and at a higher rate: joint training of two tasks has more to fit. Which
    schedule is best is chosen on the validation split (notebook 02), never on test."""
    method = M.Rehearsal(fraction)
    return [{"method": [M.Rehearsal(fraction)], "epochs": e, "learning_rate": lr,
             "label": f"{method.label}[{e}ep,lr={lr:g}]"} for e, lr in REHEARSAL_SCHEDULES]


def _rows(result, label=None) -> dict:
    """{label: final metrics} of one run; a WiSE-FT run gives one row per alpha of its sweep."""
    sweep = result.extra.get("wise_ft")
    if not sweep:
        return {label or result.method: result.final}
    base = result.method.rsplit("+wise-ft", 1)[0].rsplit("wise-ft", 1)[0].rstrip("+") or "full"
    rows = {}
    for alpha, m in sweep.items():
        if alpha == 1.0:
            rows[base] = m
        else:
            rows[(base + "+" if base != "full" else "") + f"wise-ft(α={alpha:g})"] = m
    return rows


def compare(task="permute", seeds: int = 3, epochs: int = 10, suite=None, progress: bool = True, keys=KEYS,
            reuse_before: bool = False, first_seed: int = 0, **kw) -> dict:
    """Run every entry of ``suite`` (default ``default_suite()``) for ``seeds`` seeds from ``first_seed``;
    return the JSON summary (each metric's mean, std and per-seed values; the validation metrics too).

    task: a task-pair name or anything ``utils.train.finetune`` takes. suite entries: a list of methods, or
    ``{"method": [...], "label": optional row name, **finetune_overrides}`` (e.g. a learning rate of its own). keys: the metrics summarised.
    reuse_before: measure the pretrained model once and pass it to the other runs (slow evaluators).
    kw: passed to every ``finetune`` call (model, evaluator, learning_rate...).
    """
    from tqdm.std import tqdm

    suite = suite or default_suite()
    per_label: dict = {}
    flags: dict = {}
    before = None
    t_start = time.perf_counter()
    name = task if isinstance(task, str) else getattr(task, "name", None) or task[1].name
    bar = tqdm(total=len(suite) * seeds, desc=f"compare {name}", disable=not progress, file=sys.stderr)
    for entry in suite:
        entry = entry if isinstance(entry, dict) else {"method": entry}
        methods = M.as_list(entry["method"])
        overrides = {"epochs": epochs, **{k: v for k, v in entry.items() if k not in ("method", "label")}}
        for seed in range(first_seed, first_seed + seeds):
            known = {"before": before} if reuse_before and before is not None else {}
            r = finetune(task=task, method=methods, seed=seed, eval_every=0, progress=False,
                         **{**kw, **overrides, **known})
            before = before or {k: v for k, v in r.before.items()
                                if k in (*keys, *VALIDATION_KEYS) and k not in ("B", "B_val")} or dict(r.before)
            uses_a = any(m.needs_task_a_data for m in methods)
            for label, m in _rows(r, entry.get("label")).items():
                measured = (*keys, *(k for k in VALIDATION_KEYS if k in m and k not in keys))
                slot = per_label.setdefault(label, {k: [] for k in (*measured, "train_seconds")})
                flags[label] = uses_a
                for k in measured:
                    slot[k].append(m[k])
                slot["train_seconds"].append(r.train_seconds)
            bar.update(1)
    bar.close()
    methods = {
        label: {**{k: metrics.mean_std(v) for k, v in vals.items()}, "needs_task_a_data": flags[label]}
        for label, vals in per_label.items()
    }
    protocol = {k: v for k, v in kw.items() if isinstance(v, (int, float, str))}
    return {
        "task": name,
        "seeds": seeds,
        "first_seed": first_seed,
        "keys": list(keys),
        "protocol": {"epochs": epochs, "optimizer": "Adam", "schedule": DEFAULT_SCHEDULE, **protocol},
        "before": before,
        "methods": methods,
        "wall_seconds": time.perf_counter() - t_start,
    }


def table(summary: dict) -> str:
    """The summary as a fixed-width text table, sorted by the first metric (task-A head accuracy for digits)."""
    before, keys = summary["before"], summary.get("keys", list(KEYS))
    names = {"A_head": "task-A head", "A_probe": "task-A probe", "B": "task B"}
    pre = ", ".join(f"{names.get(k, k)} {v:.3f}" for k, v in before.items())
    head = f"{'method':34s} " + " ".join(f"{names.get(k, k):>14s}" for k in keys)
    retained = "A_head" in keys and "A_head" in before
    lines = [f"task {summary['task']}, mean ± sample std over {summary['seeds']} seed(s); pretrained: {pre}",
             head + (f" {'retention':>9s}" if retained else "") + f" {'s/run':>6s}"]
    rows = sorted(summary["methods"].items(), key=lambda kv: -kv[1][keys[0]]["mean"])
    for label, m in rows:
        cells = " ".join(f"{m[k]['mean']:.3f}±{m[k]['std']:.3f}".rjust(14) for k in keys)
        ret = f" {metrics.retention(before['A_head'], m['A_head']['mean']):9.3f}" if retained else ""
        lines.append(f"{label:34s} {cells}{ret} {m['train_seconds']['mean']:6.1f}")
    lines.append(f"wall time {summary['wall_seconds']:.0f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="permute", choices=data.TASK_PAIRS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--out", type=Path, help="write the JSON summary here")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1:
        parser.error("--seeds and --epochs must be >= 1")
    summary = compare(args.task, args.seeds, args.epochs, progress=not args.no_progress)
    print(table(summary))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out, json.dumps(summary, indent=2).encode())
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
