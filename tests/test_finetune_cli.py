"""`python -m utils.finetune_cli`: flags and config, the run folder, errors, interruption and resume, mirrored."""

import csv
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from utils import finetune_cli as cli
from utils import image_data, metrics, models
from utils import methods as M

ROOT = Path(__file__).resolve().parents[1]


def error_of(capsys, argv, code):
    """Run main(argv), check its exit status and that stderr is one line without a traceback."""
    assert cli.main(argv) == code
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


# --- flags and config -------------------------------------------------------------------------------

def test_flags_build_the_methods_with_their_options():
    s = cli.parse(["--method", "rehearsal+ewc", "--ewc-lambda", "0.3", "--rehearsal-fraction", "0.25", "--epochs", "4"])
    assert [type(m) for m in s["methods"]] == [M.Rehearsal, M.EWC]
    assert s["methods"][1].strength == 0.3 and s["methods"][0].fraction == 0.25
    assert s["epochs"] == 4 and s["task"] == "permute" and s["strategy"] == "default"
    assert s["lr"] is None  # the kind's default, chosen when the data is read (results.json records it)


def test_config_file_with_flags_winning(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"task": "split", "batch-size": 16, "method": "l2-sp", "l2_sp_strength": 0.5, "seed": 3}))
    s = cli.parse(["--config", str(cfg), "--seed", "7"])
    assert (s["task"], s["batch_size"], s["seed"]) == ("split", 16, 7)
    assert s["methods"][0].strength == 0.5


@pytest.mark.parametrize("argv, message", [
    (["--epoch", "3"], "unknown flag --epoch (did you mean --epochs?)"),
    (["--ewc-lamda", "1", "--method", "ewc"], "did you mean --ewc-lambda?"),
    (["--method", "ewk"], "unknown method 'ewk' (did you mean 'ewc'?)"),
    (["--task", "rot"], "unknown task 'rot' (did you mean rot90?)"),
    (["--epochs", "0"], "--epochs must be >= 1, got 0"),
    (["--lr", "-1"], "--lr must be in (0, 1]"),
    (["--epochs", "three"], "--epochs expects int, got 'three'"),
    (["--lora-rank", "4"], "--lora-rank is an option of lora, which is not in --method 'full'"),
    (["--method", "rehearsal", "--rehearsal-fraction", "2"], "fraction"),
    (["--strategy", "mirror"], "--strategy must be one of default, mirrored"),
    (["--resume", "--overwrite"], "exclude each other"),
])
def test_bad_flags_fail_with_one_clear_line(capsys, argv, message):
    assert message in error_of(capsys, argv, 2)


def test_config_typos_are_named_with_the_closest_key(capsys, tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"epohcs": 3}))
    assert "unknown key 'epohcs' (did you mean epochs?)" in error_of(capsys, ["--config", str(cfg)], 2)
    cfg.write_text("{epochs: 3")
    assert "not valid JSON" in error_of(capsys, ["--config", str(cfg)], 2)
    assert "no such file" in error_of(capsys, ["--config", str(tmp_path / "none.json")], 2)


# --- a run and its folder -----------------------------------------------------------------------------

def test_a_run_writes_results_history_checkpoints_and_a_loadable_model(capsys, tmp_path, permute_pair):
    out = tmp_path / "run"
    argv = ["--method", "rehearsal+l2-sp", "--l2-sp-lambda", "0.01", "--epochs", "2", "--out", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "A_head" in printed and f"wrote {out}/" in printed
    record = json.loads((out / "results.json").read_text())
    assert record["config"]["epochs"] == 2 and record["config"]["method"] == "rehearsal+l2-sp"
    assert record["method"] == "rehearsal(10%)+l2-sp(λ=0.01)" and record["versions"]["tensorflow"].startswith("2.21")
    assert record["id"] == "rehearsal+l2-sp(strength=0.01)"
    assert record["methods"] == [{"method": "rehearsal", "options": {"fraction": 0.1, "memory": None}},
                                 {"method": "l2-sp", "options": {"strength": 0.01}}]
    assert [h["epoch"] for h in record["history"]] == [0, 1, 2]
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2] and float(rows[-1]["B"]) == record["final"]["B"]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["epoch-0001.pkl", "epoch-0002.pkl"]
    # the exported extractor + head.npz reproduce the reported task-B accuracy and the task-A features
    layer = models.load(str(out / "model"), trainable=True)
    head = models.load_head(str(out / "model"))
    _, b = permute_pair
    assert metrics.accuracy(head(layer(b.x_test)).numpy(), b.y_test) == pytest.approx(record["final"]["B"], abs=1e-9)
    assert len(layer.trainable_variables) == 8  # it fine-tunes again


