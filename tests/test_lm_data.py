"""The language-model track's data: skills, their splits (no leaks), the committed texts, the token layout."""

import numpy as np
import pytest

from utils import lm_data, lm_model, models, tasks


def _inputs(name, split):
    """The inputs of a generated skill's prompts: the instruction's last word (camel, snake, swap, sort) or its list."""
    s = lm_data.skill(name)
    instructions = [p.removeprefix("User: ").removesuffix("\nAssistant: ") for p in s.prompts[split]]
    if name in ("camel", "snake"):
        return [i.split()[1] for i in instructions]
    return [i.split(": ", 1)[1] if ": " in i else i.split()[-1] for i in instructions]


@pytest.mark.parametrize("name", [n for n in lm_data.KINDS if n != "facts"])
def test_generated_skills_test_inputs_never_trained_and_answers_are_right(name):
    s = lm_data.skill(name)
    assert {k: len(v) for k, v in s.prompts.items()} == {"test": 128, "val": 128, "train": 512}
    inputs = {split: _inputs(name, split) for split in s.prompts}
    for split in ("val", "test"):
        assert not set(inputs[split]) & set(inputs["train"]), f"{name}: a {split} input is also a training input"
    assert not set(inputs["val"]) & set(inputs["test"])
    assert all(p.startswith("User: ") and p.endswith("\nAssistant: ") for p in s.prompts["train"])  # the template
    assert lm_data.skill(name).prompts == s.prompts  # deterministic
    assert lm_data.skill(name, train=1024).prompts["test"] == s.prompts["test"]  # more training leaves test alone
    answer = {"camel": lambda x: x.split("_")[0] + "".join(w.capitalize() for w in x.split("_")[1:]),
              "snake": lambda x: "".join("_" + c.lower() if c.isupper() else c for c in x),
              "swap": lambda x: "=".join(x.split("=")[::-1]), "sort": lambda x: "".join(sorted(x)),
              "count": lambda x: str(len(x.split())), "bullets": lambda x: "\n".join(f"- {w}" for w in x.split(", ")),
              "reverse": lambda x: " ".join(x.split()[::-1])}[name]
    assert all(answer(x) == a for x, a in zip(inputs["test"], s.answers["test"]))


def test_facts_are_trained_in_eight_phrasings_and_asked_in_two_others():
    s, rows = lm_data.skill("facts"), lm_data.facts()
    assert len(s.prompts["train"]) == 8 * len(rows) and len(s.prompts["test"]) == len(s.prompts["val"]) == len(rows)
    assert not set(s.prompts["test"]) & set(s.prompts["train"]) and not set(s.prompts["val"]) & set(s.prompts["train"])
    assert set(s.answers["test"]) <= set(s.answers["train"])  # the same facts, a question phrased anew
    assert len({r["module"] for r in rows}) == len(rows) >= 80


def test_the_new_skills_do_not_train_on_the_capabilities_held_out_inputs():
    camel_held = {x for split in ("val", "test") for x in _inputs("camel", split)}
    snake_answers = set(lm_data.skill("snake").answers["train"])  # snake_case strings, camel's inputs
    assert len(camel_held & snake_answers) <= 2  # a few shared word pairs at most, among 256 held-out camel inputs


def test_the_instruction_mixture_is_every_capability():
    m = lm_data.instruction_mixture(train=64, facts_repeat=2)
    assert len(m.y_train) == 5 * 64 + 2 * 8 * len(lm_data.facts()) and m.bucket
    tasks.validate(m)


def test_encoded_examples_score_only_the_answer_and_its_eos():
    x, y = lm_data.encode_examples(["sort: 31\n"], ["13"], seq_len=16)
    prompt = [lm_model.BOS, *b"sort: 31\n"]  # any prompt: the skills' prompts are rendered in the chat template
    assert list(x[0, : len(prompt) + 2]) == prompt + list(b"13")
    assert (x[0, len(prompt) + 2 :] == lm_model.PAD).all()
    scored = y[0] >= 0
    assert list(y[0][scored]) == [*b"13", lm_model.EOS]  # the answer, then EOS
    assert np.flatnonzero(scored)[0] == len(prompt) - 1  # predicted from the prompt's last token
    with pytest.raises(ValueError, match="seq_len"):
        lm_data.encode_examples(["sort: 31\n"], ["13"], seq_len=8)


