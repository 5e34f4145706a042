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


def test_the_chat_model_reproduces_its_card_on_this_machine():
    """byte-lm-chat loads by name; every capability's exact match (test and validation, all held-out prompts) and
    the held-out bits per byte are those of its model card, within what other CPU kernels change."""
    from utils import lm_data

    chat = models.load("byte-lm-chat")
    meta = catalog.read_meta(catalog.BUNDLED["byte-lm-chat"].path)
    assert meta["chat_template"] == lm_data.TEMPLATE and list(meta["capabilities"]) == list(lm_data.CAPABILITIES)
    call = tf.function(lambda x: chat(x), reduce_retracing=True)
    suite = lm_data.CapabilitySuite(general_bytes=0)
    for name, card in {**meta["capabilities"], **meta["new_skills"]}.items():
        for split in ("test", "val"):
            assert suite.skill_metrics(call, name, split)["exact"] == pytest.approx(card[split], abs=0.02), (name, split)
    assert all(card["test"] >= 0.5 for card in meta["capabilities"].values())  # each capability learnt
    assert len({c["kind"] for c in meta["capabilities"].values()}) >= 3
    text = lm_model.heldout_text()
    assert lm_model.bits_per_byte(call, text, meta["ctx"])["bits_per_byte"] == pytest.approx(
        meta["heldout"]["bits_per_byte"], abs=0.01)
    card = (catalog.BUNDLED["byte-lm-chat"].path / catalog.CARD_FILE).read_text()
    assert f"{meta['heldout']['bits_per_byte']:.3f} bits per byte" in card and "`facts` | knowledge" in card
