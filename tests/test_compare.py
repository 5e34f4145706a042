import json

from utils import compare
from utils import methods as M


def test_summary_format_and_wise_ft_rows(tmp_path, monkeypatch):
    suite = [[M.WiSEFT(0.5, sweep=(0.5, 1.0))], [M.FrozenBackbone()]]
    s = compare.compare("permute", seeds=2, epochs=1, suite=suite, progress=False)
    assert s["task"] == "permute" and s["seeds"] == 2 and set(s["before"]) == {"A_head", "A_probe", "A_head_val"}
    assert set(s["methods"]) == {"full", "wise-ft(α=0.5)", "frozen"}
    for row in s["methods"].values():
        for k in ("A_head", "A_probe", "B", "A_head_val", "B_val", "train_seconds"):
            assert set(row[k]) == {"mean", "std", "n", "values"}
        assert len(row["B"]["values"]) == 2 and row["B"]["n"] == 2
    assert s["methods"]["frozen"]["A_head"]["mean"] == s["before"]["A_head"]
    assert s["methods"]["frozen"]["A_head"]["std"] == 0.0
    json.dumps(s)
    text = compare.table(s)
    assert "frozen" in text and "wise-ft(α=0.5)" in text


def test_cli_writes_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(compare, "default_suite", lambda: [[M.FrozenBackbone()]])
    out = tmp_path / "r.json"
    assert compare.main(["--task", "split", "--seeds", "1", "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
    s = json.loads(out.read_text())
    assert s["task"] == "split" and "frozen" in s["methods"]
    assert "frozen" in capsys.readouterr().out


def test_default_suite_covers_every_method():
    entries = [e["method"] if isinstance(e, dict) else e for e in compare.default_suite()]
    names = {m.name for entry in entries for m in entry} | {"full"}  # full = WiSE-FT at α=1
    assert names == set(M.REGISTRY) - {"token-dropout"}  # text only: notebook 04's suite
