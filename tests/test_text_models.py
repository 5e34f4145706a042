"""The MiniLM port against sentence-transformers (fixture made with torch by scripts/minilm_reference.py)."""

import json
from pathlib import Path

import numpy as np
import pytest

from utils import catalog, models, text_data, text_model

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "minilm_reference.json").read_text())


@pytest.fixture(scope="module")
def pair():
    for name in ("minilm-l6", "minilm-l6-preprocess"):
        assert catalog.is_built(name), f"{name} is not built: make models"
    return models.load("minilm-l6-preprocess"), models.load("minilm-l6", trainable=True)


def test_token_ids_match_hugging_face(pair):
    pre, _ = pair
    ids = text_data.tokenize(pre, FIXTURE["sentences"])
    assert ids.shape == (12, text_model.SEQ_LEN) and ids.dtype == np.int32
    for row, want, sentence in zip(ids, FIXTURE["input_ids"], FIXTURE["sentences"]):
        assert list(row[row != 0]) == want, sentence
        assert not row[len(want):].any()  # padded with 0 after [SEP]


def test_embeddings_match_sentence_transformers(pair):
    pre, enc = pair
    got = np.asarray(enc(pre(np.array(FIXTURE["sentences"]))))
    want = np.array(FIXTURE["embeddings"], np.float32)
    assert got.shape == (12, 384)
    assert np.abs(got - want).max() <= 1e-5
    assert np.allclose(np.linalg.norm(got, axis=1), 1, atol=1e-6)


def test_padding_and_batching_do_not_change_an_embedding(pair):
    pre, enc = pair
    ids = text_data.tokenize(pre, FIXTURE["sentences"])
    alone = np.asarray(enc(ids[:1, : len(FIXTURE["input_ids"][0])]))
    assert np.abs(alone - np.asarray(enc(ids))[:1]).max() <= 1e-6
    assert np.abs(text_data.embed(enc, ids, batch=5) - np.asarray(enc(ids))).max() <= 1e-6


def test_long_texts_are_truncated_with_sep_last(pair):
    pre, _ = pair
    ids = text_data.tokenize(pre, ["word " * 100])
    assert ids.shape == (1, 32) and ids[0, 0] == 101 and ids[0, -1] == 102 and (ids[0] != 0).all()


def test_a_wrong_weights_file_is_refused(tmp_path):
    folder = text_model.weights_folder()
    for name in ("model.safetensors", "vocab.txt", "config.json"):
        (tmp_path / name).write_bytes(b"not the model" if name == "model.safetensors" else (folder / name).read_bytes())
    with pytest.raises(text_model.WeightsError, match="has sha256 .* expected 53aa5117"):
        text_model.load_weights(tmp_path)


def test_loading_the_preprocessor_registers_tensorflow_text_ops():
    meta = catalog.read_meta(catalog.BUNDLED["minilm-l6-preprocess"].path)
    assert meta["kind"] == "text_preprocessor" and meta["seq_len"] == 32 and meta["sha256"] == text_model.SHA256


def test_general_ability_metrics_separate_the_pretrained_encoder_from_a_damaged_one(pair):
    """The graded set and the hard distractors measure something: the real encoder ranks graded pairs close to
    their scores and is fooled by some distractors; an encoder whose embeddings are noise scores near 0 on both."""
    from utils import text_data

    preprocessor, encoder = pair
    bench = text_data.TextBench.build(preprocessor, encoder, general_fraction=1 / 3)
    t = bench.intents  # a fifth of each intent's training messages is the validation split, never trained on
    assert set(np.bincount(t.y_val)) == {19} and set(np.bincount(t.y_train)) == {76}
    assert not {r.tobytes() for r in t.x_val} & {r.tobytes() for r in t.x_train}
    g = bench.general_ability(encoder)
    assert g["sts"] >= 0.85 and g["spearman"] == pytest.approx(1.0)
    para, _, _, distractors, _ = bench.general_embeddings(encoder)
    n = len(bench.para_a)
    without = text_data.mean_reciprocal_rank(para[:n], para[n:], bench.para_topics, distractors[:0], [])
    assert 0.8 <= g["para_mrr"] < without  # some distractors rank above a paraphrase
    rng = np.random.default_rng(0)
    noise = bench.general_ability(lambda ids: rng.normal(size=(len(ids), 384)).astype(np.float32))
    assert abs(noise["sts"]) < 0.45 and noise["para_mrr"] < 0.4  # 60 pairs: chance spread about 0.13


def test_the_evaluator_measures_each_set_of_encoder_weights_once_and_applies_each_head(pair):
    """WiSE-FT's whole-model and backbone-only dials share the encoder at each α: measured once, heads differ."""
    from types import SimpleNamespace

    import tf_keras as keras

    preprocessor, encoder = pair
    bench = text_data.TextBench.build(preprocessor, encoder, intent_fraction=0.2, general_fraction=1 / 3)
    measured = []
    general = bench.general_ability
    bench.general_ability = lambda f: measured.append(1) or general(f)
    heads = [keras.layers.Dense(8, kernel_initializer=keras.initializers.GlorotUniform(seed=s)) for s in (0, 1)]
    for h in heads:
        h.build((None, 384))
    evaluate = bench.evaluator()
    ctx = lambda head: SimpleNamespace(backbone_variables=encoder.trainable_variables, features=encoder, head=head)  # noqa: E731
    first, other_head = evaluate(ctx(heads[0])), evaluate(ctx(heads[1]))
    assert len(measured) == 1 and first["sts"] == other_head["sts"] and first["B"] != other_head["B"]
    kept = [v.numpy() for v in encoder.trainable_variables]
    try:
        encoder.trainable_variables[-1].assign(kept[-1] + 0.5)  # another encoder: measured again
        assert evaluate(ctx(heads[0]))["sts"] != first["sts"] and len(measured) == 2
    finally:
        encoder.trainable_variables[-1].assign(kept[-1])
    assert evaluate(ctx(heads[0])) == first and len(measured) == 2  # the pretrained weights again: still remembered
