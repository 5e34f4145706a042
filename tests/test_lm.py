"""The bundled language model: it loads by name, takes strings through its preprocessor, and its model card's
held-out bits per byte is reproduced here, on the committed text, and beats bz2 and lzma on the same bytes."""

import json

import numpy as np
import pytest
import tensorflow as tf

from utils import catalog, lm_model, models


@pytest.fixture(scope="module")
def model():
    return models.load("byte-lm")


@pytest.fixture(scope="module")
def meta():
    return catalog.read_meta(catalog.BUNDLED["byte-lm"].path)


def test_preprocessor_matches_the_python_encoding():
    pre = models.load("byte-lm-preprocess")
    texts = ["def f(x):\n    return x", "Café ünïcode — 微调", ""]
    ids = pre(tf.constant(texts)).numpy()
    ctx = catalog.BUNDLED["byte-lm-preprocess"].recipe.ctx
    assert ids.shape == (3, ctx) and ids.dtype == np.int32
    for row, ref in zip(ids, lm_model.encode(texts, ctx)):
        assert list(row[: len(ref)]) == list(ref) and (row[len(ref):] == lm_model.PAD).all()
    long = pre(tf.constant(["x" * 1000])).numpy()
    assert long.shape == (1, ctx) and long[0, 0] == lm_model.BOS and (long[0, 1:] == ord("x")).all()  # truncated


def test_model_card_bits_per_byte_is_reproduced_and_beats_compressors(model, meta):
    text = lm_model.heldout_text()
    assert lm_model.sha256(text) == meta["heldout"]["sha256"], "the committed held-out text changed since the model was built"
    measured = lm_model.bits_per_byte(model, text, meta["ctx"])
    assert measured["bits_per_byte"] == pytest.approx(meta["heldout"]["bits_per_byte"], abs=0.01)
    compressors = lm_model.compressor_bits_per_byte(text)
    assert measured["bits_per_byte"] < min(compressors["bz2 -9"], compressors["lzma -9e"])
    assert compressors == pytest.approx(meta["heldout"]["compressors"])


def test_model_is_causal_and_trainable(model):
    x = np.array([lm_model.encode(["abcdefgh"])[0]], np.int32)
    y = x.copy()
    y[0, -1] = ord("z")  # change the last token: earlier positions' logits must not change
    a, b = model(tf.constant(x)).numpy(), model(tf.constant(y)).numpy()
    np.testing.assert_allclose(a[0, :-1], b[0, :-1], atol=1e-5)
    assert a.shape == (1, 9, lm_model.VOCAB)
    trainable = models.load("byte-lm", trainable=True)
    assert sum(int(np.prod(v.shape)) for v in trainable.trainable_variables) == catalog.read_meta(
        catalog.BUNDLED["byte-lm"].path)["parameters"]


def test_model_card_states_the_measured_numbers(meta):
    card = (catalog.BUNDLED["byte-lm"].path / catalog.CARD_FILE).read_text()
    assert f"{meta['heldout']['bits_per_byte']:.3f} bits per byte" in card
    assert f"{meta['parameters']:,} parameters" in card
    assert json.dumps(meta)  # plain JSON


def test_pretraining_builds_the_recipe_shape_and_lowers_the_loss():
    from dataclasses import replace

    from utils import costs

    recipe = replace(catalog.BUNDLED["byte-lm"].recipe, steps=40, batch_size=8, layers=1, d_model=16, heads=2, ctx=16,
                     warmup=4)
    stream = np.frombuffer(lm_model.replay_text()[:20_000], np.uint8).astype(np.int32)
    model, losses = lm_model.pretrain(recipe, stream)
    assert model.count_params() == costs.decoder_parameters(1, 16, lm_model.VOCAB, 16)
    assert len(losses) == 40 and np.mean(losses[-5:]) < np.mean(losses[:5]) - 1.0  # nats: it learns byte statistics
