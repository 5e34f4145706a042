import json

import numpy as np
import pytest

from utils import compare, image_data, suites
from utils import methods as M


def test_summary_rows_are_records_keyed_by_stable_ids(tmp_path, monkeypatch):
    suite = [[M.WiSEFT(0.5, sweep=(0.5, 1.0))], [M.FrozenBackbone()]]
    s = compare.compare("permute", seeds=2, epochs=1, suite=suite, progress=False)
    assert s["task"] == "permute" and s["seeds"] == 2 and set(s["before"]) == {"A_head", "A_probe", "A_head_val", "A_drift", "A_scale"}
    assert s["before"]["A_drift"] == pytest.approx(0.0, abs=1e-6) and s["before"]["A_scale"] == pytest.approx(1.0)
    assert set(s["methods"]) == {"full", "wise-ft", "frozen"}  # ids show the options that differ from the defaults
    assert all(rid.isascii() for rid in s["methods"])
    wise = s["methods"]["wise-ft"]
    assert wise["methods"] == [{"method": "wise-ft", "options": {"alpha": 0.5, "sweep": [0.0, 0.25, 0.5, 0.75, 1.0],
                                                                 "head": "auto"}}]
    assert wise["label"] == "wise-ft(α=0.5)" and wise["options"] == {}
    for row in s["methods"].values():
        for k in ("A_head", "A_probe", "B", "A_head_val", "B_val", "A_drift", "train_seconds"):
            assert set(row["metrics"][k]) == {"mean", "std", "n", "values"}
        assert len(row["metrics"]["B"]["values"]) == 2 and row["metrics"]["B"]["n"] == 2
    frozen = s["methods"]["frozen"]["metrics"]
    assert frozen["A_head"]["mean"] == s["before"]["A_head"] and frozen["A_head"]["std"] == 0.0
    assert frozen["A_drift"]["mean"] == pytest.approx(0.0, abs=1e-6) and s["methods"]["full"]["metrics"]["A_drift"]["mean"] > 0.05
    json.dumps(s)
    text = compare.table(s)
    assert "frozen" in text and "wise-ft(α=0.5)" in text


def test_run_overrides_are_part_of_the_id_and_rendered_in_the_label():
    entry = suites.rehearsal_schedules(0.5)[1]
    assert compare.entry_id(entry) == "rehearsal(fraction=0.5)[epochs=20,learning_rate=0.005]"
    assert compare.display_label(*compare.entry_parts(entry)) == "rehearsal(50%)[20ep,lr=0.005]"
    assert compare.entry_id([M.LPFT(), M.LwF(1.0)]) == "lp-ft+lwf"
    assert compare.display_label([M.FullFineTuning(), M.EarlyStopping(1)], {}) == "full+early-stopping(p=1)"
    assert compare.display_label([M.LoRA(8), M.EarlyStopping(1)], {}) == "lora(r=8)+early-stopping(p=1)"
    assert compare.entry_id([suites.lwf_paper()]) == "lwf(warmup_epochs=5,old_head_trains=True,t_squared=False)"
    assert compare.entry_id([M.EWC(0.1), M.LoRA(16)]) == "ewc(strength=0.1)+lora(rank=16)"


