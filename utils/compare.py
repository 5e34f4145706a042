"""Every method on one task pair, over several seeds: ``python -m utils.compare --task permute --seeds 3``.

Writes JSON (``--out``) and prints the same as a table. Each row is a record keyed by the run's stable
ASCII id (``utils.methods.run_id``); labels are rendered from the records for display, never parsed:

    {"task", "seeds", "first_seed", "keys", "protocol", "before": {"A_head", "A_probe", ...},
     "methods": {ID: {"id": ID, "label": "ewc(λ=0.1)", "methods": [{"method": "ewc", "options": {...}}],
                      "options": {run overrides, e.g. "epochs": 20}, "needs_task_a_data": bool,
                      "metrics": {"A_head": {"mean", "std", "n", "values"}, "B": {...}, "A_head_val": {...},
                                  "B_val": {...}, "train_seconds": {...}}}}}

The suite is an experiment design of ``utils.suites`` (default: ``suites.images()``, notebook 02's). A run is
reported as the rows its methods say (``FineTuneResult.rows``): a WiSE-FT run is fine-tuned once and reported at
each alpha of its dial, alpha = 1 being the plain fine-tuned model ("full", "lp-ft"); an early-stopped run counts
the steps of the weights it kept. This module names no method.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import image_data, metrics, suites
from . import methods as M
from .common import PROTOCOL, differences, write_atomic
from .pool import ModelPool
from .runtime import progress_enabled
from .train import finetune

KEYS = ("A_head", "A_probe", "B")
VALIDATION_KEYS = ("A_head_val", "B_val")  # also summarised when measured: choices are made on these
EXTRA_KEYS = (*VALIDATION_KEYS, "A_drift", "A_scale")  # summarised too when measured (how task-A features moved)


def entry_parts(entry) -> tuple[list, dict]:
    """(methods, run overrides) of a suite entry: a list of methods, or {"method": [...], **overrides}."""
    if isinstance(entry, dict):
        return M.as_list(entry["method"]), {k: v for k, v in entry.items() if k != "method"}
    return M.as_list(entry), {}


def entry_id(entry) -> str:
    """The row id a suite entry's run is reported under (WiSE-FT runs add one row per alpha)."""
    return M.run_id(*entry_parts(entry))


def row(summary: dict, *methods, **overrides) -> dict:
    """The metrics ({key: {"mean", "std", "n", "values"}}) of the run of ``methods`` (with run ``overrides``) in a
    summary, found by the run's id: ``row(summary, M.LPFT(), M.LwF(1.0))``. Unknown runs raise KeyError listing the ids."""
    rid = M.run_id([m for x in methods for m in (x if isinstance(x, (list, tuple)) else [x])], overrides)
    if rid not in summary["methods"]:
        raise KeyError(f"no run {rid!r} in this summary; its runs: {', '.join(summary['methods'])}")
    return summary["methods"][rid]["metrics"]


SHORT = {"epochs": "{}ep", "learning_rate": "lr={:g}"}


def display_label(methods, overrides: dict) -> str:
    """A row's label for tables and plots, rendered from its methods and overrides."""
    shown = [SHORT.get(k, k + "={}").format(v) for k, v in overrides.items()]
    return M.label(methods) + (f"[{','.join(shown)}]" if shown else "")


