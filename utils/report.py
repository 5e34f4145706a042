"""The run's report: headline numbers each notebook records, gathered into ``build/REPORT.md``.

A notebook ends with ``report.record("02_capability_degradation", headline={...}, comparison=summary)``;
that writes ``build/results/02_capability_degradation.json``. ``utils.curriculum`` (``make run``) then writes
``build/REPORT.md``: one line per notebook (seconds, pass/fail), the machine, the library versions, every
notebook's headline numbers and comparison tables, and the figures in ``build/figures/``.

``python -m utils.report readme`` copies the README's results block and key figures from the last run
(so the README's numbers are regenerated, never typed).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import sys
from pathlib import Path

from . import paths
from .common import to_jsonable, write_atomic

RESULTS_DIR = paths.BUILD_DIR / "results"
FIGURES_DIR = paths.BUILD_DIR / "figures"
README = paths.ROOT / "README.md"
README_FIGURES = paths.ROOT / "docs" / "figures"
README_START, README_END = "<!-- results:start -->", "<!-- results:end -->"
SEEDS_START, SEEDS_END = "<!-- seeds:start -->", "<!-- seeds:end -->"
CLI_START, CLI_END = "<!-- cli:start -->", "<!-- cli:end -->"
CLI_SAMPLE = ("--task permute --method rehearsal+ewc --rehearsal-fraction 0.1 --ewc-lambda 0.1 --epochs 10 "
              "--out build/runs/demo --overwrite")
OWN_DATA_START, OWN_DATA_END = "<!-- own-data:start -->", "<!-- own-data:end -->"
OWN_DATA_SAMPLES = (  # (what, the script's arguments): the README's "Fine-tune on your own data", one per model kind
    ("A language model (the chat model): a JSONL of prompts and answers",
     "--data data/examples/shout.jsonl --test data/examples/shout_test.jsonl --method rehearsal --rehearsal-fraction 0.5 "
     "--lr 3e-4 --epochs 5 --out build/runs/shout --overwrite"),
    ("The sentence encoder (MiniLM): a CSV of labelled sentences",
     "--data data/examples/feedback.csv --test data/examples/feedback_test.csv --method l2-sp --out build/runs/feedback "
     "--overwrite"),
    ("An image model (the digits convnet): a folder of class folders",
     "--data data/examples/flipped_digits --method rehearsal --out build/runs/flipped --overwrite"),
)
KEY_FIGURES = ("02_pareto_permute", "04_text_pareto", "05_frontier", "06_kl_law")
README_TABLES = (("02_capability_degradation", "Images (notebook 02)"), ("04_text_models", "Text (notebook 04)"),
                 ("05_llm_forgetting", "The chat model (notebook 05): capabilities kept per method"))


def record(notebook: str, results_dir: Path | None = None, **sections) -> Path:
    """Save ``sections`` (``headline={name: number}``, comparison summaries of ``utils.compare``...) for the report."""
    folder = Path(results_dir or RESULTS_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{notebook}.json"
    body = {"notebook": notebook, "fast": os.environ.get("WORKBOOK_FAST") == "1", "sections": to_jsonable(sections)}
    write_atomic(path, (json.dumps(body, indent=2, ensure_ascii=False) + "\n").encode())
    return path


def load(results_dir: Path | None = None) -> dict:
    """{notebook: recorded body} of every recorded notebook."""
    folder = Path(results_dir or RESULTS_DIR)
    return {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def _fmt(v) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def markdown_table(summary: dict) -> str:
    """A ``utils.compare`` summary as a Markdown table (mean ± std over seeds), best first."""
    keys = summary.get("keys", ["A_head", "A_probe", "B"])
    names = {"A_head": "task A, original head", "A_probe": "task A, linear probe", "B": "task B"}
    rows = sorted(summary["methods"].values(), key=lambda r: -r["metrics"][keys[0]]["mean"])
    lines = ["| method | " + " | ".join(names.get(k, k) for k in keys) + " |", "|---" * (len(keys) + 1) + "|"]
    before = summary.get("before") or {}
    if before:
        lines.append("| pretrained | " + " | ".join(_fmt(before[k]) if k in before else "—" for k in keys) + " |")
    for row in rows:
        m = row["metrics"]
        cells = [f"{m[k]['mean']:.3f}" + (f" ± {m[k]['std']:.3f}" if summary.get("seeds", 1) > 1 else "") for k in keys]  # sample std
        lines.append(f"| {row['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def is_comparison(value) -> bool:
    """True for a ``utils.compare`` summary."""
    return isinstance(value, dict) and isinstance(value.get("methods"), dict) and "keys" in value


def _section(name: str, value) -> str:
    if is_comparison(value):
        protocol = value.get("protocol", {})
        note = (f"task `{value.get('task')}`, mean ± sample std over {value.get('seeds')} seed(s), "
                + ", ".join(f"{k} {v}" for k, v in protocol.items()))
        return f"**{name}** ({note})\n\n{markdown_table(value)}\n"
    if isinstance(value, dict):
        return f"**{name}**\n\n" + "\n".join(f"- {k}: {_fmt(v)}" for k, v in value.items()) + "\n"
    return f"**{name}**: {_fmt(value)}\n"


def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        info["memory_gib"] = round(pages * size / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return info


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("tensorflow", "tf_keras", "tensorflow-hub", "tensorflow-text", "numpy", "scikit-learn", "matplotlib"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    return out


def write_report(runs: list, out_dir: Path | None = None) -> Path:
    """Write ``REPORT.md`` in ``out_dir`` (default build/) from the notebook runs and the recorded results."""
    out_dir = Path(out_dir or paths.BUILD_DIR)
    recorded = load(out_dir / "results")
    fast = os.environ.get("WORKBOOK_FAST") == "1"
    lines = [
        "# Workbook report", "",
        f"`make run{' FAST=1' if fast else ''}` on {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')}, "
        f"{'fast' if fast else 'full'} parameters. Machine: " + ", ".join(f"{k} {v}" for k, v in machine().items()) + ".",
        "Libraries: " + ", ".join(f"{k} {v}" for k, v in versions().items()) + ".", "",
        "| notebook | seconds | result |", "|---|---:|---|",
    ]
    for r in runs:
        status = "passed" if r.ok else f"FAILED at cell {r.failed_cell}: {r.error}"
        lines.append(f"| {r.name} | {r.seconds:.1f} | {status} |")
    lines.append(f"| **total** | {sum(r.seconds for r in runs):.1f} | {sum(r.ok for r in runs)}/{len(runs)} passed |")
    for name, body in recorded.items():
        lines += ["", f"## {name}", ""]
        for section, value in body["sections"].items():
            lines.append(_section(section, value))
    checks = [e for p in sorted((out_dir / "checks").glob("*.json")) for e in json.loads(p.read_text())]
    if checks:
        count = {k: sum(e["kind"] == k for e in checks) for k in ("check", "observation", "sanity")}
        lines += ["", "## Check cells", "", f"Every claim a notebook asserts as evidence (✓, {count['check']}) or only observes "
                  f"(·, {count['observation']}), with its margin to the threshold (`utils.evidence`; `make robust` runs them "
                  f"under other numerics); apart, the sanity checks (☐, {count['sanity']}): true by construction or by "
                  "arithmetic, they guard the code and are not evidence.", "",
                  "| notebook | claim | measured | threshold | margin |", "|---|---|---|---|---|"]
        for e in sorted(checks, key=lambda e: e["kind"] == "sanity"):
            mark = {"observation": "·", "sanity": "☐"}.get(e["kind"], "✓") if e["passed"] is not False else "✗"
            spread = f" ± {e['std']:.3f} ({e['n']} seeds)" if e.get("std") is not None else ""
            threshold = f"{e['op']} {e['threshold']:.4g}" if e.get("op") else "—"
            gap = f"{e['margin']:+.4g}" if e.get("margin") is not None else "—"
            lines.append(f"| {e['notebook'][:2]} | {mark} {e['claim']} | {e['mean']:.4g}{spread} | {threshold} | {gap} |")
    figures = sorted((out_dir / "figures").glob("*.png"))
    if figures:
        lines += ["", "## Figures", ""] + [f"![{f.stem}](figures/{f.name})" for f in figures]
    path = out_dir / "REPORT.md"
    write_atomic(path, ("\n".join(lines) + "\n").encode())
    return path


def replace_block(path: Path, start: str, end: str, body: str) -> None:
    """Replace what stands between the ``start`` and ``end`` markers of ``path`` (a generated README block)."""
    text = path.read_text()
    if start not in text or end not in text:
        raise ValueError(f"{path} has no {start} ... {end} block")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    write_atomic(path, (head + start + "\n" + body + end + tail).encode())


def cli_sample(args: str = CLI_SAMPLE) -> str:
    """The README's sample of the command-line script: the command and what a real run of it printed."""
    import subprocess
    import sys

    env = {**os.environ, "WORKBOOK_PROGRESS": "0", "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-m", "utils.finetune_cli", *args.split()], cwd=paths.ROOT, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the sample run failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    return (f"```bash\n.venv/bin/python -m utils.finetune_cli {args}\n```\nprints a progress bar, then (output of a real "
            f"run, written here by `python -m utils.report readme`; another CPU gives slightly other numbers):\n"
            f"```\n{done.stdout.strip()}\n```\n")


