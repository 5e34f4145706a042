import time

import numpy as np
import pytest

from utils import catalog, models


def test_bundled_name_loads_a_keras_layer_frozen_or_trainable():
    import tensorflow_hub

    frozen = models.load("digits-convnet")
    assert isinstance(frozen, tensorflow_hub.KerasLayer)
    assert frozen.trainable_variables == [] and len(frozen.variables) == 8
    trainable = models.load("digits-convnet", trainable=True)
    assert len(trainable.trainable_variables) == 8
    out = trainable(np.zeros((3, 8, 8, 1), np.float32))
    assert out.shape == (3, 64)
    assert models.load(trainable) is trainable and models.load(trainable, trainable=False).trainable_variables == []  # as is


def test_local_path_loads_like_the_name(tmp_path):
    layer = models.load(str(catalog.BUNDLED["digits-convnet"].path))
    x = np.random.default_rng(0).random((4, 8, 8, 1), dtype=np.float32)
    assert np.allclose(layer(x).numpy(), models.load("digits-convnet")(x).numpy())


def test_unknown_name_lists_the_bundled_models():
    with pytest.raises(models.ModelNotFoundError, match="digits-convnet, digits-convnet-0to4"):
        models.load("digits-convnett")


def test_missing_path_and_non_savedmodel_folder(tmp_path):
    with pytest.raises(models.ModelNotFoundError, match="no such folder: ./no/such/model"):
        models.load("./no/such/model")
    (tmp_path / "weights.h5").write_bytes(b"")
    with pytest.raises(models.NotASavedModelError, match="neither saved_model.pb nor saved_model.pbtxt"):
        models.load(str(tmp_path))


def test_offline_handle_fails_fast_and_names_the_options(monkeypatch, tmp_path):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(models, "_network_reachable", lambda url, timeout=models.NETWORK_TIMEOUT_S: False)
    handle = "https://tfhub.dev/google/imagenet/inception_v3/feature_vector/5"
    t0 = time.perf_counter()
    with pytest.raises(models.HubOfflineError) as e:
        models.load(handle)
    assert time.perf_counter() - t0 < 5
    msg = str(e.value)
    for part in (handle, "TFHUB_CACHE_DIR", "local SavedModel folder", "digits-convnet"):
        assert part in msg


def test_unreachable_host_is_detected_within_the_timeout():
    # the .invalid top-level domain never resolves (RFC 2606)
    t0 = time.perf_counter()
    assert models._network_reachable("https://tfhub.invalid/model", timeout=1.0) is False
    assert time.perf_counter() - t0 < 3


def test_stale_cache_folder_is_named(monkeypatch, tmp_path):
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    handle = "https://tfhub.dev/google/nnlm-en-dim50/2"
    models.hub_cache_folder(handle).mkdir(parents=True)
    with pytest.raises(models.StaleHubCacheError, match="delete that folder"):
        models.load(handle)


def test_cached_handle_resolves_without_network(monkeypatch, tmp_path):
    import shutil

    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(models, "_network_reachable", lambda *a, **k: pytest.fail("must not touch the network"))
    handle = "https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/feature_vector/5"
    shutil.copytree(catalog.BUNDLED["digits-convnet"].path, models.hub_cache_folder(handle))
    assert models.resolve(handle) == handle


def test_input_shape_mismatch_names_both_shapes():
    layer = models.load("digits-convnet")
    models.check_input(layer, np.zeros((2, 8, 8, 1), np.float32))
    with pytest.raises(models.IncompatibleInputError, match=r"\(None, 8, 8, 1\).*\(2, 28, 28, 1\)"):
        models.check_input(layer, np.zeros((2, 28, 28, 1), np.float32))
    with pytest.raises(models.IncompatibleInputError, match="expects float32 inputs but the data is int64"):
        models.check_input(layer, np.zeros((2, 8, 8, 1), np.int64))


def test_head_ships_beside_the_model_and_reaches_the_card_accuracy(permute_pair):
    from utils.metrics import accuracy

    a, _ = permute_pair
    layer, head = models.load("digits-convnet"), models.load_head("digits-convnet")
    acc = accuracy(head(layer(a.x_test)).numpy(), a.y_test)
    assert acc == pytest.approx(catalog.read_meta(catalog.BUNDLED["digits-convnet"].path)["test_accuracy"], abs=1e-6)
    assert acc >= 0.97


def test_a_tf1_format_model_loads_frozen_through_its_signature_and_refuses_fine_tuning(tmp_path):
    from utils import zoo

    path = zoo.build_tf1_example(tmp_path / "tf1")
    layer = models.load(str(path))
    out = layer(np.zeros((3, 8, 8, 1), np.float32))
    assert tuple(out.shape) == (3, 16) and layer.trainable_variables == []
    with pytest.raises(models.NotTrainableError, match=r"TF1 format.*signatures \(default\).*cannot be fine-tuned.*feature_vector/5"):
        models.load(str(path), trainable=True)