def test_an_occupied_out_folder_is_refused_then_overwritten(capsys, tmp_path):
    out = tmp_path / "run"
    argv = ["--epochs", "1", "--out", str(out), "--no-progress", "--eval-every", "0"]
    assert cli.main(argv) == 0
    assert "already holds a run" in error_of(capsys, argv, 2)
    assert cli.main([*argv, "--overwrite", "--seed", "1"]) == 0
    assert json.loads((out / "results.json").read_text())["seed"] == 1


def test_an_out_path_that_is_a_file_is_refused_before_training(capsys, tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    err = error_of(capsys, ["--out", str(f), "--no-progress"], 2)
    assert "is a file, not a folder" in err
    err = error_of(capsys, ["--out", str(f / "run"), "--no-progress"], 2)
    assert "is a file, so no folder can be made inside it" in err
    assert f.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_a_run_at_chance_level_ends_with_a_warning_naming_the_learning_rate(capsys, tmp_path):
    assert cli.main(["--lr", "1", "--epochs", "1", "--eval-every", "0", "--out", str(tmp_path / "r"), "--no-progress"]) == 0
    captured = capsys.readouterr()
    warning = [ln for ln in captured.err.splitlines() if ln.startswith("warning:")]
    assert len(warning) == 1 and "chance level" in warning[0] and "learning rate of 1 is probably too high" in warning[0]
    assert "Traceback" not in captured.err


def test_models_that_do_not_load_or_fit_fail_before_training(capsys, tmp_path):
    import tensorflow as tf

    assert "unknown model 'nope'" in error_of(capsys, ["--model", "nope", "--out", str(tmp_path / "a")], 1)
    m = tf.Module()
    m.__call__ = tf.function(lambda x: tf.reduce_mean(x, axis=[1, 2]), input_signature=[tf.TensorSpec([None, 28, 28, 1])])
    tf.saved_model.save(m, str(tmp_path / "mnist-sized"))
    err = error_of(capsys, ["--model", str(tmp_path / "mnist-sized"), "--out", str(tmp_path / "b")], 1)
    assert "(None, 28, 28, 1)" in err and "(1069, 8, 8, 1)" in err
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_a_diverging_loss_stops_with_a_clear_error(capsys, tmp_path):  # checkpoints kept: see test_train
    out = tmp_path / "run"
    err = error_of(capsys, ["--method", "l2-sp", "--l2-sp-lambda", "1e38", "--out", str(out), "--no-progress"], 1)
    assert re.search(r"the training loss became (nan|inf) at epoch 1, step \d+ \(l2-sp", err) and "lower the learning rate or the penalty" in err
    assert not (out / "results.json").exists()


# --- processes: kill and resume, mirrored ----------------------------------------------------------------

def run_cli(args, env=None, **kw):
    env = env or dict(os.environ, PYTHONPATH=str(ROOT), WORKBOOK_PROGRESS="0")
    return subprocess.Popen([sys.executable, "-m", "utils.finetune_cli", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def weights(out):
    epochs = sorted((out / "checkpoints").glob("epoch-*.pkl"))
    with open(epochs[-1], "rb") as f:
        state = pickle.load(f)
    return state["backbone"] + state["head"]


def killed_after_epoch(args, out, epoch: int) -> str:
    """Start the script with ``args`` into ``out``, SIGTERM it once epoch ``epoch``'s checkpoint exists; check it
    stopped with status 130 and return its stderr."""
    p = run_cli([*args, "--out", str(out)])
    deadline = time.time() + 240
    while not (out / "checkpoints" / f"epoch-{epoch:04d}.pkl").exists():
        assert p.poll() is None and time.time() < deadline, p.stderr.read() if p.poll() is not None else "too slow"
        time.sleep(0.02)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 130
    return p.stderr.read()


def test_killed_run_resumes_to_the_same_weights_and_metrics(tmp_path):
    args = ["--method", "lp-ft+rehearsal", "--lp-ft-lp-epochs", "2", "--epochs", "6", "--seed", "2"]
    whole = run_cli([*args, "--out", str(tmp_path / "whole")])
    assert whole.wait(timeout=300) == 0, whole.stderr.read()

    cut = tmp_path / "cut"
    assert "--resume" in killed_after_epoch(args, cut, 3)
    saved = sorted(int(f.stem.split("-")[1]) for f in (cut / "checkpoints").glob("epoch-*.pkl"))
    assert 3 <= saved[-1] < 6 and not (cut / "results.json").exists()  # really cut short

    resumed = run_cli([*args, "--out", str(cut), "--resume"])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    for v, w in zip(weights(tmp_path / "whole"), weights(cut), strict=True):
        assert np.array_equal(v, w)
    a, b = (json.loads((d / "results.json").read_text()) for d in (tmp_path / "whole", cut))
    assert a["final"] == b["final"]


MIRRORED_TOLERANCE = 0.01  # accuracy points: per-replica reductions sum in another order


def test_mirrored_strategy_on_two_cpus_matches_the_default(tmp_path):
    from utils.train import finetune

    args = ["--method", "lp-ft+rehearsal+l2-sp", "--lp-ft-lp-epochs", "1", "--l2-sp-lambda", "0.01", "--epochs", "3",
            "--strategy", "mirrored", "--out", str(tmp_path / "m")]
    p = run_cli(args)
    assert p.wait(timeout=300) == 0, p.stderr.read()
    mirrored = json.loads((tmp_path / "m" / "results.json").read_text())
    assert mirrored["config"]["replicas"] == 2
    default = finetune(task=image_data.task_pair("permute"), method=[M.LPFT(lp_epochs=1), M.Rehearsal(), M.L2SP(0.01)], epochs=3)
    for k in ("A_head", "A_probe", "B"):
        assert abs(mirrored["final"][k] - default.final[k]) <= MIRRORED_TOLERANCE, (k, mirrored["final"], default.final)

    refused = run_cli(["--method", "ewc", "--strategy", "mirrored", "--out", str(tmp_path / "e")])
    assert refused.wait(timeout=120) == 1
    err = refused.stderr.read().strip().splitlines()[-1]
    assert err.startswith("error: ewc cannot train under a distribution strategy yet") and "l2-sp" in err


def free_ports(n):
    import socket

    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def two_workers(args, tmp_path, timeout=240) -> dict:
    """Run the script with ``args`` as two multi-worker processes on 127.0.0.1 (TF_CONFIG set for each); check that
    both end with the same metrics (one model, trained together); returns the chief's results.json."""
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for index in range(2):
        config = json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
        procs.append(run_cli([*args, "--strategy", "multi-worker", "--out", str(tmp_path / f"w{index}")],
                             env=dict(os.environ, PYTHONPATH=str(ROOT), WORKBOOK_PROGRESS="0", TF_CONFIG=config)))
    try:
        codes = [p.wait(timeout=timeout) for p in procs]
    finally:
        for p in procs:
            p.kill()
    assert codes == [0, 0], [p.stderr.read()[-2000:] for p in procs]
    chief, other = (json.loads((tmp_path / f"w{i}" / "results.json").read_text()) for i in range(2))
    assert chief["config"]["replicas"] == 2 and chief["final"] == other["final"]
    return chief


def test_multi_worker_on_two_local_processes_matches_the_default(tmp_path):
    from utils.train import finetune

    chief = two_workers(["--epochs", "3"], tmp_path)
    default = finetune(task=image_data.task_pair("permute"), epochs=3)
    for k in ("A_head", "B"):
        assert abs(chief["final"][k] - default.final[k]) <= MIRRORED_TOLERANCE, (k, chief["final"], default.final)


def test_multi_worker_without_tf_config_says_what_to_set(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    err = error_of(capsys, ["--strategy", "multi-worker", "--out", str(tmp_path / "a"), "--no-progress"], 1)
    assert "needs TF_CONFIG on every worker" in err


# --- your own data on the language model: a run, resume, multi-worker (the kinds' reading: test_user_data.py) ---------

EXAMPLES = ROOT / "data" / "examples"
LM_ARGS = ["--data", str(EXAMPLES / "shout.jsonl"), "--test", str(EXAMPLES / "shout_test.jsonl"), "--method", "rehearsal",
           "--quick-suite", "--eval-every", "0"]  # 3 epochs (a language model's default), 21 steps


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """One uninterrupted run of the chat model on the JSONL example, in its own process: (folder, stdout)."""
    out = tmp_path_factory.mktemp("lm") / "whole"
    p = run_cli([*LM_ARGS, "--out", str(out)])
    stdout, stderr = p.communicate(timeout=300)
    assert p.returncode == 0, stderr[-2000:]
    return out, stdout


def test_a_jsonl_run_reports_the_skill_learnt_and_the_capabilities_it_cost(lm_run):
    out, stdout = lm_run
    r = json.loads((out / "results.json").read_text())
    assert r["data"]["counts"] == {"train": 216, "val": 24, "test": 48} and r["config"]["epochs"] == 3
    assert r["data"]["contamination"]["the capability suite's test prompts"] == {"exact": 0, "8-gram": 0}
    before, after = r["before"], r["final"]
    assert before["B"] == before["B_val"] == 0 and after["B_val"] >= 0.2  # the new skill, learnt (0.29-0.6 here)
    assert after["capabilities"] < before["capabilities"] - 0.1 and after["bpb"] > before["bpb"]  # and what it cost
    assert before["kl"] == 0 and after["kl"] > 1
    for row in ("capability suite, mean", "skill:facts", "held-out text, bits/byte", "KL(before || after)"):
        assert row in stdout
    reloaded = models.load(out / "model")  # the exported chat model answers like the run's final model
    from utils import lm_data, user_data

    test = user_data.read_jsonl(EXAMPLES / "shout_test.jsonl", lm_data.TEMPLATE)
    x, y = user_data.encode(test, [False] * len(test), 96)
    logits = lm_data.CapabilitySuite._logits(reloaded, x)  # as the suite computes them (trimmed to the longest row)
    exact, _ = lm_data.answer_scores(logits, y[:, : logits.shape[1]])
    assert abs(exact.mean() - after["B"]) < 1e-9 and json.loads((out / "model" / "model.json").read_text())["chat_template"]


def test_a_killed_jsonl_run_resumes_to_the_same_weights(lm_run, tmp_path):
    cut = tmp_path / "cut"
    killed_after_epoch(LM_ARGS, cut, 1)
    assert not (cut / "results.json").exists()
    resumed = run_cli([*LM_ARGS, "--out", str(cut), "--resume"])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    whole = lm_run[0]
    for v, w in zip(weights(whole), weights(cut), strict=True):
        assert np.array_equal(v, w)
    a, b = (json.loads((d / "results.json").read_text()) for d in (whole, cut))
    assert a["final"] == b["final"]


LM_TOLERANCE = {"bpb": 0.01, "kl": 1.0}  # exact-match rates: 0.05 (one prompt of the quick suite's 32 is 0.031)


def test_multi_worker_on_two_local_processes_trains_a_jsonl_run_like_the_default(lm_run, tmp_path):
    chief = two_workers(LM_ARGS, tmp_path, timeout=300)
    default = json.loads((lm_run[0] / "results.json").read_text())["final"]
    for k, v in default.items():
        assert abs(chief["final"][k] - v) <= LM_TOLERANCE.get(k, 0.05), (k, chief["final"][k], v)
