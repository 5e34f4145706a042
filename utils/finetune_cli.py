"""The article's question 3 as a real tool: load an open-weight model, fine-tune it, validate, report.

    python -m utils.finetune_cli --task permute --method rehearsal+ewc --ewc-lambda 0.1 --epochs 10 --out runs/demo

Every setting is a flag, and the same keys may come from ``--config FILE.json`` (flags win):

    --model     bundled name, SavedModel folder or tfhub.dev handle (default: the task's bundled model)
    --task      permute | rot90 | split (task B; task A is the model's pretraining task)
    --method    one method of ``utils.methods`` or several joined by "+", each with its own options
                (``--ewc-lambda``, ``--rehearsal-fraction``, ``--lora-rank``... see ``--help``)
    --epochs --batch-size --lr --schedule --warmup --seed --eval-every   the protocol
    --out DIR   where the run is written (default build/runs/TASK-METHOD-seedSEED)
    --resume    continue the run in --out from its last complete epoch
    --overwrite replace the run in --out
    --strategy  default | mirrored (tf.distribute.MirroredStrategy over the GPUs, or 2 logical CPUs) |
                multi-worker (MultiWorkerMirroredStrategy: the same command on every worker, TF_CONFIG set)

It writes under ``--out``: ``results.json`` (config, library versions, per-epoch and final metrics,
seconds), ``history.csv``, ``checkpoints/`` (one per epoch; an interrupted run resumes from the
last one and ends with the same weights) and ``model/``, the fine-tuned feature extractor as a
SavedModel that ``utils.models.load`` and ``hub.KerasLayer`` load again (with the new head in
``head.npz``). Files are written atomically. Bad input ends with one line on stderr, exit status 2;
a failed run (a model that does not load, a NaN loss) with exit status 1; an interruption with 130.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import io
import json
import logging
import shutil
import signal
import sys
import time
import warnings
from pathlib import Path

from . import catalog, image_data, models, report
from . import methods as M
from .common import PROTOCOL, SCHEDULES, write_atomic
from .runtime import mirrored_strategy, multi_worker_strategy
from .train import ChanceLevelWarning, NonFiniteLossError, ResumeError, finetune

GENERAL = {  # key: (default, type, help)
    "model": (None, str, "bundled name, SavedModel folder or tfhub.dev handle (default: the task's bundled model)"),
    "task": ("permute", str, f"task B: {' | '.join(image_data.TASK_PAIRS)}"),
    "method": ("full", str, f"method(s) joined by '+': {', '.join(M.REGISTRY)}"),
    "epochs": (PROTOCOL.epochs, int, "training epochs (>= 1)"),
    "batch_size": (PROTOCOL.batch_size, int, "examples per step (>= 1)"),
    "lr": (PROTOCOL.learning_rate, float, "Adam learning rate (0 < lr <= 1)"),
    "schedule": (PROTOCOL.schedule, str, "learning-rate schedule: cosine (decays to 0 over the run) | constant"),
    "seed": (PROTOCOL.seed, int, "random seed (>= 0): same seed, same result"),
    "warmup": (PROTOCOL.warmup, int, "optimizer steps of linear warm-up from 0 to --lr (>= 0)"),
    "eval_every": (1, int, "measure task A and B every this many epochs (0: only at the end)"),
    "out": (None, str, "output folder (default build/runs/TASK-METHOD-seedSEED)"),
    "resume": (False, bool, "continue the run in --out from its last complete epoch"),
    "overwrite": (False, bool, "replace the run in --out"),
    "strategy": ("default", str, "default | mirrored | multi-worker (one process per worker, TF_CONFIG set)"),
    "progress": (None, bool, "show a progress bar (default: unless WORKBOOK_PROGRESS=0)"),
}
STRATEGIES = ("default", "mirrored", "multi-worker")
RESULTS, HISTORY, CHECKPOINTS, MODEL = "results.json", "history.csv", "checkpoints", "model"
ALIASES = {"lambda": "strength"}  # --ewc-lambda is --ewc-strength


class UsageError(ValueError):
    """Bad flags, config keys or values: the message names the problem and the fix."""


def method_keys() -> dict:
    """{"ewc_strength": ("ewc", "strength", default), "ewc_lambda": (...), ...} for every registered method's
    options (read when parsing, so a method registered later is found too)."""
    keys = {}
    for name in M.REGISTRY:
        for option, default in M.options(name).items():
            base = name.replace("-", "_")
            keys[f"{base}_{option}"] = (name, option, default)
            for alias, target in ALIASES.items():
                if option == target:
                    keys[f"{base}_{alias}"] = (name, option, default)
    return keys


def _number(text):
    """int when it looks like one, else float (for options whose default is None)."""
    try:
        return int(text)
    except ValueError:
        return float(text)


def _option_type(default):
    if isinstance(default, bool):
        return lambda t: {"true": True, "false": False}[str(t).lower()]
    if isinstance(default, tuple):
        return lambda t: tuple(float(v) for v in str(t).split(","))
    if default is None:
        return _number
    return type(default)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m utils.finetune_cli", description=__doc__.split("\n\n")[0], allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog="\n\n".join(__doc__.split("\n\n")[1:]),
        argument_default=argparse.SUPPRESS,
    )
    p.add_argument("--config", help="JSON file with any of the keys below (with _ or -); flags win")
    for key, (default, kind, help_) in GENERAL.items():
        if kind is bool:
            p.add_argument(_flag(key), action=argparse.BooleanOptionalAction, help=help_)
        else:
            p.add_argument(_flag(key), help=f"{help_} [{default}]")
    g = p.add_argument_group("method options (only for methods named in --method)")
    for key, (name, option, default) in method_keys().items():
        g.add_argument(_flag(key), help=f"{name}: {option} [{default}]" if not key.endswith("_lambda") else argparse.SUPPRESS)
    p.error = lambda message: (_ for _ in ()).throw(UsageError(message))  # one line, no usage dump
    return p


def _closest(key: str, known) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.5)
    return f" (did you mean {close[0]}?)" if close else ""


def parse(argv) -> dict:
    """Flags and ``--config`` merged over the defaults: {general keys..., "methods": [Method...]}.

    Raises UsageError for an unknown flag or key (with the closest known one), a bad value, an
    unknown method or a method option given for a method that is not in --method.
    """
    parser, known = _parser(), method_keys()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        flags = [s for a in parser._actions for s in a.option_strings]
        bad = next((u for u in unknown if u.startswith("-")), unknown[0])
        what = "unknown flag" if bad.startswith("-") else "unexpected argument"
        raise UsageError(f"{what} {bad}{_closest(bad.split('=')[0], flags)}; see --help")
    given = {}
    if "config" in vars(args):
        path = Path(args.config)
        try:
            loaded = json.loads(path.read_text())
        except FileNotFoundError:
            raise UsageError(f"--config {path}: no such file") from None
        except json.JSONDecodeError as e:
            raise UsageError(f"--config {path}: not valid JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--config {path}: expected a JSON object of settings")
        for raw, value in loaded.items():
            key = str(raw).replace("-", "_").lower()
            if key not in GENERAL and key not in known:
                raise UsageError(f"--config {path}: unknown key {raw!r}{_closest(key, [*GENERAL, *known])}")
            given[key] = value
    given.update({k: v for k, v in vars(args).items() if k != "config"})
    settings = {}
    for key, (default, kind, _) in GENERAL.items():
        value = given.get(key, default)
        if value is not None and kind is not bool and not isinstance(value, kind):
            try:
                value = kind(value)
            except (TypeError, ValueError):
                raise UsageError(f"{_flag(key)} expects {kind.__name__}, got {value!r}") from None
        settings[key] = value
    _check_ranges(settings)
    settings["methods"] = _build_methods(settings["method"], {k: v for k, v in given.items() if k in known}, known)
    return settings


def _check_ranges(s: dict) -> None:
    rules = [
        ("epochs", s["epochs"] >= 1, ">= 1"), ("batch_size", s["batch_size"] >= 1, ">= 1"),
        ("lr", 0 < s["lr"] <= 1, "in (0, 1]"), ("seed", s["seed"] >= 0, ">= 0"),
        ("eval_every", s["eval_every"] >= 0, ">= 0"), ("warmup", s["warmup"] >= 0, ">= 0"),
    ]
    for key, ok, rule in rules:
        if not ok:
            raise UsageError(f"{_flag(key)} must be {rule}, got {s[key]}")
    if s["task"] not in image_data.TASK_PAIRS:
        raise UsageError(f"unknown task {s['task']!r}{_closest(s['task'], image_data.TASK_PAIRS)}; tasks: {', '.join(image_data.TASK_PAIRS)}")
    if s["schedule"] not in SCHEDULES:
        raise UsageError(f"--schedule must be one of {', '.join(SCHEDULES)}, got {s['schedule']!r}")
    if s["strategy"] not in STRATEGIES:
        raise UsageError(f"--strategy must be one of {', '.join(STRATEGIES)}, got {s['strategy']!r}")
    if s["resume"] and s["overwrite"]:
        raise UsageError("--resume and --overwrite exclude each other: continue the run, or replace it")


def _build_methods(spec: str, options: dict, known: dict) -> list:
    names = [n.strip() for n in str(spec).split("+") if n.strip()]
    if not names:
        raise UsageError("--method is empty; methods: " + ", ".join(M.REGISTRY))
    per_method: dict = {n: {} for n in names}
    for key, value in options.items():
        name, option, default = known[key]
        if name not in per_method:
            raise UsageError(f"{_flag(key)} is an option of {name}, which is not in --method {spec!r}")
        try:
            per_method[name][option] = _option_type(default)(value)
        except (TypeError, ValueError, KeyError):
            raise UsageError(f"{_flag(key)}: cannot read {value!r} as a value for {name}'s {option}") from None
    try:
        return M.as_list([M.build(n, **per_method[n]) for n in names])
    except ValueError as e:
        raise UsageError(str(e)) from None


def default_out(settings: dict) -> Path:
    label = "+".join(m.key for m in settings["methods"])
    return Path("build/runs") / f"{settings['task']}-{label}-seed{settings['seed']}"


def prepare_out(out: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to mix two runs in one folder; clear ours with ``overwrite``."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder: choose a folder for the run (it is created if missing)")
    blocker = next((p for p in out.parents if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise UsageError(f"--out {out}: {blocker} is a file, so no folder can be made inside it: choose another --out")
    ours = [out / RESULTS, out / HISTORY, out / CHECKPOINTS, out / MODEL]
    present = [p for p in ours if p.exists() and (not p.is_dir() or any(p.iterdir()))]
    if not present or resume:
        return
    if not overwrite:
        raise UsageError(f"{out} already holds a run ({', '.join(p.name for p in present)}): pass --resume to "
                         f"continue it, --overwrite to replace it, or choose another --out")
    for p in present:
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def export_model(result, folder: Path) -> Path:
    """Save the fine-tuned feature extractor as a SavedModel (+ the new head and model.json), atomically."""
    import numpy as np

    ctx = result.context
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # no "Assets written to" lines
    models.save(ctx.backbone, tmp)
    kernel, bias = (w.numpy() for w in ctx.head.weights)
    np.savez(tmp / catalog.HEAD_FILE, kernel=kernel, bias=bias)
    location = models.resolve(result.model)
    source = {} if models.is_hub_handle(location) else catalog.read_meta(location)
    meta = {"name": folder.name, "kind": source.get("kind", "feature_vector"), "fine_tuned_from": result.model,
            "task": result.task, "method": result.id, "methods": M.records(result.methods), "seed": result.seed,
            "input_shape": [None, *ctx.task_b.input_shape], "num_classes": int(kernel.shape[1]),
            "test_accuracy": result.final.get("B")}
    (tmp / catalog.META_FILE).write_text(json.dumps(meta, indent=2) + "\n")
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)
    return folder


def write_history(history: list, path: Path) -> None:
    columns = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns)
    w.writeheader()
    w.writerows(history)
    write_atomic(path, buf.getvalue().encode())


METRICS = {  # key: (what it is, which split)
    "A_head": ("task A, original head", "test"),
    "A_head_val": ("task A, original head", "validation"),
    "A_probe": ("task A, re-fitted linear probe", "test"),
    "B": ("task B, new head", "test"),
    "B_val": ("task B, new head", "validation"),
}


def summary_table(result) -> str:
    """before / after / change of each metric with its split, as printed at the end of a run.

    Validation numbers are the ones to choose settings on; test numbers are only reported.
    """
    lines = [f"{result.task} · {result.method} · {result.steps} steps · {result.train_seconds:.1f} s training",
             f"{'metric':<11} {'what':<31} {'split':<10} {'before':>7} {'after':>7} {'change':>7}"]
    for k, (what, split) in METRICS.items():
        if k in result.final:
            b, a = result.before.get(k), result.final[k]
            before, change = (f"{b:>7.3f}", f"{a - b:+7.3f}") if b is not None else (" " * 7, "")
            lines.append(f"{k:<11} {what:<31} {split:<10} {before} {a:>7.3f} {change}".rstrip())
    return "\n".join(lines)


def run(settings: dict) -> tuple:
    """Fine-tune with ``settings`` (from ``parse``) and write the run folder; returns (FineTuneResult, folder)."""

    out = Path(settings["out"]) if settings["out"] else default_out(settings)
    prepare_out(out, settings["resume"], settings["overwrite"])
    strategy = {"mirrored": mirrored_strategy, "multi-worker": multi_worker_strategy}.get(settings["strategy"], lambda: None)()
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # main() prints result.warnings as one line each
        warnings.simplefilter("ignore", ChanceLevelWarning)
        result = finetune(
            settings["model"], image_data.task_pair(settings["task"]), settings["methods"], epochs=settings["epochs"],
            batch_size=settings["batch_size"], learning_rate=settings["lr"], schedule=settings["schedule"], seed=settings["seed"],
            warmup=settings["warmup"],
            eval_every=settings["eval_every"], progress=settings["progress"], checkpoint_dir=out / CHECKPOINTS,
            resume=settings["resume"], strategy=strategy,
        )
    export_model(result, out / MODEL)
    config = {k: v for k, v in settings.items() if k != "methods"}
    config.update(out=str(out), replicas=strategy.num_replicas_in_sync if strategy else 1)
    record = {**result.to_dict(), "config": {**config, **result.config}, "versions": {**report.versions(), **report.machine()},
              "wall_seconds": time.perf_counter() - t0, "files": [RESULTS, HISTORY, CHECKPOINTS, MODEL]}
    write_history(result.history, out / HISTORY)
    write_atomic(out / RESULTS, (json.dumps(record, indent=2) + "\n").encode())
    return result, out


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    try:
        settings = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    previous = signal.signal(signal.SIGTERM, _interrupted)  # `kill` stops like Ctrl-C: checkpoints stay
    try:
        result, out = run(settings)
    except (UsageError, ResumeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (models.ModelLoadError, NonFiniteLossError, ValueError, RuntimeError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        out = settings["out"] or default_out(settings)
        print(f"interrupted: every complete epoch is saved in {Path(out) / CHECKPOINTS}; run the same command "
              f"with --resume to continue", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    print(summary_table(result))
    for note in result.warnings:
        print(f"warning: {note}", file=sys.stderr)
    print(f"wrote {out}/: {RESULTS}, {HISTORY}, {CHECKPOINTS}/, {MODEL}/ (load it with utils.models.load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
