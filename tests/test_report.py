"""build/REPORT.md, the README's regenerated results, and `make run`'s executor offline and repeatable."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from utils import report
from utils.curriculum import NotebookRun

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = {"task": "permute", "seeds": 3, "keys": ["A_head", "B"], "protocol": {"epochs": 10},
           "before": {"A_head": 0.987}, "methods": {
               "full": {"label": "full", "metrics": {"A_head": {"mean": 0.454, "std": 0.052}, "B": {"mean": 0.972, "std": 0.003}}},
               "rehearsal(fraction=0.4)": {"label": "rehearsal(40%)", "metrics": {
                   "A_head": {"mean": 0.988, "std": 0.005}, "B": {"mean": 0.971, "std": 0.001}}}}}


def test_report_has_a_line_per_notebook_the_numbers_and_the_figures(tmp_path):
    report.record("02_x", results_dir=tmp_path / "results", comparison=SUMMARY, headline={"gap": 0.40625, "methods": 5})
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "02_pareto_permute.png").write_bytes(b"png")
    runs = [NotebookRun("01_a.ipynb", 12.5, True), NotebookRun("02_x.ipynb", 30.0, False, 7, "AssertionError: x")]
    text = report.write_report(runs, tmp_path).read_text()
    assert "| 01_a.ipynb | 12.5 | passed |" in text and "| 02_x.ipynb | 30.0 | FAILED at cell 7: AssertionError: x |" in text
    assert "| **total** | 42.5 | 1/2 passed |" in text and "tensorflow 2.21.0" in text and "cpus" in text
    assert "| rehearsal(40%) | 0.988 ± 0.005 | 0.971 ± 0.001 |" in text  # best first
    assert text.index("rehearsal(40%)") < text.index("| full |") and "| pretrained | 0.987 | — |" in text
    assert "- gap: 0.406" in text and "- methods: 5" in text and "![02_pareto_permute](figures/02_pareto_permute.png)" in text


def test_readme_block_is_regenerated_from_the_recorded_results(tmp_path, monkeypatch):
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{report.README_START}\nold numbers\n{report.README_END}\n"
                      f"{report.SEEDS_START}\n{report.SEEDS_END}\n{report.CLI_START}\nold output\n{report.CLI_END}\n"
                      f"{report.OWN_DATA_START}\nold data\n{report.OWN_DATA_END}\noutro\n")
    (tmp_path / "build" / "checks").mkdir(parents=True)
    (tmp_path / "build" / "checks" / "02_x.json").write_text(json.dumps(
        [{"claim": "a", "kind": "check", "n": 3}, {"claim": "b", "kind": "check", "n": 1}, {"claim": "c", "kind": "observation", "n": 1},
         {"claim": "d", "kind": "sanity", "n": 1}]))
    monkeypatch.setattr(report, "cli_sample", lambda args=report.CLI_SAMPLE: f"```\nthe run's output: {args}\n```\n")
    results = tmp_path / "build" / "results"
    with pytest.raises(FileNotFoundError, match="run `make run` first"):
        report.update_readme(readme, results)
    report.record("02_capability_degradation", results_dir=results, comparison=SUMMARY)
    report.record("04_text_models", results_dir=results, comparison={**SUMMARY, "task": "intents"})
    with pytest.raises(FileNotFoundError, match="05_llm_forgetting"):
        report.update_readme(readme, results)
    report.record("05_llm_forgetting", results_dir=results, comparison={**SUMMARY, "task": "skill:snake"})
    (tmp_path / "build" / "figures").mkdir()
    (tmp_path / "build" / "figures" / "02_pareto_permute.png").write_bytes(b"png")
    monkeypatch.setattr(report, "README_FIGURES", tmp_path / "docs" / "figures")
    assert report.update_readme(readme, results) == ["02_pareto_permute.png"]
    text = readme.read_text()
    assert "old numbers" not in text and text.startswith("intro\n") and text.endswith("outro\n")
    assert "old output" not in text and f"the run's output: {report.CLI_SAMPLE}" in text
    assert "old data" not in text and "**An image model" in text and "--data data/examples/flipped_digits" in text
    assert "| 02_x | 1 | 0 | 1 | 1 | 1 |" in text  # the seeds each notebook's checks rest on, counted from its records
    mode = "`make run FAST=1`" if os.environ.get("WORKBOOK_FAST") == "1" else "`make run`"
    assert f"Counted from the check records of {mode}:" in text  # the run the counts come from is named
    assert text.count("| rehearsal(40%) |") == 3 and "capabilities kept per method" in text and "![02_pareto_permute](docs/figures/02_pareto_permute.png)" in text
    assert (tmp_path / "docs" / "figures" / "02_pareto_permute.png").exists()


def offline(cmd):
    """``cmd`` in a fresh network namespace (no network at all, only loopback, which Jupyter kernels talk over),
    when this machine allows one."""
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare and ip and subprocess.run([unshare, "-rn", ip, "link", "set", "lo", "up"], capture_output=True).returncode == 0:
        return [unshare, "-rn", "sh", "-c", f'{ip} link set lo up && exec "$@"', "sh", *cmd], True
    return cmd, False


def test_make_run_executor_works_offline_and_repeats_its_numbers(tmp_path):
    """Notebook 00 through the executor, without network; its number is the one recorded when the model was built."""
    from utils import catalog

    env = dict(os.environ, PYTHONPATH=str(ROOT), WORKBOOK_FAST="1", WORKBOOK_PROGRESS="0")
    out = tmp_path / "run"
    cmd, isolated = offline([sys.executable, "-m", "utils.curriculum", "run", "00", "--out", str(out)])
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "00_start_here.ipynb" in p.stdout and " ok" in p.stdout
    text = (out / "REPORT.md").read_text()
    assert "| 00_start_here.ipynb |" in text and "1/1 passed" in text
    assert (out / "notebooks" / "00_start_here.ipynb").exists() and (out / "html" / "00_start_here.html").exists()
    assert (out / "figures" / "00_digits_predictions.png").exists()
    recorded = json.loads((out / "results" / "00_start_here.json").read_text())["sections"]["headline"]
    built = catalog.read_meta(catalog.BUNDLED["digits-convnet"].path)["test_accuracy"]
    assert round(recorded["pretrained task-A test accuracy"], 6) == built  # same number, run after run
    if not isolated:
        pytest.skip("ran with the network present: this machine cannot create a network namespace")
