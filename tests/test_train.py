import json
from dataclasses import replace

import numpy as np
import pytest

from utils import image_data, tasks
from utils import methods as M
from utils.train import NonFiniteLossError, finetune


@pytest.fixture
def small_pair(permute_pair):
    a, b = permute_pair
    return a, b.subset(0.25)


def test_records_every_epoch_and_full_finetuning_forgets(permute_pair):
    r = finetune(task=image_data.task_pair("permute"), epochs=3, seed=0)
    assert [h["epoch"] for h in r.history] == [0, 1, 2, 3]
    for h in r.history:
        assert {"A_head", "A_probe", "B", "B_train"} <= set(h)
    assert r.before["A_head"] > 0.97 and r.before["B"] < 0.3
    assert r.final["B"] > 0.85  # it learns task B...
    assert r.final["A_head"] < r.before["A_head"] - 0.2  # ...and the old head loses task A
    assert r.final["A_probe"] > r.final["A_head"]  # the information is more intact than the head suggests
    json.dumps(r.to_dict())  # JSON-ready


def test_same_seed_is_bit_identical_and_another_seed_differs(small_pair):
    a = finetune(task=small_pair, method=M.Rehearsal(0.1), epochs=2, seed=3)
    b = finetune(task=small_pair, method=M.Rehearsal(0.1), epochs=2, seed=3)
    c = finetune(task=small_pair, method=M.Rehearsal(0.1), epochs=2, seed=4)
    for v, w in zip(a.context.backbone_variables, b.context.backbone_variables):
        assert np.array_equal(v.numpy(), w.numpy())
    assert a.history == [dict(h, seconds=x["seconds"]) for h, x in zip(b.history, a.history)]
    assert any(not np.array_equal(v.numpy(), w.numpy()) for v, w in zip(a.context.backbone_variables, c.context.backbone_variables))


def test_nan_inputs_are_refused_before_training(small_pair):
    # a NaN pixel does not make every CPU's loss NaN (on some, max(NaN, 0) in a ReLU gives 0): check the data
    a, b = small_pair
    x = b.x_train.copy()
    x[5] = np.nan
    bad = tasks.Task("nan", x, b.y_train, b.x_test, b.y_test, 10)
    with pytest.raises(tasks.InvalidDataError, match=r"task B 'nan': x_train row 5 holds NaN or inf"):
        finetune(task=(a, bad), epochs=1)


def test_bad_arguments_fail_before_training(small_pair):
    with pytest.raises(ValueError, match="epochs must be an integer"):
        finetune(task=small_pair, epochs=-1)
    with pytest.raises(ValueError, match="learning_rate"):
        finetune(task=small_pair, learning_rate=0)
    with pytest.raises(ValueError, match="10 classes but task A .* has 5: use the model pretrained on task A .*digits-convnet-0to4"):
        finetune(model="digits-convnet", task=image_data.task_pair("split"), epochs=1)
    a, b = small_pair
    wide = tasks.Task("wide", np.zeros((8, 28, 28, 1), np.float32), np.zeros(8, np.int32),
                      np.zeros((8, 28, 28, 1), np.float32), np.zeros(8, np.int32), 10, bench=image_data.IMAGES)
    from utils.models import IncompatibleInputError

    with pytest.raises(IncompatibleInputError, match=r"\(None, 8, 8, 1\)"):
        finetune(model="digits-convnet", task=(a, wide), epochs=1)
    with pytest.raises(ValueError, match="names no base model: pass finetune\\(model="):
        finetune(task=(a, wide), epochs=1)
    with pytest.raises(ValueError, match="has no bench to measure a run on it"):
        finetune(model="digits-convnet", task=(a, replace(b, bench=None)), epochs=1)
    with pytest.raises(TypeError, match="image_data.task_pair"):
        finetune(task="permute", epochs=1)  # the runner knows no track: a name is resolved by its track


def test_split_pair_uses_the_0to4_model():
    r = finetune(task=image_data.task_pair("split"), epochs=1, method=M.FrozenBackbone())
    assert r.model == "digits-convnet-0to4" and r.before["A_head"] > 0.97