def compare(task="permute", seeds: int = 3, epochs: int = PROTOCOL.epochs, suite=None, progress=None, keys=KEYS,
            reuse_before: bool = False, first_seed: int = 0, on_run=None, keep=(), given=(), **kw) -> dict:
    """Run every entry of ``suite`` (default ``utils.suites.images()``) for ``seeds`` seeds from ``first_seed``;
    return the JSON summary (each metric's mean, std and per-seed values; the validation metrics too).

    task: a digits pair's name ("permute", "rot90", "split"), or anything ``utils.train.finetune`` takes.
    suite entries: a list of methods, or ``{"method": [...], **finetune_overrides}`` (e.g. a learning rate of its
    own). keys: the metrics summarised.
    reuse_before: measure the pretrained model once and pass it to the other runs (slow evaluators).
    on_run: optional callable(run id, seed, result) after each run.
    The runs borrow the loaded model in turn (``utils.pool.ModelPool``): it is loaded once, not per run, and a run's
    model is reset when the next run borrows it. keep: the run ids whose trained models are kept (given up to
    their results, for ``on_run`` to hold on to), a fresh copy being loaded for the next run.
    given: runs already trained (``finetune`` results) that are runs of the suite: each is used for its entry and
    seed instead of training it again; it must have the comparison's settings (checked).
    kw: passed to every ``finetune`` call (model, evaluator, learning_rate...).
    """
    from tqdm.std import tqdm

    suite = suite or suites.images()
    task = image_data.task_pair(task) if isinstance(task, str) else task
    name = getattr(task, "name", None) or task[1].name
    reused = _given_runs(given, suite, range(first_seed, first_seed + seeds), {"task": name, "epochs": epochs, **kw})
    rows: dict = {}
    before = None
    t_start = time.perf_counter()
    models = ModelPool()
    bar = tqdm(total=len(suite) * seeds, desc=f"compare {name}", disable=not progress_enabled(progress), file=sys.stderr)
    for entry in suite:
        methods, overrides = entry_parts(entry)
        for seed in range(first_seed, first_seed + seeds):
            known = {"before": before} if reuse_before and before is not None else {}
            r = reused.get((entry_id(entry), seed)) or finetune(
                task=task, method=methods, seed=seed, eval_every=0, progress=False, models=models,
                **{**kw, "epochs": epochs, **overrides, **known})
            before = before or {k: v for k, v in r.before.items()
                                if k in (*keys, *EXTRA_KEYS) and k not in ("B", "B_val")} or dict(r.before)
            for row in r.rows():
                _add(rows, row.methods, overrides, row.metrics, keys, r.train_seconds, seed, row.steps)
            if entry_id(entry) in keep:
                models.keep(r)  # its model is its own from now on: the next run gets a fresh copy
            if on_run is not None:
                on_run(entry_id(entry), seed, r)
            bar.update(1)
    bar.close()
    for row in rows.values():
        row["metrics"] = {k: metrics.mean_std(v) for k, v in row["metrics"].items()}
    protocol = {k: v for k, v in kw.items() if isinstance(v, (int, float, str))}
    return {
        "task": name,
        "seeds": seeds,
        "first_seed": first_seed,
        "keys": list(keys),
        "protocol": {"epochs": epochs, "optimizer": "Adam", "schedule": PROTOCOL.schedule, **protocol},
        "before": before,
        "methods": rows,
        "wall_seconds": time.perf_counter() - t_start,
    }


def _given_runs(given, suite, seeds, settings: dict) -> dict:
    """{(run id, seed): run} of the ``given`` runs; refuses a run that is not one of the suite's or was trained with
    other settings (task, epochs, learning rate, batch size, schedule, model) than its entry's in this comparison."""
    entries = {entry_id(e): e for e in suite}
    reused = {}
    for r in given:
        if r.id not in entries or r.seed not in seeds:
            raise ValueError(f"given run {r.id!r} (seed {r.seed}) is not a run of this comparison: its runs are "
                             f"{', '.join(entries)} for seeds {list(seeds)}")
        expected = {**settings, **entry_parts(entries[r.id])[1]}
        expected = {k: str(v) if k == "model" else v for k, v in expected.items()}
        got = r.settings()
        diff = differences(expected, got, keys=expected.keys() & got.keys())
        if diff:
            raise ValueError(f"given run {r.id!r} was trained with other settings; (run, comparison): {diff}")
        reused[(r.id, r.seed)] = r
    return reused


def _add(rows: dict, methods: list, overrides: dict, measured: dict, keys, seconds: float, seed: int,
         steps: int) -> None:
    """Append one seed's numbers to the record of (methods, overrides), creating it on first sight. A run
    already recorded for this seed is not added twice (two WiSE-FT dials share their alpha = 1 end: the same
    training, so the same numbers)."""
    rid = M.run_id(methods, overrides)
    shown = (*keys, *(k for k in EXTRA_KEYS if k in measured and k not in keys))
    row = rows.setdefault(rid, {
        "id": rid, "label": display_label(methods, overrides), "methods": M.records(methods), "options": overrides,
        "needs_task_a_data": any(m.needs_task_a_data for m in methods), "seeds": [],
        "metrics": {k: [] for k in (*shown, "train_seconds", "steps")}})
    if seed in row["seeds"]:
        return
    row["seeds"].append(seed)
    for k in shown:
        row["metrics"][k].append(measured[k])
    row["metrics"]["train_seconds"].append(seconds)
    row["metrics"]["steps"].append(steps)


