import json

import numpy as np
import pytest

from utils import catalog, zoo

REBUILD_TOLERANCE = 0.01  # accuracy: about 5 of the 539 test images


@pytest.mark.parametrize("name", ["digits-convnet"])
def test_rebuild_matches_the_committed_model(name, tmp_path):
    committed = catalog.read_meta(catalog.BUNDLED[name].path)
    meta = zoo.build(name, tmp_path / name)
    # bit-identical on the machine and kernels that built it; other CPU kernels (oneDNN off, another thread count,
    # another instruction set) train to other weights, measured here within a few test images (make robust)
    assert meta["test_accuracy"] == pytest.approx(committed["test_accuracy"], abs=REBUILD_TOLERANCE)
    assert meta["val_accuracy"] == pytest.approx(committed["val_accuracy"], abs=REBUILD_TOLERANCE)
    assert meta["train_accuracy"] == pytest.approx(committed["train_accuracy"], abs=REBUILD_TOLERANCE)
    a, b = np.load(tmp_path / name / catalog.HEAD_FILE), np.load(catalog.BUNDLED[name].path / catalog.HEAD_FILE)
    print("max |head difference|:", float(np.abs(a["kernel"] - b["kernel"]).max()))
    card = (tmp_path / name / catalog.CARD_FILE).read_text()
    assert f"| test | {meta['test_accuracy']:.4f} |" in card and "CC BY 4.0" in card


def test_every_bundled_digits_model_is_committed_with_card_and_meta():
    for name, m in catalog.BUNDLED.items():
        if not (m.committed and isinstance(m.recipe, catalog.DigitsRecipe)):  # byte-lm: tests/test_lm.py
            continue
        meta = json.loads((m.path / catalog.META_FILE).read_text())
        assert meta["name"] == name and meta["input_shape"] == [None, 8, 8, 1]
        assert (m.path / catalog.CARD_FILE).exists() and (m.path / "saved_model.pb").exists()
        assert meta["test_accuracy"] >= (0.97 if m.recipe.epochs >= 60 else 0.85)  # e5, e20: shorter on purpose
        assert meta["recipe"]["epochs"] == m.recipe.epochs


def test_cli_rejects_unknown_names(capsys):
    with pytest.raises(SystemExit):
        zoo.main(["build", "resnet"])
    assert "bundled models: digits-convnet" in capsys.readouterr().err


def _functions(folder) -> int:
    """How many functions the SavedModel's graph library holds (a nested Keras export: one or more per layer)."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((folder / "saved_model.pb").read_bytes())
    return len(proto.meta_graphs[0].graph_def.library.function)


def test_export_is_one_flat_function_per_training_mode_with_the_models_outputs(tmp_path):
    import tensorflow as tf
    import tf_keras as keras

    from utils import models

    model = zoo.digits_feature_extractor((8, 8, 1), 16)
    dropout = keras.Sequential([keras.Input((8, 8, 1)), model, keras.layers.Dropout(0.5, seed=1)])
    x = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    models.export(dropout, tmp_path / "m", tf.TensorSpec([None, 8, 8, 1], tf.float32))
    nested = tmp_path / "nested"
    tf.saved_model.save(dropout, str(nested))
    assert _functions(tmp_path / "m") < _functions(nested) / 3
    layer = models.load(tmp_path / "m", trainable=True)
    np.testing.assert_array_equal(layer(x, training=False).numpy(), dropout(x, training=False).numpy())
    assert float(tf.reduce_mean(tf.cast(layer(x, training=True) == 0, tf.float32))) > 0.3  # dropout on in training
    assert [v.shape for v in layer.trainable_variables] == [v.shape for v in dropout.trainable_variables]


@pytest.mark.parametrize("name", ["digits-convnet", "byte-lm"])
def test_committed_models_are_flat_exports(name):
    assert _functions(catalog.BUNDLED[name].path) <= 8


def test_reexport_keeps_the_outputs_and_refuses_other_weights(tmp_path, monkeypatch):
    import shutil

    from utils import models, paths

    shutil.copytree(catalog.BUNDLED["digits-convnet"].path, tmp_path / "digits-convnet")
    monkeypatch.setattr(paths, "MODELS_DIR", tmp_path)
    folder = catalog.BUNDLED["digits-convnet"].path
    assert folder == tmp_path / "digits-convnet"
    x = np.random.default_rng(1).random((3, 8, 8, 1)).astype(np.float32)
    before = models.load(folder)(x).numpy()
    zoo.reexport("digits-convnet")
    np.testing.assert_array_equal(models.load(folder)(x).numpy(), before)
    monkeypatch.setattr(zoo, "architecture", lambda name: zoo.digits_feature_extractor((8, 8, 1), 32))
    with pytest.raises(ValueError, match="do not fit"):
        zoo.reexport("digits-convnet")


def test_a_minilm_build_of_another_version_is_out_of_date(tmp_path, monkeypatch):
    monkeypatch.setattr(catalog.paths, "MODELS_DIR", tmp_path)
    for name in ("minilm-l6", "digits-convnet"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "saved_model.pb").write_bytes(b"")
    (tmp_path / "digits-convnet" / catalog.META_FILE).write_text("{}")  # a recipe without a version: files suffice
    assert catalog.is_built("digits-convnet")
    for version, built in ((None, False), (1, False), (catalog.MiniLMRecipe.version, True)):
        meta = {} if version is None else {"version": version}
        (tmp_path / "minilm-l6" / catalog.META_FILE).write_text(json.dumps(meta))
        assert catalog.is_built("minilm-l6") is built  # `make models` builds an older port again
    assert catalog.read_meta(catalog.BUNDLED["minilm-l6"].path)["version"] == catalog.MiniLMRecipe.version
