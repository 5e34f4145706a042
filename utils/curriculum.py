"""Executes the notebooks headless: ``python -m utils.curriculum run`` (what ``make run`` calls).

For each ``notebooks/NN_*.ipynb`` in order it prints one line (name, seconds, pass/fail), writes
the executed copy to ``build/notebooks/`` and an HTML page to ``build/html/`` (also for a notebook
that failed, up to the failing cell), then ``build/REPORT.md`` (``utils.report``: seconds and status of
each notebook, machine, library versions, every notebook's headline numbers, the figures), and exits
non-zero naming every failed notebook and its cell. ``WORKBOOK_FAST=1`` in the environment selects each
notebook's fast parameters.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from . import paths

NOTEBOOKS_DIR = paths.NOTEBOOKS_DIR


@dataclass
class NotebookRun:
    name: str
    seconds: float
    ok: bool
    failed_cell: int | None = None  # 1-based index among all cells
    error: str = ""


def notebooks(pattern: str = "[0-9][0-9]_*.ipynb") -> list[Path]:
    """The curriculum, in order."""
    return sorted(NOTEBOOKS_DIR.glob(pattern))


def _failed_cell(nb) -> tuple[int | None, str]:
    for i, cell in enumerate(nb.cells, start=1):
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                return i, f"{out.get('ename')}: {out.get('evalue')}"
    return None, ""


# The kernel's own stderr (file descriptor 2): TensorFlow's C++ start-up lines (oneDNN, CUDA probing) are written
# there before its log level applies, so no setting silences them. The kernel does not forward them into the
# notebook (ipykernel's fd capture off); they go to build/logs/NN_name.kernel.log, kept for inspection. Python
# warnings and errors still reach the notebook: they go through sys.stderr, which ipykernel forwards.
KERNEL_ARGS = ["--IPKernelApp.capture_fd_output=False"]
KERNEL_ENV = {"WORKBOOK_PROGRESS": "0"}  # no progress-bar frames in executed copies (live bars stay in JupyterLab)


# The longest a cell may run before it counts as hung: FAST cells take at most about 2 minutes here; notebook 05's
# full comparison about 11, and machines of this class differ by up to 1.5x, so the full run allows an hour.
CELL_TIMEOUT = {"fast": 900, "full": 3600}


def execute(path: Path, out_dir: Path = paths.BUILD_DIR, timeout: int | None = None) -> NotebookRun:
    """Run one notebook in its own folder; write the executed copy and its HTML under ``out_dir`` (and the kernel's
    low-level stderr to ``out_dir/logs/``). timeout: seconds a cell may run (default ``CELL_TIMEOUT`` of the mode)."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError
    from nbconvert import HTMLExporter

    nb = nbformat.read(path, as_version=4)
    timeout = timeout or CELL_TIMEOUT["fast" if os.environ.get("WORKBOOK_FAST") == "1" else "full"]
    os.environ["WORKBOOK_NOTEBOOK"] = path.stem  # the kernel records its check cells under this name
    # shutdown "immediate": once the last cell has replied, nothing is left to wait for; a graceful shutdown of a
    # kernel that loaded TensorFlow waits about a second for its threads to wind down
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                            extra_arguments=KERNEL_ARGS, shutdown_kernel="immediate")
    (out_dir / "logs").mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    ok, error = True, ""
    with open(out_dir / "logs" / f"{path.stem}.kernel.log", "w") as log:
        try:
            client.execute(env={**os.environ, **KERNEL_ENV}, stdout=log, stderr=log)
        except CellExecutionError as e:
            ok, error = False, str(e).strip().splitlines()[-1] if str(e).strip() else repr(e)
        except Exception as e:  # a dead kernel or a timeout: report it like a failed cell
            ok, error = False, f"{type(e).__name__}: {e} (kernel log: {log.name})"
    seconds = time.perf_counter() - t0
    cell, cell_error = _failed_cell(nb) if not ok else (None, "")
    for sub in ("notebooks", "html"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, out_dir / "notebooks" / path.name)
    html, _ = HTMLExporter().from_notebook_node(nb)
    (out_dir / "html" / (path.stem + ".html")).write_text(html, encoding="utf-8")
    return NotebookRun(path.name, seconds, ok, cell, cell_error or error)


def run(selected: list[Path], out_dir: Path = paths.BUILD_DIR) -> list[NotebookRun]:
    """Execute ``selected`` notebooks in order, printing one line each."""
    mode = "fast" if os.environ.get("WORKBOOK_FAST") == "1" else "full"
    print(f"Executing {len(selected)} notebooks ({mode} parameters) -> {out_dir}/", flush=True)
    results = []
    for path in selected:
        print(f"  {path.name:40s} ...", end="", flush=True)
        r = execute(path, out_dir)
        status = "ok" if r.ok else f"FAILED at cell {r.failed_cell}: {r.error}"
        print(f"\r  {path.name:40s} {r.seconds:7.1f} s  {status}", flush=True)
        results.append(r)
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.curriculum", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="execute the notebooks")
    r.add_argument("names", nargs="*", help="notebook files or name prefixes (default: all)")
    r.add_argument("--out", type=Path, default=paths.BUILD_DIR)
    args = parser.parse_args(argv)

    selected = notebooks()
    if args.names:
        selected = [p for p in selected if any(p.name.startswith(Path(n).name.split(".")[0]) for n in args.names)]
        if not selected:
            parser.error(f"no notebook matches {args.names}; notebooks: {', '.join(p.name for p in notebooks())}")
    out = args.out.resolve()
    os.environ["WORKBOOK_BUILD_DIR"] = str(out)  # the kernels write their figures and results there
    for path in selected:  # no stale numbers: a notebook that fails before recording leaves none
        for kind in ("results", "checks"):
            (out / kind / f"{path.stem}.json").unlink(missing_ok=True)
    results = run(selected, out)
    from .report import write_report

    report = write_report(results, out)
    total = sum(r.seconds for r in results)
    failed = [r for r in results if not r.ok]
    print(f"{len(results) - len(failed)}/{len(results)} notebooks passed in {total:.1f} s; executed copies in "
          f"{out / 'notebooks'}, HTML in {out / 'html'}, report {report}")
    for r in failed:
        print(f"FAILED: {r.name}, cell {r.failed_cell}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