@pytest.mark.parametrize("name", list(lm_data.KINDS))
def test_skill_task_is_a_valid_lm_task(name):
    task = lm_data.skill_task(name)
    tasks.validate(task)
    assert task.kind == "lm" and task.x_train.shape[1] == lm_data.SEQ_LEN and task.has_validation
    assert task.base_model == "byte-lm-chat" and task.bench is not None


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


def test_answer_kl_is_zero_for_the_same_logits_and_matches_a_hand_computation():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(2, 3, 4))
    y = np.array([[-1, 2, 0], [1, -1, -1]])
    assert np.allclose(lm_data.answer_kl(ref, ref, y), 0)
    new = rng.normal(size=(2, 3, 4))
    p, q = (np.exp(z) / np.exp(z).sum(-1, keepdims=True) for z in (ref, new))
    by_hand = [sum((p[i, t] * np.log(p[i, t] / q[i, t])).sum() for t in range(3) if y[i, t] >= 0) for i in range(2)]
    np.testing.assert_allclose(lm_data.answer_kl(ref, new, y), by_hand, rtol=1e-10)
    assert np.all(lm_data.answer_kl(ref, new, y) > 0)


def test_sampling_is_compiled_batched_and_reproducible_under_a_seed():
    chat = models.load("byte-lm-chat")
    prompts = lm_data.skill("camel").prompts["test"][:4]
    first = lm_data.sample(chat, prompts, k=3, temperature=1.0, seed=7)
    assert first == lm_data.sample(chat, prompts, k=3, temperature=1.0, seed=7)
    assert first != lm_data.sample(chat, prompts, k=3, temperature=1.0, seed=8)
    assert len(first) == 4 and all(len(a) == 3 for a in first)
    greedy = lm_data.generate(chat, prompts)  # temperature 0: the answers the suite's exact match scores
    assert greedy == [a[0] for a in lm_data.sample(chat, prompts, k=1, temperature=0.0, seed=99)]
    tokens = lm_data.sample_ids(chat, prompts, k=2, temperature=1.0, seed=7)
    assert tokens.shape == (8, 32) and set(np.unique(tokens)) <= set(range(256)) | {lm_model.EOS, lm_model.PAD}
    with pytest.raises(ValueError, match="no room to answer"):
        lm_data.sample_ids(chat, ["x" * lm_data.SEQ_LEN])


def test_kl_to_the_reference_is_zero_for_the_unchanged_model_and_grows_when_it_moves():
    chat = models.load("byte-lm-chat")
    suite = lm_data.CapabilitySuite(skills=("snake",), general_bytes=0, examples=16)
    suite.kl_samples = 2
    for answers in ("data", "own", "sampled"):
        assert suite.kl(chat, chat, "snake", answers=answers) == pytest.approx(0, abs=1e-6)
    moved = models.load("byte-lm")  # the base model: far from the chat model on its prompts
    assert suite.kl(moved, chat, "snake") > 1.0 and suite.kl(moved, chat, "snake", answers="sampled") > 1.0
    with pytest.raises(ValueError, match="'data', 'own' or 'sampled'"):
        suite.kl(chat, chat, "snake", answers="greedy")


def test_a_suite_with_a_reference_reports_the_kl_of_every_trained_measurement():
    chat, base = models.load("byte-lm-chat"), models.load("byte-lm")
    suite = lm_data.CapabilitySuite(skills=("count", "snake"), general_bytes=256, examples=8, reference=chat)
    assert suite.measure(chat, "snake")["kl"] == pytest.approx(0, abs=1e-6)
    row = suite.measure(base, "snake")
    assert row["kl"] == pytest.approx(suite.kl(base, chat, "snake")) and row["kl"] > 1.0
    assert "kl" not in suite.measure(base) and ("snake", "test") in suite._reference_logits
