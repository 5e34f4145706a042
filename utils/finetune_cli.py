"""The article's question 3 as a real tool: load an open-weight model, fine-tune it, validate, report.

    python -m utils.finetune_cli --task permute --method rehearsal+ewc --ewc-lambda 0.1 --epochs 10 --out runs/demo
    python -m utils.finetune_cli --data data/examples/shout.jsonl --method rehearsal --out runs/mine

Every setting is a flag, and the same keys may come from ``--config FILE.json`` (flags win):

    --model     bundled name, SavedModel folder or tfhub.dev handle (default: the task's or the data's bundled model)
    --task      permute | rot90 | split (task B; task A is the model's pretraining task), or
    --data      your data, its kind read from the model (``utils.user_data``): a JSONL of prompts and answers for a
                language model, a CSV (text,label) for the sentence encoder, a folder of class folders for an image
                model; --val FILE / --val-fraction, --test FILE, --truncate, --strict
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
a failed run (a model that does not load, a NaN loss) with exit status 1; an interruption with 130. Bad data is
refused before any training, with nothing written.
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

from . import catalog, image_data, lm_data, models, report, user_data
from . import methods as M
from .common import PROTOCOL, SCHEDULES, write_atomic
from .runtime import mirrored_strategy, multi_worker_strategy
from .train import ChanceLevelWarning, NonFiniteLossError, ResumeError, finetune

GENERAL = {  # key: (default, type, help)
    "model": (None, str, "bundled name, SavedModel folder or tfhub.dev handle (default: the task's bundled model)"),
    "task": ("permute", str, f"task B: {' | '.join(image_data.TASK_PAIRS)}"),
    "data": (None, str, "your data instead of --task: FILE.jsonl (language model), FILE.csv (encoder), FOLDER (images)"),
    "val": (None, str, "with --data: the validation file (default: --val-fraction of the data, stratified by label)"),
    "val_fraction": (user_data.VAL_FRACTION, float, "with --data: the share held out for validation (0 < f < 1)"),
    "test": (None, str, "with --data: the test file, only reported (default: none)"),
    "truncate": (False, bool, "with --data: cut answers that do not fit the model's context (default: refuse them)"),
    "strict": (False, bool, "with --data: refuse training examples that overlap a test prompt (default: count them)"),
    "quick_suite": (False, bool, "with --data, a language model: measure the capability suite on 32 prompts per skill and "
                                 "8 KiB of held-out text (about 5x faster, noisier)"),
    "method": ("full", str, f"method(s) joined by '+': {', '.join(M.REGISTRY)}"),
    "epochs": (None, int, f"training epochs (>= 1; default {PROTOCOL.epochs}; with --data, a language model "
                          f"{user_data.PROTOCOLS['lm']['epochs']}, the encoder {user_data.PROTOCOLS['text']['epochs']})"),
    "batch_size": (PROTOCOL.batch_size, int, "examples per step (>= 1)"),
    "lr": (None, float, f"Adam learning rate (0 < lr <= 1; default {PROTOCOL.learning_rate}; with --data, a language "
                        f"model {user_data.PROTOCOLS['lm']['lr']}, the encoder {user_data.PROTOCOLS['text']['lr']})"),
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
DATA_ONLY = ("val", "test", "truncate", "strict", "quick_suite")
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
    if "task" in given and settings["data"]:
        raise UsageError("--task and --data exclude each other: a built-in task, or your data")
    _check_ranges(settings)
    settings["methods"] = _build_methods(settings["method"], {k: v for k, v in given.items() if k in known}, known)
    return settings


def _check_ranges(s: dict) -> None:
    rules = [
        ("epochs", s["epochs"] is None or s["epochs"] >= 1, ">= 1"), ("batch_size", s["batch_size"] >= 1, ">= 1"),
        ("lr", s["lr"] is None or 0 < s["lr"] <= 1, "in (0, 1]"), ("seed", s["seed"] >= 0, ">= 0"),
        ("eval_every", s["eval_every"] >= 0, ">= 0"), ("warmup", s["warmup"] >= 0, ">= 0"),
        ("val_fraction", 0 < s["val_fraction"] < 1, "in (0, 1)"),
    ]
    for key, ok, rule in rules:
        if not ok:
            raise UsageError(f"{_flag(key)} must be {rule}, got {s[key]}")
    if not s["data"] and any(s[k] for k in DATA_ONLY):
        given = next(k for k in DATA_ONLY if s[k])
        raise UsageError(f"{_flag(given)} goes with --data (your data); the built-in tasks have their own splits")
    if not s["data"] and s["task"] not in image_data.TASK_PAIRS:
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
    name = Path(settings["data"]).stem if settings["data"] else settings["task"]
    return Path("build/runs") / f"{name}-{label}-seed{settings['seed']}"


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


INHERITED = ("input_shape", "input_dtype", "input_range", "output", "vocab", "specials", "ctx", "preprocessor",
             "chat_template", "feature_dim", "parameters")  # what a fine-tuned model keeps of its model.json


def export_model(result, folder: Path, labels=None) -> Path:
    """Save the fine-tuned model as a SavedModel (+ a classification head in head.npz, and model.json), atomically.
    A language model's output layer is its own: it has no head file."""
    import numpy as np

    ctx = result.context
    folder = Path(folder)
    tmp = folder.with_name(f".{folder.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    logging.getLogger("tensorflow").setLevel(logging.WARNING)  # no "Assets written to" lines
    models.save(ctx.backbone, tmp)
    head = [w.numpy() for w in ctx.head.weights]
    location = models.resolve(result.model)
    source = {} if models.is_hub_handle(location) else catalog.read_meta(location)
    meta = {"input_shape": [None, *ctx.task_b.input_shape], **{k: source[k] for k in INHERITED if k in source},
            "name": folder.name, "kind": source.get("kind", "feature_vector"), "fine_tuned_from": result.model,
            "task": result.task, "method": result.id, "methods": M.records(result.methods), "seed": result.seed}
    if head:
        np.savez(tmp / catalog.HEAD_FILE, kernel=head[0], bias=head[1])
        meta.update(num_classes=int(head[0].shape[1]), test_accuracy=result.final.get("B"))
    if labels:
        meta["labels"] = list(labels)
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


METRICS = {  # kind -> {key: (what it is, which split)}
    "image": {
        "A_head": ("task A, original head", "test"),
        "A_head_val": ("task A, original head", "validation"),
        "A_probe": ("task A, re-fitted linear probe", "test"),
        "B": ("task B, new head", "test"),
        "B_val": ("task B, new head", "validation"),
    },
    "text": {
        "B": ("your task, new head", "test"),
        "B_val": ("your task, new head", "validation"),
        "sts": ("graded similarity, Spearman", "general"),
        "para_mrr": ("paraphrase ranking, MRR", "general"),
        "retrieval": ("paraphrase retrieval, top-1", "general"),
        "topic_probe": ("topics, re-fitted probe", "general"),
        "spearman": ("similarities kept, Spearman", "general"),
    },
    "lm": {
        "B": ("your task, exact match", "test"),
        "B_val": ("your task, exact match", "validation"),
        "kl": ("KL(before || after), your prompts", "test"),
        "capabilities": ("capability suite, mean", "suite"),
        **{f"skill:{c}": (f"  {c} ({lm_data.KINDS[c]})", "suite") for c in lm_data.CAPABILITIES},
        "bpb": ("held-out text, bits/byte (lower)", "held-out"),
        "next_byte": ("held-out text, next-byte acc.", "held-out"),
    },
}
UNTESTED = ("B", "skill:data")  # what a run with --data and no --test file measures on the validation split: left out
ON_YOUR_TEST = ("kl",)  # measured on your test split, or on the validation split when there is none


def summary_table(result, data=None) -> str:
    """before / after / change of each metric with its split, as printed at the end of a run.

    Validation numbers are the ones to choose settings on; test numbers are only reported. With ``data`` (your data,
    ``utils.user_data.UserData``) the rows are its kind's: your task, and what the model knew before.
    """
    kind, has_test = (data.kind, data.has_test) if data else ("image", True)
    lines = [f"{result.task if data is None else data.files['train']} · {result.method} · {result.steps} steps · "
             f"{result.train_seconds:.1f} s training",
             f"{'metric':<19} {'what':<35} {'split':<10} {'before':>7} {'after':>7} {'change':>7}"]
    for k, (what, split) in METRICS[kind].items():
        if k in result.final and (has_test or k not in UNTESTED):
            split = "validation" if k in ON_YOUR_TEST and not has_test else split
            b, a = result.before.get(k), result.final[k]
            before, change = (f"{b:>7.3f}", f"{a - b:+7.3f}") if b is not None else (" " * 7, "")
            lines.append(f"{k:<19} {what:<35} {split:<10} {before} {a:>7.3f} {change}".rstrip())
    return "\n".join(lines)


def load_data(settings: dict):
    """(model, task pair, your data or None) of the run: the built-in task, or ``--data`` read and checked."""
    if not settings["data"]:
        return settings["model"], image_data.task_pair(settings["task"]), None
    model, data = user_data.load(settings["data"], settings["model"], val=settings["val"], test=settings["test"],
                                 val_fraction=settings["val_fraction"], seed=settings["seed"],
                                 truncate=settings["truncate"], strict=settings["strict"], quick=settings["quick_suite"])
    return model, (data.task_a, data.task), data


def describe(data) -> list[str]:
    """What was read, one line each: the splits, what was changed, the contamination found."""
    counts = ", ".join(f"{n} {s}" for s, n in data.counts.items())
    lines = [f"data: {data.files['train']} ({data.kind}): {counts}" + ("" if data.has_test else
                                                                       " (no --test file: nothing is reported as test)")]
    lines += [f"data: {note}" for note in data.notes]
    for against, c in data.contamination.items():
        total = sum(c.values())
        lines.append(f"contamination: {total} training examples overlap {against} ({c['exact']} exact, "
                     f"{c[f'{user_data.NGRAM}-gram']} by a run of {user_data.NGRAM} words)"
                     + (": --strict refuses them" if total else ""))
    return lines


def _drop_untested(record: dict) -> None:
    for part in (record.get("before", {}), record.get("final", {}), *record.get("history", [])):
        for k in UNTESTED:
            part.pop(k, None)


def make_strategy(settings: dict):
    """The ``tf.distribute`` strategy of ``--strategy`` (None by default); made before TensorFlow runs anything (a
    multi-worker strategy configures collective ops, which must come first)."""
    return {"mirrored": mirrored_strategy, "multi-worker": multi_worker_strategy}.get(settings["strategy"], lambda: None)()


def run(settings: dict, loaded: tuple, strategy) -> tuple:
    """Fine-tune with ``settings`` (from ``parse``) and write the run folder; returns (FineTuneResult, folder).
    loaded: ``load_data(settings)`` (bad data stops there, before anything is written); strategy: ``make_strategy``."""
    model, pair, data = loaded
    kind = data.kind if data else "image"
    defaults = user_data.PROTOCOLS.get(kind, {"epochs": PROTOCOL.epochs, "lr": PROTOCOL.learning_rate})
    epochs, lr = settings["epochs"] or defaults["epochs"], settings["lr"] or defaults["lr"]
    out = Path(settings["out"]) if settings["out"] else default_out(settings)
    prepare_out(out, settings["resume"], settings["overwrite"])
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # main() prints result.warnings as one line each
        warnings.simplefilter("ignore", ChanceLevelWarning)
        result = finetune(
            model, pair, settings["methods"], epochs=epochs, batch_size=settings["batch_size"], learning_rate=lr,
            schedule=settings["schedule"], seed=settings["seed"], warmup=settings["warmup"],
            eval_every=settings["eval_every"], progress=settings["progress"], checkpoint_dir=out / CHECKPOINTS,
            resume=settings["resume"], strategy=strategy,
        )
    export_model(result, out / MODEL, data.labels if data else None)
    config = {k: v for k, v in settings.items() if k != "methods"}
    config.update(out=str(out), replicas=strategy.num_replicas_in_sync if strategy else 1, epochs=epochs, lr=lr)
    record = {**result.to_dict(), "config": {**config, **result.config}, "versions": {**report.versions(), **report.machine()},
              "wall_seconds": time.perf_counter() - t0, "files": [RESULTS, HISTORY, CHECKPOINTS, MODEL]}
    if data:
        record["data"] = {"kind": data.kind, "files": data.files, "counts": data.counts, "labels": data.labels,
                          "contamination": data.contamination, "notes": data.notes}
        if not data.has_test:
            _drop_untested(record)
    write_history(record["history"], out / HISTORY)
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
        strategy = make_strategy(settings)
        loaded = load_data(settings)
        for line in describe(loaded[2]) if loaded[2] else ():
            print(line, flush=True)
        result, out = run(settings, loaded, strategy)
    except (UsageError, ResumeError, user_data.DataError) as e:
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
    print(summary_table(result, loaded[2]))
    for note in result.warnings:
        print(f"warning: {note}", file=sys.stderr)
    print(f"wrote {out}/: {RESULTS}, {HISTORY}, {CHECKPOINTS}/, {MODEL}/ (load it with utils.models.load)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