def test_cli_writes_json(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(suites, "images", lambda: [[M.FrozenBackbone()]])
    out = tmp_path / "r.json"
    assert compare.main(["--task", "split", "--seeds", "1", "--epochs", "1", "--out", str(out), "--no-progress"]) == 0
    s = json.loads(out.read_text())
    assert s["task"] == "split" and "frozen" in s["methods"]
    assert "frozen" in capsys.readouterr().out


def test_the_image_suite_runs_every_method_for_images_each_entry_once():
    keys = {m.key for entry in suites.images() for m in compare.entry_parts(entry)[0]}
    assert keys == {k for k, c in M.REGISTRY.items() if c.inputs in ("any", "images")}  # full: WiSE-FT's α = 1 end
    ids = [compare.entry_id(e) for e in suites.images()]
    assert len(ids) == len(set(ids)), "two suite entries would share a row"
    control = suites.lpft_control()
    assert compare.entry_parts(control) == ([control["method"][0]], {"learning_rate": pytest.approx(1e-3)})
    assert type(control["method"][0]) is M.FullFineTuning


@pytest.mark.parametrize("bad", ["Has Space", "ewc(x)", "a+b", "λ"])
def test_method_keys_must_be_plain_ascii(bad):
    with pytest.raises(ValueError, match="ASCII"):
        type("Bad", (M.Method,), {"key": bad})


def test_a_taken_key_is_refused():
    with pytest.raises(ValueError, match="taken by EWC"):
        type("MyEWC", (M.Method,), {"key": "ewc"})


def test_rows_are_found_by_their_methods_not_by_label():
    summary = {"methods": {"ewc(strength=0.1)": {"metrics": {"B": 1}},
                           "rehearsal(fraction=0.5)[epochs=20]": {"metrics": {"B": 2}}}}
    assert compare.row(summary, M.EWC(0.1)) == {"B": 1}
    assert compare.row(summary, [M.Rehearsal(0.5)], epochs=20) == {"B": 2}
    with pytest.raises(KeyError, match="no run 'ewc\\(strength=0.3\\)'.*its runs: ewc"):
        compare.row(summary, M.EWC(0.3))


def test_a_given_run_is_used_for_its_entry_and_every_run_is_handed_out():
    from utils.train import finetune

    done = finetune(task=image_data.task_pair("permute"), method=[M.FrozenBackbone()], epochs=1, seed=0, eval_every=0,
                    progress=False)
    seen = []
    suite = [[M.FrozenBackbone()], [M.FullFineTuning()]]
    s = compare.compare("permute", seeds=1, epochs=1, suite=suite, progress=False, given=[done],
                        on_run=lambda rid, seed, run: seen.append((rid, seed, run)))
    assert [(rid, seed) for rid, seed, _ in seen] == [("frozen", 0), ("full", 0)]
    assert seen[0][2] is done  # not trained again
    assert s["methods"]["frozen"]["metrics"]["B"]["values"] == [done.final["B"]]
    with pytest.raises(ValueError, match="learning_rate"):
        compare.compare("permute", seeds=1, epochs=1, suite=suite, progress=False, given=[done], learning_rate=1e-2)
    with pytest.raises(ValueError, match="not a run of this comparison"):
        compare.compare("permute", seeds=1, epochs=1, suite=[[M.FullFineTuning()]], progress=False, given=[done])


def test_rows_report_the_steps_of_the_weights_they_measure_and_outside_rows_join_the_table():
    suite = [[M.FrozenBackbone()], [M.EarlyStopping(patience=1, validation_fraction=0.2)]]
    runs = {}
    s = compare.compare("permute", seeds=1, epochs=3, suite=suite, progress=False, keep={"frozen"},
                        on_run=lambda rid, seed, r: runs.setdefault(rid, r))
    assert runs["frozen"].context.backbone is not runs[next(k for k in runs if k != "frozen")].context.backbone  # kept: its own
    steps = {rid: s["methods"][rid]["metrics"]["steps"]["values"][0] for rid in runs}
    assert steps["frozen"] == runs["frozen"].steps == 3 * -(-len(runs["frozen"].context.train_y) // 32)
    es = runs["early-stopping(patience=1,validation_fraction=0.2)"]
    per_epoch = -(-len(es.context.train_y) // 32)  # after the validation share was held out
    report = es.reports[0]  # early stopping's own report: read here to check it, as no other reader may
    assert steps[es.id] == report["best_epoch"] * per_epoch <= es.steps
    compare.add_row(s, "probe", {k: 0.5 for k in s["keys"]})
    assert s["methods"]["probe"]["metrics"]["steps"]["mean"] == 0 and "probe" in compare.table(s)
    with pytest.raises(ValueError, match="lacks"):
        compare.add_row(s, "half", {"B": 0.5})


def test_runs_that_borrow_one_loaded_model_train_and_measure_as_if_each_loaded_its_own():
    from utils.pool import ModelPool
    from utils.train import finetune

    pool = ModelPool()
    args = dict(task=image_data.task_pair("permute"), epochs=1, seed=0, eval_every=0, progress=False)
    first = finetune(method=[M.L2SP(0.1)], models=pool, **args)  # not kept: its model is lent again
    kept = finetune(method=[M.FullFineTuning()], models=pool, **args)
    own = finetune(method=[M.FullFineTuning()], **args)
    assert kept.context.backbone is first.context.backbone and own.context.backbone is not first.context.backbone
    assert kept.final == own.final and kept.before == own.before  # reset to the pretrained weights before the run
    for a, b in zip(kept.context.backbone.variables, own.context.backbone.variables):  # non-trainable ones too
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    pool.keep(kept)  # said explicitly: this trained model is the result's from now on
    trained = [v.numpy() for v in kept.context.backbone.variables]
    other = finetune(method=[M.FrozenBackbone()], models=pool, **args)  # a fresh copy: `kept` stays intact
    assert other.context.backbone is not kept.context.backbone
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(trained, kept.context.backbone.variables))
    again = finetune(method=[M.FrozenBackbone()], models=pool, **args)  # not kept: lent again, reset
    assert again.context.backbone is other.context.backbone


def test_a_comparison_loads_its_model_once_unless_it_keeps_the_runs(monkeypatch):
    from utils import models

    loads, real = [], models.load
    monkeypatch.setattr(models, "load", lambda model, *a, **k: loads.append(model) or real(model, *a, **k))
    compare.compare("permute", seeds=3, epochs=1, suite=[[M.FrozenBackbone()]], progress=False)
    assert loads == ["digits-convnet"]
    kept = []
    compare.compare("permute", seeds=3, epochs=1, suite=[[M.FrozenBackbone()]], progress=False, keep={"frozen"},
                    on_run=lambda rid, seed, r: kept.append(r))
    assert loads == ["digits-convnet"] * 4 and len({id(r.context.backbone) for r in kept}) == 3
