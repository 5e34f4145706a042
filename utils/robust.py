"""The numeric-variant harness: ``python -m utils.robust`` (``make robust``).

TensorFlow's CPU kernels (oneDNN or Eigen, chosen by instruction set and thread count) give other
floating-point results on other processors, so the same seed gives other numbers on another machine.
This harness stands in for other machines: it runs the FAST curriculum (every notebook, every check
cell) and the unit tests under several variants of the numerics, plus one shifted set of seeds, and
gathers every check cell's record (``utils.evidence``). It fails when

- a notebook or a unit test fails under any variant,
- a check cell fails, or is missing, under any variant,
- an asserted check sits closer than ``MIN_SD`` standard deviations to its threshold (the mean margin over
  the variants). The standard deviation is the larger of the seed-to-seed one measured inside the runs
  (checks on several seeds; pooled over the variants) and the spread of the value across the variants
  (which includes the shifted seeds). Exact checks (no spread anywhere: counts, identities) only need to hold.

It writes ``build/robust/ROBUST.md`` and ``robust.json`` (check, threshold, worst value and its variant,
margin in standard deviations) and each variant's executed notebooks under ``build/robust/<variant>/``;
``python -m utils.robust --readme`` copies its summary into the README.
About 25-35 minutes on 2 cores; not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

from . import paths
from .evidence import FLOAT_NOISE
from .metrics import mean_std

MIN_SD = 2.0
SEED_SHIFT = "100"
VARIANTS = {  # name -> (environment changes, what it stands in for, runs the unit tests)
    "onednn-on": ({"TF_ENABLE_ONEDNN_OPTS": "1"}, "oneDNN kernels (the default on x86 Linux)", True),
    "onednn-off": ({"TF_ENABLE_ONEDNN_OPTS": "0"}, "plain Eigen kernels: another instruction path", True),
    "threads-swap": ({"WORKBOOK_THREADS_SWAP": "1", "TF_NUM_INTEROP_THREADS": "1"},
                     "another thread layout (each notebook's other intra-op count, 1 <-> 2): other reduction orders", True),
    "seeds+100": ({"WORKBOOK_SEED": SEED_SHIFT}, "every notebook's seeds shifted by 100", False),
}


def variant(name: str) -> tuple[dict, str, bool]:
    """(environment changes, what it stands in for, runs the unit tests) of a variant name; "seeds+K" for any K."""
    if name in VARIANTS:
        return VARIANTS[name]
    if name.startswith("seeds+") and name[6:].isdigit():
        return {"WORKBOOK_SEED": name[6:]}, f"every notebook's seeds shifted by {name[6:]}", False
    raise KeyError(name)


def run_variant(name: str, out: Path, notebooks: list[str], tests: bool, calibrate: bool = False) -> dict:
    """Run the FAST curriculum (and the unit tests) with the variant's environment; returns what happened.

    calibrate: failing checks are recorded, not raised (``WORKBOOK_CALIBRATE=1``), to measure their spread."""
    changes, _, runs_tests = variant(name)
    env = {**os.environ, **changes, "WORKBOOK_FAST": "1", "WORKBOOK_PROGRESS": "0"}
    if calibrate:
        env["WORKBOOK_CALIBRATE"] = "1"
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    result = {"variant": name, "env": changes}
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "utils.curriculum", "run", *notebooks, "--out", str(folder)]
    with open(folder / "curriculum.log", "w") as log:
        result["curriculum_rc"] = subprocess.call(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=paths.ROOT)
    result["curriculum_seconds"] = time.perf_counter() - t0
    if tests and runs_tests:
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "pytest", "tests", "-q", "-n", "2", "--dist", "loadfile", "-p", "no:cacheprovider"]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=paths.ROOT)
        (folder / "pytest.log").write_text(proc.stdout + proc.stderr)
        lines = [ln for ln in proc.stdout.strip().splitlines() if ln.strip()]
        result.update(tests_rc=proc.returncode, tests_summary=lines[-1] if lines else "",
                      tests_seconds=time.perf_counter() - t0)
    result["checks"] = [e for p in sorted((folder / "checks").glob("*.json")) for e in json.loads(p.read_text())]
    return result


def analyse(runs: list[dict], min_sd: float = MIN_SD) -> list[dict]:
    """One row per check cell over all variants: worst value, margin, margin in standard deviations, verdict."""
    keys = []
    by_key: dict = {}
    for run in runs:
        for e in run["checks"]:
            key = (e["notebook"], e["claim"])
            if key not in by_key:
                keys.append(key)
            by_key.setdefault(key, {})[run["variant"]] = e
    rows = []
    for key in keys:
        per = by_key[key]
        first = next(iter(per.values()))
        asserted = first["kind"] in ("check", "sanity")
        missing = [r["variant"] for r in runs if r["variant"] not in per]
        means = [e["mean"] for e in per.values()]
        seed_vars = [e["std"] ** 2 for e in per.values() if e["std"] is not None]
        seed_sd = math.sqrt(sum(seed_vars) / len(seed_vars)) if seed_vars else 0.0  # pooled over the variants
        sd = max(seed_sd, mean_std(means)["std"])
        sd = 0.0 if sd < FLOAT_NOISE else sd
        margins = {v: e["margin"] for v, e in per.items() if e["margin"] is not None}
        worst_variant = min(margins, key=margins.get) if margins else None
        mean_margin = sum(margins.values()) / len(margins) if margins else None
        in_sd = None if mean_margin is None or sd == 0 else mean_margin / sd
        problems = []
        if asserted:
            if missing:
                problems.append("missing under " + ", ".join(missing))
            failed = [v for v, e in per.items() if not e["passed"]]
            if failed:
                problems.append("fails under " + ", ".join(failed))
            if in_sd is not None and in_sd < min_sd:
                problems.append(f"margin {in_sd:.1f} sd < {min_sd:g}")
        rows.append({
            "notebook": key[0], "claim": key[1], "kind": first["kind"], "op": first["op"],
            "threshold": first["threshold"], "values": {v: e["mean"] for v, e in per.items()},
            "seeds": max(e["n"] for e in per.values()), "worst_variant": worst_variant,
            "worst_value": per[worst_variant]["mean"] if worst_variant else None,
            "worst_margin": margins.get(worst_variant), "sd": sd, "margin_sd": in_sd,
            "ok": not problems, "problems": problems,
        })
    return rows


def _num(v, digits=4) -> str:
    return "—" if v is None else f"{v:.{digits}g}"


def markdown(runs: list[dict], rows: list[dict], min_sd: float = MIN_SD) -> str:
    lines = ["# Numeric-variant harness (`make robust`)", "",
             "Every check cell of the FAST curriculum, run under each variant. Margin: distance of the value to the "
             f"threshold on the claim's good side; sd: the larger of the seed-to-seed and the across-variant standard "
             f"deviation; a check needs margin >= {min_sd:g} sd (exact checks, with no spread, only need to hold).", "",
             "| variant | stands in for | notebooks | unit tests |", "|---|---|---|---|"]
    for r in runs:
        tests = r.get("tests_summary", "not run") if "tests_rc" in r else "not run (seeds do not change them)"
        status = "passed" if r["curriculum_rc"] == 0 else "FAILED"
        lines.append(f"| {r['variant']} | {variant(r['variant'])[1]} | {status} ({r['curriculum_seconds']:.0f} s) | {tests} |")
    lines += ["", "| notebook | claim | threshold | worst value (variant) | worst margin | sd | margin / sd | status |",
              "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        if row["kind"] != "check":
            continue
        verdict = "ok" if row["ok"] else "**" + "; ".join(row["problems"]) + "**"
        in_sd = "exact" if row["margin_sd"] is None else f"{row['margin_sd']:.1f}"
        lines.append(f"| {row['notebook']} | {row['claim']} | {row['op']} {_num(row['threshold'])} | "
                     f"{_num(row['worst_value'])} ({row['worst_variant']}) | {_num(row['worst_margin'], 3)} | "
                     f"{_num(row['sd'], 2)} | {in_sd} | {verdict} |")
    sanity = [r for r in rows if r["kind"] == "sanity"]
    if sanity:
        lines += ["", f"Sanity checks (true by construction or arithmetic: they guard the code, they are not evidence): "
                      f"{sum(r['ok'] for r in sanity)} of {len(sanity)} hold under every variant"
                      + "".join(f"; **{r['notebook']}: {r['claim']}: {'; '.join(r['problems'])}**" for r in sanity if not r["ok"])]
    observed = [r for r in rows if r["kind"] == "observation"]
    if observed:
        lines += ["", "Observations (printed, not asserted: too close to call with margin):", "",
                  "| notebook | observation | values by variant |", "|---|---|---|"]
        for row in observed:
            values = ", ".join(f"{v} {_num(x)}" for v, x in row["values"].items())
            lines.append(f"| {row['notebook']} | {row['claim']} | {values} |")
    return "\n".join(lines) + "\n"


def verdict(runs: list[dict], rows: list[dict]) -> list[str]:
    """Every reason the harness fails (empty: it passes)."""
    reasons = [f"{r['variant']}: the curriculum failed (see {r['variant']}/curriculum.log)" for r in runs if r["curriculum_rc"]]
    reasons += [f"{r['variant']}: unit tests failed: {r['tests_summary']}" for r in runs if r.get("tests_rc")]
    reasons += [f"{row['notebook']}: {row['claim']}: {'; '.join(row['problems'])}" for row in rows if not row["ok"]]
    if not rows:
        reasons.append("no check cell was recorded")
    return reasons


README_START, README_END = "<!-- robust:start -->", "<!-- robust:end -->"


def readme_block(runs: list[dict], rows: list[dict], tightest: int = 8) -> str:
    """The README's summary: what ran under which variants, and the checks closest to their thresholds."""
    asserted, sanity = ([r for r in rows if r["kind"] == k] for k in ("check", "sanity"))
    failed = [r for r in asserted + sanity if not r["ok"]]
    tests = [r for r in runs if "tests_rc" in r]
    lines = [f"From the last `make robust`: {len(asserted)} evidence checks (and {len(sanity)} sanity checks, true by "
             f"construction) of the FAST curriculum under "
             f"{len(runs)} variants ({', '.join(r['variant'] for r in runs)}); unit tests under "
             f"{', '.join(r['variant'] for r in tests) or 'none'}: "
             + ("; ".join(f"{r['variant']} {r['tests_summary']}" for r in tests) or "not run") + ". "
             + ("**Every check holds under every variant with a margin of at least "
                f"{MIN_SD:g} sd.**" if not failed else f"**{len(failed)} checks fail: see build/robust/ROBUST.md.**"),
             "", f"The {tightest} checks closest to their thresholds (the full table: `build/robust/ROBUST.md`):", "",
             "| notebook | claim | threshold | worst value (variant) | margin / sd |", "|---|---|---|---|---|"]
    finite = sorted((r for r in asserted if r["margin_sd"] is not None), key=lambda r: r["margin_sd"])
    for r in finite[:tightest]:
        lines.append(f"| {r['notebook'][:2]} | {r['claim']} | {r['op']} {_num(r['threshold'])} | "
                     f"{_num(r['worst_value'])} ({r['worst_variant']}) | {r['margin_sd']:.1f} |")
    return "\n".join(lines) + "\n"


