"""Check cells (utils.evidence) and the numeric-variant harness's verdict (utils.robust), without running notebooks."""

import json

import pytest

from utils import evidence, paths, robust


@pytest.fixture
def recording(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "BUILD_DIR", tmp_path)
    monkeypatch.setenv(evidence.NOTEBOOK_ENV, "09_demo")
    monkeypatch.delenv(evidence.CALIBRATE_ENV, raising=False)
    return tmp_path / "checks" / "09_demo.json"


def test_a_claim_that_holds_is_printed_with_its_margin_and_recorded(recording, capsys):
    assert evidence.check("B is learnt", [0.96, 0.97, 0.98], ">=", 0.9) == pytest.approx(0.97)
    line = capsys.readouterr().out
    assert line.startswith("✓ B is learnt: 0.97 ± 0.010 over 3 seeds >= 0.9") and "= 7.0 sd" in line
    (entry,) = json.loads(recording.read_text())
    assert entry["passed"] and entry["n"] == 3 and entry["margin"] == pytest.approx(0.07) and entry["notebook"] == "09_demo"
    evidence.check("B is learnt alike", [0.1 + 0.2, 0.3, 0.3], ">=", 0.2)  # the spread is float noise: no margin in sd
    assert "sd)" not in capsys.readouterr().out


def test_a_claim_that_fails_raises_with_the_numbers(recording):
    with pytest.raises(evidence.ClaimFailed, match=r"forgets: measured 0\.5000 \(mean of 2 seeds, std 0\.1414\), which is not <= 0\.3"):
        evidence.check("forgets", [0.4, 0.6], "<=", 0.3)
    assert json.loads(recording.read_text())[0]["passed"] is False
    with pytest.raises(ValueError, match="op must be one of"):
        evidence.check("typo", 1, "=>", 0)


def test_calibration_records_a_failing_claim_without_raising(recording, monkeypatch):
    monkeypatch.setenv(evidence.CALIBRATE_ENV, "1")
    evidence.check("too strict", 0.5, ">=", 0.9)
    assert json.loads(recording.read_text())[0]["passed"] is False


def test_compare_rows_and_paired_differences():
    a = {"B": {"mean": 0.9, "std": 0.1, "n": 2, "values": [0.8, 1.0]}}
    b = {"B": {"mean": 0.85, "std": 0.07, "n": 2, "values": [0.8, 0.9]}}
    assert evidence.summarize(a["B"])[:2] == (pytest.approx(0.9), pytest.approx(0.1414, abs=1e-4))
    assert evidence.paired(a, b, "B") == pytest.approx([0.0, 0.1])
    assert evidence.summarize(0.5) == (0.5, None, 1)


def test_observations_are_recorded_not_asserted(recording, capsys):
    evidence.observe("lora keeps task A", [0.2, 0.9], ">", 0.95)
    assert "(observed, not asserted)" in capsys.readouterr().out
    assert json.loads(recording.read_text())[0]["kind"] == "observation"


def test_sanity_checks_are_asserted_but_recorded_and_counted_apart(recording, capsys):
    evidence.sanity("a frozen backbone keeps task A exactly", 0.0, "==", 0.0)
    assert capsys.readouterr().out.startswith("✓ sanity: a frozen backbone keeps task A exactly: 0 == 0")
    assert json.loads(recording.read_text())[0]["kind"] == "sanity"
    with pytest.raises(evidence.ClaimFailed):
        evidence.sanity("8-bit Adam saves 6 of 16 bytes", 5, "==", 6)
    runs = [{"variant": v, "curriculum_rc": 0, "curriculum_seconds": 1.0, "checks": [
        entry("evidence", 0.5, 0.05, 3, threshold=0.1), entry("by construction", 0, op="==", kind="sanity"),
        entry("broken", 1, op="==", threshold=0, kind="sanity")]} for v in ("seeds+0", "seeds+1")]
    for run in runs:
        run["checks"][2]["passed"] = False
    rows = robust.analyse(runs)
    table = robust.markdown(runs, rows)
    assert "| 02_x | by construction |" not in table and "Sanity checks (true by construction" in table
    assert "1 of 2 hold under every variant; **02_x: broken: fails under seeds+0, seeds+1**" in table
    assert [r.split(": ")[1] for r in robust.verdict(runs, rows)] == ["broken"]
    block = robust.readme_block(runs, rows)
    assert block.startswith("From the last `make robust`: 1 evidence checks (and 2 sanity checks") and "**1 checks fail" in block


def test_nothing_is_recorded_outside_the_executor(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "BUILD_DIR", tmp_path)
    monkeypatch.delenv(evidence.NOTEBOOK_ENV, raising=False)
    evidence.check("interactive", 1, "==", 1)
    assert not (tmp_path / "checks").exists()


def entry(claim, mean, std=None, n=1, op=">=", threshold=0.0, kind="check"):
    return {"notebook": "02_x", "claim": claim, "kind": kind, "mean": mean, "std": std, "n": n, "op": op,
            "threshold": threshold, "margin": evidence.margin(mean, op, threshold) if op else None,
            "passed": evidence.OPS[op](mean, threshold) if kind in ("check", "sanity") else None}


def test_the_harness_flags_thin_margins_failures_and_missing_checks():
    runs = [
        {"variant": "onednn-on", "curriculum_rc": 0, "curriculum_seconds": 9.0, "checks": [
            entry("wide", 0.50, 0.05, 3, threshold=0.1), entry("thin", 0.12, 0.02, 3, threshold=0.1),
            entry("exact", 650, op="==", threshold=650), entry("only here", 1.0), entry("flaky", 0.3, threshold=0.2)]},
        {"variant": "seeds+100", "curriculum_rc": 0, "curriculum_seconds": 9.0, "checks": [
            entry("wide", 0.48, 0.06, 3, threshold=0.1), entry("thin", 0.13, 0.02, 3, threshold=0.1),
            entry("exact", 650, op="==", threshold=650), entry("flaky", 0.1, threshold=0.2)]},
    ]
    rows = {r["claim"]: r for r in robust.analyse(runs)}
    assert rows["wide"]["ok"] and rows["wide"]["margin_sd"] == pytest.approx(0.39 / (0.0025 / 2 + 0.0036 / 2) ** 0.5)
    assert not rows["thin"]["ok"] and "margin" in rows["thin"]["problems"][0]
    assert rows["exact"]["ok"] and rows["exact"]["margin_sd"] is None
    assert rows["only here"]["problems"] == ["missing under seeds+100"]
    assert "fails under seeds+100" in rows["flaky"]["problems"] and rows["flaky"]["worst_variant"] == "seeds+100"
    reasons = robust.verdict(runs, list(rows.values()))
    assert len(reasons) == 3 and all(r.startswith("02_x: ") for r in reasons)
    table = robust.markdown(runs, list(rows.values()))
    assert "| 02_x | wide | >= 0.1 | 0.48 (seeds+100) |" in table
    assert robust.verdict([{**runs[0], "curriculum_rc": 1}], [rows["wide"]])[0].startswith("onednn-on: the curriculum failed")


def test_variant_names():
    assert robust.variant("onednn-off")[0] == {"TF_ENABLE_ONEDNN_OPTS": "0"}
    assert robust.variant("seeds+7")[0] == {"WORKBOOK_SEED": "7"}
    with pytest.raises(KeyError):
        robust.variant("gpu")


def test_unknown_variant_is_refused(capsys):
    with pytest.raises(SystemExit):
        robust.main(["--variants", "gpu"])
    assert "unknown variant(s) gpu" in capsys.readouterr().err
