"""SavedModels nobody here wrote: a Keras 3 ``model.export()``, a plain ``tf.Module``, one without trainable
variables, and a damaged one. Each is built in a temporary folder."""

import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from utils import finetune_cli as cli
from utils import methods as M
from utils import models
from utils.train import finetune

KERAS3 = textwrap.dedent("""
    import os, sys
    os.environ.pop("TF_USE_LEGACY_KERAS", None)  # Keras 3, as a user of today's TensorFlow has it
    import keras
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    features = keras.layers.Dense(32, activation="relu")(keras.layers.Flatten()(inputs))
    keras.Model(inputs, features).export(sys.argv[1])
""")


@pytest.fixture(scope="module")
def foreign(tmp_path_factory):
    import tensorflow as tf

    root = tmp_path_factory.mktemp("foreign")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    done = subprocess.run([sys.executable, "-c", KERAS3, str(root / "keras3")], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]

    class Features(tf.Module):
        def __init__(self, trainable=True):
            super().__init__()
            rng = np.random.default_rng(0)
            self.kernel = tf.Variable(rng.normal(0, 0.1, (64, 32)).astype(np.float32), trainable=trainable)
            self.bias = tf.Variable(np.zeros(32, np.float32), trainable=trainable)

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32)])
        def __call__(self, x):
            return tf.nn.relu(tf.reshape(x, [-1, 64]) @ self.kernel + self.bias)

    tf.saved_model.save(Features(), str(root / "module"))
    tf.saved_model.save(Features(trainable=False), str(root / "frozen-module"))
    shutil.copytree(models.resolve("digits-convnet"), root / "damaged")
    data_file = next((root / "damaged" / "variables").glob("variables.data-*"))
    data_file.write_bytes(data_file.read_bytes()[:1000])
    return root


@pytest.mark.parametrize("name, n_variables", [("keras3", 2), ("module", 2)])
def test_keras3_exports_and_plain_modules_load_and_fine_tune(foreign, permute_pair, name, n_variables):
    layer = models.load(foreign / name, trainable=True)
    assert len(layer.trainable_variables) == n_variables
    assert models.input_signature(layer).shape.as_list() == [None, 8, 8, 1]
    assert layer(permute_pair[1].x_test[:4]).shape == (4, 32)
    r = finetune(model=str(foreign / name), task=permute_pair, epochs=2, old_head=None, eval_every=0)
    assert r.final["B"] > 0.5 and "A_head" not in r.final  # no task-A head ships with it: the probe measures A
    moved = [not np.array_equal(v.numpy(), w.numpy()) for v, w in zip(r.context.backbone_variables, r.context.initial)]
    assert all(moved)


def test_the_cli_fine_tunes_and_exports_a_keras3_model(foreign, capsys, tmp_path, permute_pair):
    out = tmp_path / "run"
    assert cli.main(["--model", str(foreign / "keras3"), "--epochs", "2", "--out", str(out), "--no-progress"]) == 0
    reloaded = models.load(out / "model")
    head = models.load_head(out / "model")
    from utils.metrics import accuracy

    b = permute_pair[1]
    again = accuracy(head(reloaded(b.x_test)).numpy(), b.y_test)
    import json

    assert again == pytest.approx(json.loads((out / "results.json").read_text())["final"]["B"], abs=1e-9)


def test_a_model_without_trainable_variables_refuses_methods_that_train_it(foreign, permute_pair, capsys, tmp_path):
    with pytest.raises(models.NotTrainableError, match="exposes no trainable variables, so l2-sp"):
        finetune(model=str(foreign / "frozen-module"), task=permute_pair, method=M.L2SP(0.1), epochs=1, old_head=None)
    err_args = ["--model", str(foreign / "frozen-module"), "--out", str(tmp_path / "a"), "--no-progress"]
    assert cli.main(err_args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "exposes no trainable variables" in err and "--method frozen" in err
    assert not (tmp_path / "a" / "results.json").exists()
    r = finetune(model=str(foreign / "frozen-module"), task=permute_pair, method=M.FrozenBackbone(), epochs=5,
                 learning_rate=1e-2, old_head=None, eval_every=0)
    assert r.final["B"] > 0.3  # a linear probe on its features is what it can do


def test_a_damaged_variables_file_is_reported_as_such(foreign, capsys, tmp_path):
    with pytest.raises(models.CorruptModelError, match="truncated or damaged"):
        models.load(foreign / "damaged")
    assert cli.main(["--model", str(foreign / "damaged"), "--out", str(tmp_path / "a"), "--no-progress"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "truncated or damaged" in err and "Traceback" not in err