def update_readme(out: Path, readme: Path = paths.ROOT / "README.md") -> None:
    """Replace the README's robust block with the summary of ``out/robust.json``."""
    from .report import replace_block

    saved = json.loads((out / "robust.json").read_text())
    replace_block(readme, README_START, README_END, readme_block(saved["runs"], saved["rows"]))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m utils.robust", description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, from {', '.join(VARIANTS)}, or seeds+K for another seed shift")
    parser.add_argument("--no-tests", action="store_true", help="skip the unit tests")
    parser.add_argument("--calibrate", action="store_true",
                        help="record failing checks without stopping the notebook: measure every check's spread "
                             "(e.g. --variants seeds+0,seeds+1,seeds+2,seeds+3); implies --no-tests")
    parser.add_argument("--out", type=Path, default=paths.BUILD_DIR / "robust")
    parser.add_argument("--readme", action="store_true", help="only copy the last run's summary into README.md")
    args = parser.parse_args(argv)
    if args.readme:
        try:
            update_readme(args.out.resolve())
        except (OSError, ValueError) as e:
            print(f"error: {e} (run `make robust` first)", file=sys.stderr)
            return 1
        print(f"updated {paths.ROOT / 'README.md'} from {args.out / 'robust.json'}")
        return 0
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = [v for v in names if v not in VARIANTS and not (v.startswith("seeds+") and v[6:].isdigit())]
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    out = args.out.resolve()
    runs = []
    for name in names:
        print(f"variant {name:12s} ...", end="", flush=True)
        r = run_variant(name, out, args.notebooks, tests=not (args.no_tests or args.calibrate), calibrate=args.calibrate)
        tests = f", unit tests: {r['tests_summary']}" if "tests_rc" in r else ""
        print(f"\rvariant {name:12s} notebooks {'ok' if r['curriculum_rc'] == 0 else 'FAILED'} "
              f"({r['curriculum_seconds']:.0f} s), {len(r['checks'])} checks{tests}", flush=True)
        runs.append(r)
    rows = analyse(runs)
    (out / "robust.json").write_text(json.dumps({"runs": runs, "rows": rows}, indent=1, ensure_ascii=False) + "\n")
    (out / "ROBUST.md").write_text(markdown(runs, rows))
    asserted = [r for r in rows if r["kind"] == "check"]
    finite = [r["margin_sd"] for r in asserted if r["margin_sd"] is not None]
    print(f"{len(asserted)} checks under {len(runs)} variants; smallest margin "
          f"{min(finite):.1f} sd" if finite else f"{len(asserted)} checks, all exact", f"-> {out / 'ROBUST.md'}")
    reasons = verdict(runs, rows)
    for reason in reasons:
        print("FAILED:", reason, file=sys.stderr)
    return 1 if reasons else 0


if __name__ == "__main__":
    sys.exit(main())
