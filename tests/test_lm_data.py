"""The language-model track's data: skills, their splits (no leaks), the committed texts, the token layout."""

import numpy as np
import pytest

from utils import lm_data, lm_model, tasks


@pytest.mark.parametrize("name", lm_data.ALL_SKILLS)
def test_skill_splits_are_disjoint_and_answers_are_right(name):
    s = lm_data.skill(name)
    inputs = {split: [p.split(": ", 1)[1].rstrip("\n") for p in ps] for split, ps in s.prompts.items()}
    assert {k: len(v) for k, v in inputs.items()} == lm_data.SPLIT_SIZES
    for split in ("val", "test"):
        assert not set(inputs[split]) & set(inputs["train"]), f"{name}: a {split} input is also a training input"
    assert not set(inputs["val"]) & set(inputs["test"])
    for split in s.prompts:
        assert all(lm_data.answer(name, x) == a for x, a in zip(inputs[split], s.answers[split]))
    assert lm_data.skill(name).prompts == s.prompts  # deterministic


def test_reverse_tests_words_never_trained():
    s = lm_data.skill("reverse")
    train_words = {p.split(": ")[1].strip() for p in s.prompts["train"]}
    test_words = {p.split(": ")[1].strip() for p in s.prompts["test"]}
    assert train_words <= set(lm_data.WORDS) and test_words <= set(lm_data.HELD_WORDS)
    assert not set(lm_data.WORDS) & set(lm_data.HELD_WORDS)


def test_answers():
    assert lm_data.answer("camel", "max_line_length") == "maxLineLength"
    assert lm_data.answer("reverse", "python") == "nohtyp"
    assert lm_data.answer("sort", "5193") == "1359"
    assert lm_data.answer("swap", "path=root") == "root=path"
    with pytest.raises(ValueError, match="unknown skill"):
        lm_data.answer("upper", "x")


def test_encoded_examples_score_only_the_answer_and_its_eos():
    x, y = lm_data.encode_examples(["sort: 31\n"], ["13"], seq_len=16)
    prompt = [lm_model.BOS, *b"sort: 31\n"]
    assert list(x[0, : len(prompt) + 2]) == prompt + list(b"13")
    assert (x[0, len(prompt) + 2 :] == lm_model.PAD).all()
    scored = y[0] >= 0
    assert list(y[0][scored]) == [*b"13", lm_model.EOS]  # the answer, then EOS
    assert np.flatnonzero(scored)[0] == len(prompt) - 1  # predicted from the prompt's last token
    with pytest.raises(ValueError, match="seq_len"):
        lm_data.encode_examples(["sort: 31\n"], ["13"], seq_len=8)


@pytest.mark.parametrize("name", lm_data.ALL_SKILLS)
def test_skill_task_is_a_valid_lm_task(name):
    task = lm_data.skill_task(name)
    tasks.validate(task)
    assert task.kind == "lm" and task.x_train.shape == (512, lm_data.SEQ_LEN) and task.has_validation


def test_validate_names_a_bad_lm_target():
    task = lm_data.skill_task("sort")
    bad = task.y_train.copy()
    bad[3, 20] = lm_model.VOCAB
    with pytest.raises(tasks.InvalidDataError, match=r"y_train row 3 is 260"):
        tasks.validate(tasks.Task(**{**task.__dict__, "y_train": bad}))
    with pytest.raises(tasks.InvalidDataError, match="shaped like x"):
        tasks.validate(tasks.Task(**{**task.__dict__, "y_train": bad[:, 0]}))


def test_answer_scores_is_greedy_exact_match():
    x, y = lm_data.encode_examples(["sort: 21\n", "sort: 43\n"], ["12", "34"], seq_len=16)
    logits = np.full((2, 16, lm_model.VOCAB), -5.0, np.float32)
    for i in range(2):
        for t in np.flatnonzero(y[i] >= 0):
            logits[i, t, y[i, t]] = 5.0  # right everywhere
    logits[1, np.flatnonzero(y[1] >= 0)[-1], lm_model.PAD] = 9.0  # example 2: misses EOS, so greedy would not stop
    exact, nats = lm_data.answer_scores(logits, y)
    assert exact.tolist() == [True, False] and nats[1] > nats[0] > 0


def test_committed_texts_are_disjoint_files():
    held, replay = lm_model.heldout_text(), lm_model.replay_text()
    names = lambda t: {line.split("=====")[1].strip() for line in t.decode().splitlines() if line.startswith("# =====")}  # noqa: E731
    assert names(held) and names(replay) and not names(held) & names(replay)
    assert all(lm_model.is_heldout(n) for n in names(held)) and not any(lm_model.is_heldout(n) for n in names(replay))
    assert len(held) > 200_000


def test_heldout_files_are_never_pretrained_on():
    pretraining, held = lm_model.split_corpus()
    assert held and not set(pretraining) & set(held)
    held_bytes = {p.read_bytes() for p in held}
    assert not any(p.read_bytes() in held_bytes for p in pretraining)  # no copy of a held-out file either


def test_general_task_and_windows():
    task = lm_data.general_task()
    tasks.validate(task)
    assert (task.y_train[:, :-1] == task.x_train[:, 1:]).all() and (task.y_train >= 0).all()
    x, y = lm_data.text_windows(b"abcdefghij", seq_len=4)
    assert x.tolist()[0] == list(b"abcd") and y.tolist()[0] == list(b"bcde")


def test_eval_windows_score_every_byte_once():
    text = bytes(range(32, 127)) * 3
    ids, scored = lm_model.windows(text, ctx=16)
    targets = ids[:, 1:][scored]
    assert len(targets) == len(text) and bytes(targets.astype(np.uint8)) == text
    assert (scored[1:, : 16 // 2] == False).all()  # noqa: E712  later windows score only after half a context


def test_compressor_baselines_are_sane():
    text = lm_model.heldout_text()
    bpb = lm_model.compressor_bits_per_byte(text)
    assert 1.5 < bpb["lzma -9e"] < 2.5 and bpb["bz2 -9"] < bpb["gzip -9"]