def own_data_samples() -> str:
    """The README's examples of ``--data``: each command and what a real run of it printed."""
    return "\n".join(f"**{what}**\n{cli_sample(args)}" for what, args in OWN_DATA_SAMPLES)


def seeds_table(checks_dir: Path, mode: str) -> str:
    """Per notebook, from the check records of the last run (``utils.evidence``): how many asserted checks rest on
    several seeds and how many on one, and how many observations: the README's seeds statement, from the code that ran.
    ``mode`` names the run the records come from (the full and the fast run use different seed counts)."""
    lines = [f"Counted from the check records of {mode}:", "",
             "| notebook | asserted on 3+ seeds | asserted on 2 | asserted on one seed | observed, not asserted | sanity checks (by construction) |",
             "|---|---|---|---|---|---|"]
    for path in sorted(Path(checks_dir).glob("*.json")):
        entries = json.loads(path.read_text())
        seeds = [e["n"] for e in entries if e["kind"] == "check"]
        lines.append(f"| {path.stem} | {sum(n >= 3 for n in seeds)} | {seeds.count(2)} | {seeds.count(1)} | "
                     f"{sum(e['kind'] == 'observation' for e in entries)} | {sum(e['kind'] == 'sanity' for e in entries)} |")
    return "\n".join(lines) + "\n"