def add_row(summary: dict, label: str, measured: dict, steps: int = 0) -> None:
    """Add a row measured outside the runner (e.g. a probe fitted on frozen features) to ``summary``, one value per
    metric, so that tables and plots show it beside the runs; ``steps``: optimizer steps it took (0: none)."""
    keys = summary.get("keys", list(KEYS))
    missing = [k for k in keys if k not in measured]
    if missing:
        raise ValueError(f"row {label!r} lacks {missing}: give every metric of the summary ({keys})")
    values = {**{k: measured[k] for k in keys}, "steps": steps, "train_seconds": 0.0}
    summary["methods"][label] = {"id": label, "label": label, "methods": [], "options": {}, "needs_task_a_data": False,
                                 "seeds": [], "metrics": {k: metrics.mean_std([v]) for k, v in values.items()}}


def code_and_results(summary: dict, keys=("A_head", "B")) -> str:
    """Markdown: for each method class in ``summary``, the rows it took part in (``keys``, mean over seeds) and
    the source of its hooks (``utils.methods.hook_source``), so a notebook shows the code that was measured."""
    by_key: dict = {}
    for record in summary["methods"].values():
        for m in record["methods"]:
            by_key.setdefault(m["method"], []).append(record)
    parts = []
    for key, records in by_key.items():
        cls = M.REGISTRY[key]
        lines = [f"- {r['label']}: " + ", ".join(f"{k} {r['metrics'][k]['mean']:.3f}" for k in keys if k in r["metrics"])
                 for r in records]
        doc = (cls.__doc__ or "").strip().split("\n")[0]
        parts.append(f"#### `{key}` — {cls.__name__}\n{doc}\n\n" + "\n".join(lines)
                     + f"\n\n```python\n{M.hook_source(cls)}\n```\n")
    return "\n".join(parts)


def table(summary: dict) -> str:
    """The summary as a fixed-width text table, sorted by the first metric (task-A head accuracy for digits)."""
    before, keys = summary["before"], summary.get("keys", list(KEYS))
    names = {"A_head": "task-A head", "A_probe": "task-A probe", "B": "task B"}
    pre = ", ".join(f"{names.get(k, k)} {v:.3f}" for k, v in before.items())
    head = f"{'method':34s} " + " ".join(f"{names.get(k, k):>14s}" for k in keys)
    retained = "A_head" in keys and "A_head" in before
    lines = [f"task {summary['task']}, mean ± sample std over {summary['seeds']} seed(s); pretrained: {pre}",
             head + (f" {'retention':>9s}" if retained else "") + f" {'steps':>6s} {'s/run':>6s}"]
    rows = sorted(summary["methods"].values(), key=lambda r: -r["metrics"][keys[0]]["mean"])
    for row in rows:
        m = row["metrics"]
        cells = " ".join(f"{m[k]['mean']:.3f}±{m[k]['std']:.3f}".rjust(14) for k in keys)
        ret = f" {metrics.retention(before['A_head'], m['A_head']['mean']):9.3f}" if retained else ""
        steps = f"{m['steps']['mean']:6.0f}" if "steps" in m else " " * 6  # summaries saved before steps were kept
        lines.append(f"{row['label']:34s} {cells}{ret} {steps} {m['train_seconds']['mean']:6.1f}")
    lines.append(f"wall time {summary['wall_seconds']:.0f} s")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="permute", choices=image_data.TASK_PAIRS)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=PROTOCOL.epochs)
    parser.add_argument("--out", type=Path, help="write the JSON summary here")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.seeds < 1 or args.epochs < 1:
        parser.error("--seeds and --epochs must be >= 1")
    summary = compare(args.task, args.seeds, args.epochs, suite=suites.images(), progress=not args.no_progress)
    print(table(summary))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(args.out, json.dumps(summary, indent=2).encode())
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