def test_interrupted_run_resumes_to_the_same_weights(small_pair, tmp_path):
    method = [M.LPFT(lp_epochs=1), M.Rehearsal(0.1), M.Dropout(0.2)]
    whole = finetune(task=small_pair, method=method, epochs=3, seed=1, eval_every=1)

    class Interrupt(Exception):
        pass

    def stop_after_2(epoch, row):
        if epoch == 2:
            raise Interrupt  # like Ctrl-C right after the checkpoint of epoch 2

    method = [M.LPFT(lp_epochs=1), M.Rehearsal(0.1), M.Dropout(0.2)]
    with pytest.raises(Interrupt):
        finetune(task=small_pair, method=method, epochs=3, seed=1, eval_every=1, checkpoint_dir=tmp_path, on_epoch=stop_after_2)
    method = [M.LPFT(lp_epochs=1), M.Rehearsal(0.1), M.Dropout(0.2)]
    resumed = finetune(task=small_pair, method=method, epochs=3, seed=1, eval_every=1, checkpoint_dir=tmp_path, resume=True)
    for v, w in zip(whole.context.backbone_variables + whole.context.head.weights,
                    resumed.context.backbone_variables + resumed.context.head.weights):
        assert np.array_equal(v.numpy(), w.numpy())
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(whole.history) == strip(resumed.history) and whole.final == resumed.final


def test_resume_refuses_another_runs_checkpoints(small_pair, tmp_path):
    from utils.train import ResumeError

    finetune(task=small_pair, epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(ResumeError, match="already holds checkpoints"):
        finetune(task=small_pair, epochs=1, checkpoint_dir=tmp_path)
    with pytest.raises(ResumeError, match=r"another run.*'seed': \(0, 5\)"):
        finetune(task=small_pair, epochs=1, seed=5, checkpoint_dir=tmp_path, resume=True)


def test_nan_keeps_the_last_good_checkpoint(small_pair, tmp_path):
    import tensorflow as tf

    from utils.checkpoint import Checkpointer

    class NaNFromEpoch3(M.Method):
        """A penalty that turns NaN once two epochs are done."""

        def setup(self, ctx):
            self.poison = tf.Variable(0.0)

        def penalty(self, ctx, x, features, logits):
            return tf.sqrt(-self.poison)  # 0 until poisoned, then NaN

        def after_epoch(self, ctx, epoch, metrics):
            self.poison.assign(1.0 if epoch >= 2 else 0.0)
            return False

    with pytest.raises(NonFiniteLossError, match=r"epoch 3, step 1 .*last good checkpoint \(epoch 2\)"):
        finetune(task=small_pair, method=NaNFromEpoch3(), epochs=5, checkpoint_dir=tmp_path)
    assert Checkpointer(tmp_path).epochs() == [1, 2]


def test_graph_rewrites_are_switched_for_the_block_and_put_back():
    import tensorflow as tf

    from utils.runtime import graph_rewrites

    def off():
        return tf.config.optimizer.get_experimental_options().get("disable_meta_optimizer", False)

    assert not off()
    with graph_rewrites(False):
        assert off()
        with graph_rewrites(True):
            assert not off()
        assert off()
    assert not off()


def test_warm_up_rises_linearly_to_the_rate_then_follows_the_schedule():
    from utils.runtime import learning_rate_schedule

    cosine = learning_rate_schedule(1e-3, "cosine", steps=110, warmup=10)
    assert [float(cosine(s)) for s in (0, 5, 10)] == pytest.approx([0.0, 5e-4, 1e-3])
    assert float(cosine(60)) == pytest.approx(5e-4, rel=1e-3) and float(cosine(110)) == pytest.approx(0.0, abs=1e-9)
    constant = learning_rate_schedule(1e-3, "constant", steps=110, warmup=10)
    assert [float(constant(s)) for s in (5, 10, 100)] == pytest.approx([5e-4, 1e-3, 1e-3])
    assert learning_rate_schedule(1e-3, "constant") == 1e-3  # no warm-up: the plain number, as before


def test_a_run_with_warm_up_takes_smaller_first_steps(small_pair):
    first = {}
    for warmup in (0, 20):
        r = finetune(task=small_pair, epochs=1, warmup=warmup, eval_every=0, schedule="constant")
        first[warmup] = sum(float(np.abs(v.numpy() - w.numpy()).sum())
                            for v, w in zip(r.context.backbone_variables, r.context.initial))
        assert r.config["warmup"] == warmup
    assert first[20] < 0.7 * first[0]  # the warmed-up run moved the weights less in its first epoch