def update_readme(readme: Path = README, results_dir: Path | None = None, cli: bool = True) -> list[str]:
    """Replace the README's results block with the recorded comparisons and copy the key figures next to it; with
    ``cli``, also the sample outputs of the command-line script (a real run of each, about 3 minutes in all)."""
    recorded = load(results_dir)
    missing = [n for n, _ in README_TABLES if n not in recorded]
    if missing:
        raise FileNotFoundError(f"no recorded results for {', '.join(missing)}: run `make run` first")
    block = []
    for name, title in README_TABLES:
        body = recorded[name]
        mode = "`make run FAST=1`" if body["fast"] else "`make run`"
        for section, value in body["sections"].items():
            if is_comparison(value):
                block += [f"**{title}**, from {mode}: {_section(section, value)}"]
    README_FIGURES.mkdir(parents=True, exist_ok=True)
    copied = []
    for stem in KEY_FIGURES:
        source = (Path(results_dir).parent if results_dir else paths.BUILD_DIR) / "figures" / f"{stem}.png"
        if source.exists():
            shutil.copyfile(source, README_FIGURES / source.name)
            block.append(f"![{stem}](docs/figures/{source.name})\n")
            copied.append(source.name)
    replace_block(readme, README_START, README_END, "\n".join(block) + "\n")
    checks = (Path(results_dir).parent if results_dir else paths.BUILD_DIR) / "checks"
    modes = sorted({"`make run FAST=1`" if body["fast"] else "`make run`" for body in recorded.values()})
    replace_block(readme, SEEDS_START, SEEDS_END, seeds_table(checks, " and ".join(modes)))
    if cli:
        replace_block(readme, CLI_START, CLI_END, cli_sample())
        replace_block(readme, OWN_DATA_START, OWN_DATA_END, own_data_samples())
    return copied


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["readme"], help="readme: refresh README.md's results block and figures")
    parser.parse_args(argv)
    try:
        copied = update_readme()
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"updated {README} (figures: {', '.join(copied) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
