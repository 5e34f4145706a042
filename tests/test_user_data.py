"""Your own data (``utils.user_data``, ``finetune_cli --data``): reading each kind, every bad file refused before any
training with one line and nothing written, contamination counted, and the committed examples reproducible."""

import json

import numpy as np
import pytest

from utils import examples, lm_data, user_data
from utils import finetune_cli as cli
from utils import lm_model as lm

PAIR = '{"prompt": "Shout: red box", "answer": "RED BOX"}\n'


def refused(capsys, tmp_path, argv):
    """Run the CLI on bad data: exit status 2, one line on stderr, no traceback, nothing written under --out."""
    out = tmp_path / "run"
    assert cli.main([*argv, "--out", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert not out.exists()
    return err


def lines(n=12, **extra):
    return "".join(json.dumps({"prompt": f"Shout: word{i} box", "answer": f"WORD{i} BOX", **extra}) + "\n" for i in range(n))


CHAT = {"role": "user", "content": "Shout: a b"}
BAD_JSONL = [  # (file content, what the one line says; the file and line are checked too)
    (PAIR + '{"prompt": "Shout: a" "answer": "A"}\n', ":2: not valid JSON"),
    (PAIR + '{"prompt": "Shout: a"}\n', ":2: 'answer' is missing"),
    (PAIR + '{"prompt": "Shout: a", "answer": "   "}\n', ":2: 'answer' is empty"),
    (PAIR + '{"prompt": 3, "answer": "A"}\n', ":2: 'prompt' is int, not text"),
    (PAIR + json.dumps({"messages": [CHAT, {"role": "bot", "content": "A B"}]}) + "\n", ":2: unknown role 'bot' in message 1"),
    (PAIR + json.dumps({"messages": [CHAT, {"role": "user", "content": "more"}]}) + "\n", "its role must be \"assistant\""),
    (PAIR + json.dumps({"messages": [{"role": "assistant", "content": "hi"}, {"role": "assistant", "content": "A"}]}) + "\n",
     ":2: no \"user\" message"),
    (PAIR + '["Shout: a", "A"]\n', ":2: a JSON list, not an object"),
    (PAIR + json.dumps({"prompt": "Shout: " + "word " * 30, "answer": "WORD " * 10}) + "\n",
     ":2: prompt + answer take 226 tokens (bytes), more than the model's context of 128 (too long: 1 of 1 examples)"),
    ("\n  \n", "is empty"),
]


@pytest.mark.parametrize("content,says", BAD_JSONL, ids=[s.split(":")[-1][:30].strip() for _, s in BAD_JSONL])
def test_bad_jsonl_is_refused_with_its_line_and_nothing_written(capsys, tmp_path, content, says):
    f = tmp_path / "mine.jsonl"
    f.write_text(content)
    err = refused(capsys, tmp_path, ["--data", str(f)])
    assert err.startswith(f"error: {f}") and says in err, err


def test_a_byte_that_is_not_utf8_is_named_with_its_line_and_column(capsys, tmp_path):
    f = tmp_path / "latin.jsonl"
    f.write_bytes(PAIR.encode() + '{"prompt": "Shout: café", "answer": "CAFÉ"}\n'.encode("latin-1"))
    err = refused(capsys, tmp_path, ["--data", str(f)])
    assert f"{f}:2: byte 0xe9 at column 23 is not UTF-8: save the file as UTF-8" in err


def test_too_long_examples_are_cut_with_truncate_and_their_end_marker_not_scored(tmp_path):
    long = user_data.Example("Shout: a", "User: Shout: a\nAssistant: ", "A" * 200, 3)
    short = user_data.Example("Shout: b", "User: Shout: b\nAssistant: ", "B", 4)
    with pytest.raises(user_data.DataError, match="x.jsonl:3: prompt \\+ answer take 227 tokens"):
        user_data._fit([short, long], 128, False, "x.jsonl")
    kept, cut, counts = user_data._fit([short, long], 128, True, "x.jsonl")
    assert cut == [False, True] and counts == {"cut": 1, "dropped": 0, "bytes_cut": 200 - (128 - 1 - 26)}
    assert 1 + len(kept[1].prompt) + len(kept[1].answer) == 128  # the context, filled
    x, y = user_data.encode(kept, cut, 128)
    assert (y[0] == lm.EOS).sum() == 1 and (y[1] == lm.EOS).sum() == 0  # a cut answer does not teach where to stop
    assert (y[1] >= 0).sum() == 101  # its kept bytes are trained


def test_chat_messages_are_rendered_in_the_models_template(tmp_path):
    f = tmp_path / "chat.jsonl"
    f.write_text(json.dumps({"messages": [{"role": "system", "content": "Be loud."}, CHAT,
                                          {"role": "assistant", "content": "A B"}]}) + "\n" + PAIR)
    a, b = user_data.read_jsonl(f, lm_data.TEMPLATE)
    assert (a.prompt, a.answer, a.instruction, a.line) == ("Be loud.\nUser: Shout: a b\nAssistant: ", "A B", "Shout: a b", 1)
    assert (b.prompt, b.answer, b.line) == ("User: Shout: red box\nAssistant: ", "RED BOX", 2)


BAD_CSV = [  # (training file, validation file or None, what the one line says)
    ("hello,a\nworld,b\n", None, ":1: the first line must be a header naming the columns text and label"),
    ("text,label\n", None, "a header but no rows"),
    ("text,label\ngood,a\nfine,a\nbad,b\nawful,b\nmeh,c\n", None, ":6: label 'c' occurs once"),
    ("text,label\ngood,a\nfine,a\n", None, "every row has the label 'a'"),
    ("text,label\ngood,a\nfine,a\nbad,b\nawful,b\n", "text,label\nnice,a\nodd,zzz\n",
     "val.csv:3: label 'zzz' does not occur in the training file"),
    ("text,label\ngood,a\n,b\n", None, ":3: expected 2 columns with a non-empty text and label"),
]


@pytest.mark.parametrize("train,val,says", BAD_CSV, ids=[s.split(":")[-1][:30].strip() for *_, s in BAD_CSV])
def test_bad_csv_is_refused_with_its_line_and_nothing_written(capsys, tmp_path, train, val, says):
    f = tmp_path / "mine.csv"
    f.write_text(train)
    argv = ["--data", str(f)]
    if val is not None:
        (tmp_path / "val.csv").write_text(val)
        argv += ["--val", str(tmp_path / "val.csv")]
    err = refused(capsys, tmp_path, argv)
    assert says in err and str(tmp_path) in err, err


def _png(path, value=128):
    import tensorflow as tf

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(tf.io.encode_png(np.full((8, 8, 1), value, np.uint8)).numpy())


def test_bad_image_folders_are_refused_naming_the_folder_or_file(capsys, tmp_path):
    one = tmp_path / "one"
    for i in range(3):
        _png(one / "cats" / f"{i}.png")
    assert "holds 1 class folder: classification needs at least two" in refused(capsys, tmp_path, ["--data", str(one)])
    _png(one / "dogs" / "0.png")
    (one / "dogs" / "1.png").write_bytes(b"not a picture")
    err = refused(capsys, tmp_path, ["--data", str(one)])
    assert f"{one / 'dogs' / '1.png'}: cannot be read as an image" in err
    (one / "dogs" / "1.png").unlink()
    assert f"{one / 'dogs'} holds one image" in refused(capsys, tmp_path, ["--data", str(one)])
    (one / "dogs" / "notes.txt").write_text("hi")
    assert "notes.txt: not an image" in refused(capsys, tmp_path, ["--data", str(one)])


def test_data_of_another_kind_than_the_model_is_refused(capsys, tmp_path):
    f = tmp_path / "mine.jsonl"
    f.write_text(lines())
    err = refused(capsys, tmp_path, ["--data", str(f), "--model", "minilm-l6"])
    assert "'minilm-l6' is a text embedding model, which trains on a CSV file (text,label), but the data is a JSONL" in err
    (tmp_path / "mine.txt").write_text("hi")
    assert "cannot tell what data this is" in refused(capsys, tmp_path, ["--data", str(tmp_path / "mine.txt")])
    assert "--task and --data exclude each other" in refused(capsys, tmp_path, ["--data", str(f), "--task", "rot90"])
    assert "--strict goes with --data" in refused(capsys, tmp_path, ["--strict"])


def test_contamination_counts_exact_and_8_gram_overlaps():
    test = ["Reverse the words: red box tree", "Write the config file path from the root folder of the project now"]
    train = ["reverse  the WORDS: red box tree", "please write the config file path from the root folder of mine",
             "Write the config file path", "something else entirely"]
    counts, hits = user_data.contamination(train, test)
    assert counts == {"exact": 1, "8-gram": 1} and hits == [0, 1]  # 8 shared words in a row; 5 are not enough


def test_strict_refuses_training_data_that_holds_the_capability_suites_test_prompts(capsys, tmp_path):
    s = lm_data.skill("camel")
    leaked = user_data._instruction(s.prompts["test"][5])
    f = tmp_path / "mine.jsonl"
    f.write_text(lines(6) + json.dumps({"prompt": leaked, "answer": s.answers["test"][5]}) + "\n" + lines(4))
    err = refused(capsys, tmp_path, ["--data", str(f), "--strict"])
    assert f"{f}:7: the training example overlaps the capability suite's test prompts (1 exact, 0 by a shared run" in err
    f.write_text(lines(10))
    t = tmp_path / "test.jsonl"
    t.write_text(json.dumps({"prompt": "Shout: word3 box", "answer": "WORD3 BOX"}) + "\n")
    err = refused(capsys, tmp_path, ["--data", str(f), "--test", str(t), "--strict"])
    assert f"{f}:4: the training example overlaps your test file {t} (1 exact, 0 by" in err


def test_the_committed_examples_are_what_the_generator_writes():
    from utils import paths

    made = examples.files()
    folder = paths.ROOT / "data" / "examples"
    on_disk = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert on_disk == set(made)
    for name, data in made.items():
        if name.endswith(".png"):  # compare pixels: PNG compression may differ between library versions
            import tensorflow as tf

            a, b = (tf.io.decode_png(d).numpy() for d in (data, (folder / name).read_bytes()))
            assert np.array_equal(a, b), name
        else:
            assert (folder / name).read_bytes() == data, name


# --- a run of each classification kind (the language model's: test_finetune_cli.py) ----------------------------------

def run_main(capsys, argv):
    assert cli.main([*argv, "--no-progress"]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def test_a_csv_run_trains_a_new_head_and_reports_the_encoders_general_ability(capsys, tmp_path):
    from utils import models, paths

    folder = paths.ROOT / "data" / "examples"
    out = run_main(capsys, ["--data", str(folder / "feedback.csv"), "--test", str(folder / "feedback_test.csv"),
                            "--epochs", "1", "--eval-every", "0", "--out", str(tmp_path / "run")])
    r = json.loads((tmp_path / "run" / "results.json").read_text())
    assert r["data"]["labels"] == ["complaint", "praise", "question"] and r["config"]["lr"] == 3e-4
    assert r["final"]["B_val"] > r["before"]["B_val"] + 0.3 and r["before"]["spearman"] == pytest.approx(1)
    assert r["final"]["spearman"] < 1  # the encoder moved: what it kept of its similarities is measured
    for row in ("graded similarity, Spearman", "paraphrase ranking, MRR", "your task, new head"):
        assert row in out
    model = tmp_path / "run" / "model"
    assert json.loads((model / "model.json").read_text())["labels"] == r["data"]["labels"]
    head = models.load_head(model)
    pre = models.load("minilm-l6-preprocess")
    from utils import text_data

    rows = user_data.read_labelled_csv(folder / "feedback_test.csv")
    logits = head(text_data.embed(models.load(model), text_data.tokenize(pre, [t for t, _, _ in rows])))
    y = [r["data"]["labels"].index(label) for _, label, _ in rows]
    assert abs(float(np.mean(np.argmax(logits, 1) == y)) - r["final"]["B"]) < 1e-9


def test_an_image_folder_run_measures_the_original_head_and_resizes_what_does_not_fit(capsys, tmp_path):
    import tensorflow as tf

    from utils import paths

    flipped = paths.ROOT / "data" / "examples" / "flipped_digits"
    big = tmp_path / "big"
    for f in flipped.rglob("*.png"):  # the same pictures at 16x16: resized to the convnet's 8x8 input
        pixels = tf.image.resize(tf.io.decode_png(f.read_bytes()), (16, 16), "nearest")
        (big / f.parent.name).mkdir(parents=True, exist_ok=True)
        (big / f.parent.name / f.name).write_bytes(tf.io.encode_png(tf.cast(pixels, tf.uint8)).numpy())
    out = run_main(capsys, ["--data", str(big), "--out", str(tmp_path / "run")])
    assert "data: train: images of 16x16 resized to the model's input 8x8 (the bundled convnet was trained" in out
    assert "no --test file: nothing is reported as test" in out
    r = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "B" not in r["final"] and r["data"]["counts"] == {"train": 81, "val": 9}
    assert r["final"]["B_val"] >= 0.6 and r["final"]["A_head"] < r["before"]["A_head"]  # learnt; the old head paid
    (_, a), (_, b) = user_data.load(big), user_data.load(flipped)
    assert np.allclose(a.task.x_train, b.task.x_train, atol=1e-6) and not b.notes  # 16x16 -> 8x8: the same pixels
