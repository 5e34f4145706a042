"""Each method does what its docstring says, checked on the bundled model with small, fast runs."""

from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf

from utils import methods as M
from utils import models, suites
from utils.common import PROTOCOL, Protocol
from utils.train import Run, finetune


@pytest.fixture
def small_pair(permute_pair):
    a, b = permute_pair
    return a, b.subset(0.25)  # ~300 task-B examples: ~10 steps an epoch


def _ctx(pair):
    """The Context the runner itself builds (``Run.prepare``) for full fine-tuning on ``pair``, before any step."""
    run = Run("digits-convnet", pair, None, Protocol(learning_rate=1e-3))
    run.prepare()
    return run.ctx


def _shift(ctx, t, direction):
    for v, w0, d in zip(ctx.backbone_variables, ctx.initial, direction):
        v.assign(w0 + t * d)


@pytest.mark.parametrize("method", [M.L2SP(0.5), M.EWC(0.5)], ids=["l2sp", "ewc"])
def test_quadratic_penalties_are_zero_at_the_pretrained_weights_and_grow_quadratically(small_pair, method):
    ctx = _ctx(small_pair)
    method.setup(ctx)
    x = ctx.train_x[:4]
    assert float(method.penalty(ctx, x, None, None)) == 0.0
    rng = np.random.default_rng(1)
    direction = [rng.normal(0, 0.01, w.shape).astype(np.float32) for w in ctx.initial]
    _shift(ctx, 1.0, direction)
    p1 = float(method.penalty(ctx, x, None, None))
    _shift(ctx, 2.0, direction)
    p2 = float(method.penalty(ctx, x, None, None))
    _shift(ctx, 3.0, direction)
    p3 = float(method.penalty(ctx, x, None, None))
    assert p1 > 0
    assert p2 / p1 == pytest.approx(4.0, rel=1e-3) and p3 / p1 == pytest.approx(9.0, rel=1e-3)


def test_l2sp_value_and_ewc_fisher_normalised_to_mean_one(small_pair):
    ctx = _ctx(small_pair)
    l2sp, ewc = M.L2SP(2.0), M.EWC(2.0)
    l2sp.setup(ctx)
    ewc.setup(ctx)
    fisher = [f.numpy() for f in ewc.fisher]
    assert sum(f.sum() for f in fisher) / sum(f.size for f in fisher) == pytest.approx(1.0, rel=1e-5)
    assert all((f >= 0).all() for f in fisher)
    direction = [np.full(w.shape, 0.01, np.float32) for w in ctx.initial]
    _shift(ctx, 1.0, direction)
    n = sum(w.numpy().size for w in ctx.initial)
    assert float(l2sp.penalty(ctx, None, None, None)) == pytest.approx(0.5 * 2.0 * n * 1e-4, rel=1e-4)
    # with a constant shift, mean-1 Fisher weights give exactly the L2-SP value
    assert float(ewc.penalty(ctx, None, None, None)) == pytest.approx(float(l2sp.penalty(ctx, None, None, None)), rel=1e-3)


def test_lora_starts_exactly_at_the_pretrained_function_and_its_chain_rule_is_exact(small_pair):
    ctx = _ctx(small_pair)
    x = ctx.task_a.x_test[:16]
    before = ctx.backbone(x).numpy()
    lora = M.LoRA(rank=2)
    lora.setup(ctx)
    lora.after_apply(ctx)  # writes W0 + s*A@B with B = 0
    assert np.array_equal(ctx.backbone(x).numpy(), before)
    assert len(lora.kernels) == 2 and all(k.shape.rank == 2 for k in lora.kernels)
    # give B a value, then compare the chain-rule gradient with autodiff through W0 + s*A@B
    for _, b in lora.factors:
        b.assign(np.random.default_rng(0).normal(0, 0.1, b.shape).astype(np.float32))
    lora.after_apply(ctx)
    y = ctx.task_a.y_test[:16]

    def loss_of_weights():
        logits = ctx.old_head(ctx.backbone(x, training=True))
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))

    with tf.GradientTape() as tape:
        loss = loss_of_weights()
    g_w = tape.gradient(loss, lora.kernels)
    ours = dict((v.ref(), g.numpy()) for g, v in lora.transform_gradients(ctx, list(zip(g_w, lora.kernels))))
    # autodiff: rebuild W = W0 + s*A@B from the factors (variables, so the tape watches them)
    with tf.GradientTape() as tape:
        ws = [lora.w0[i] + lora.scale * (a @ b) for i, (a, b) in enumerate(lora.factors)]
        loss2 = tf.add_n([tf.reduce_sum(g * w) for g, w in zip(g_w, ws)])  # linearised loss: d/dA equals chain rule
    auto = tape.gradient(loss2, [t for ab in lora.factors for t in ab])
    flat = [t for ab in lora.factors for t in ab]
    for t, g in zip(flat, auto):
        np.testing.assert_allclose(ours[t.ref()], g.numpy(), rtol=1e-5, atol=1e-7)


def test_lora_update_has_low_rank(small_pair):
    r = finetune(task=small_pair, method=M.LoRA(rank=2), epochs=1, seed=0)
    lora_kernels = [v for v in r.context.backbone_variables if v.shape.rank == 2]
    for v, w0 in zip(r.context.backbone_variables, r.context.initial):
        delta = v.numpy() - w0.numpy()
        if v.shape.rank == 2:
            assert np.linalg.matrix_rank(delta, tol=1e-6) <= 2 and np.abs(delta).max() > 0
        else:
            assert np.array_equal(delta, np.zeros_like(delta))  # biases and convs stay pretrained
    assert len(lora_kernels) == 2


def test_wiseft_endpoints_reproduce_pretrained_and_finetuned(small_pair):
    r = finetune(task=small_pair, method=M.WiSEFT(alpha=1.0, sweep=(0.0, 1.0)), epochs=2, seed=0)
    plain = finetune(task=small_pair, method=None, epochs=2, seed=0)
    sweep = r.reports[0]["dial"]
    assert 1.0 not in sweep  # where the model is left: the final evaluation measures it, not a second one
    assert r.final["A_head"] == plain.final["A_head"] and r.final["B"] == plain.final["B"]
    rows = {M.run_id(row.methods): row for row in r.rows()}
    assert rows["full"].metrics == r.final and rows["wise-ft(alpha=0)"].metrics == sweep[0.0]
    assert rows["full"].left and not rows["wise-ft(alpha=0)"].left  # the model was left at alpha = 1
    assert r.settings()["training"] == "full"  # what a sequence continuing from it would check
    assert sweep[0.0]["A_head"] == r.before["A_head"] and sweep[0.0]["A_probe"] == r.before["A_probe"]
    for v, w in zip(r.context.backbone_variables, plain.context.backbone_variables):
        assert np.array_equal(v.numpy(), w.numpy())  # left at alpha = 1


def test_rehearsal_batches_hold_the_stated_fraction(small_pair):
    for fraction in (0.1, 0.25, 0.4):
        n_a = M.Rehearsal(fraction).replay_size(32)
        assert abs(n_a / (n_a + 32) - fraction) <= 0.5 / (n_a + 32) + 1e-9
    ctx = _ctx(small_pair)
    reh = M.Rehearsal(0.25, memory=100)
    reh.setup(ctx)
    assert len(reh.y_memory) == 100
    x, y = reh.replay_batch(ctx, reh.replay_size(32))
    assert len(y) == 11 and len(np.unique([xi.tobytes() for xi in x])) == 11
    memory = {xi.tobytes() for xi in reh.x_memory}
    assert all(xi.tobytes() in memory for xi in x)
    r = finetune(task=small_pair, method=reh, epochs=1)
    assert r.config["replay_per_batch"] == 11


def test_frozen_run_leaves_the_backbone_bit_identical(small_pair):
    r = finetune(task=small_pair, method=M.FrozenBackbone(), epochs=3, learning_rate=1e-2)
    for v, w0 in zip(r.context.backbone_variables, r.context.initial):
        assert np.array_equal(v.numpy(), w0.numpy())
    assert r.final["A_head"] == r.before["A_head"] and r.final["B"] > r.before["B"] + 0.05  # the head did learn


def test_lpft_probes_first_then_fine_tunes(small_pair):
    r = finetune(task=small_pair, method=M.LPFT(lp_epochs=1, ft_lr_scale=0.5), epochs=1, eval_every=1)
    assert [h["phase"] for h in r.history] == ["pretrained", "linear probe", "fine-tune"]
    assert r.history[1]["A_head"] == r.before["A_head"]  # the probe phase cannot move the backbone
    assert r.history[2]["A_head"] != r.before["A_head"]
    probe_end = r.history[1]
    assert r.context.training.probed_head is not None and probe_end["phase"] == "linear probe"  # the runner kept the probe


def test_dropout_only_in_training():
    d = M.Dropout(0.5)
    ctx = type("C", (), {"rng": tf.random.Generator.from_seed(0)})()
    f = tf.ones((64, 32))
    assert np.array_equal(d.transform_features(ctx, f, training=False).numpy(), f.numpy())
    out = d.transform_features(ctx, f, training=True).numpy()
    assert 0.35 < (out == 0).mean() < 0.65 and set(np.unique(out)) <= {0.0, 2.0}


def test_augment_shifts_and_keeps_range():
    from utils.methods.augment import translate_and_noise

    x = np.zeros((50, 8, 8, 1), np.float32)
    x[:, 3:5, 3:5] = 1.0
    out = translate_and_noise(tf.constant(x), 1, 0.0, tf.random.Generator.from_seed(0)).numpy()
    assert out.sum(axis=(1, 2, 3)).tolist() == [4.0] * 50  # integer shifts keep the blob inside
    assert (out != x).any(axis=(1, 2, 3)).sum() > 20
    noisy = translate_and_noise(tf.constant(x), 0, 0.1, tf.random.Generator.from_seed(0)).numpy()
    assert noisy.min() >= 0 and noisy.max() <= 1 and not np.array_equal(noisy, x)


def test_weight_decay_penalty_values(small_pair):
    ctx = _ctx(small_pair)
    kernels = [v for v in ctx.backbone_variables + ctx.head.trainable_variables if v.shape.rank >= 2]
    l1 = sum(np.abs(v.numpy()).sum() for v in kernels)
    l2 = sum((v.numpy() ** 2).sum() for v in kernels)
    assert float(M.WeightDecay(l1=0.1, l2=0.0).penalty(ctx, None, None, None)) == pytest.approx(0.1 * l1, rel=1e-4)
    assert float(M.WeightDecay(l1=0.0, l2=0.1).penalty(ctx, None, None, None)) == pytest.approx(0.05 * l2, rel=1e-4)


def test_early_stopping_holds_out_validation_and_restores_the_best(small_pair):
    es = M.EarlyStopping(patience=1, validation_fraction=0.2)
    r = finetune(task=small_pair, method=es, epochs=3, learning_rate=0.05, eval_every=1)
    info = r.reports[0]
    vals = [h["B_val"] for h in r.history[1:]]
    assert info["best_B_val"] == max(vals) and info["best_epoch"] == 1 + int(np.argmax(vals))
    assert len(r.context.train_y) == len(small_pair[1].y_train) - len(es.y_val)
    assert es.validation_accuracy(r.context) == info["best_B_val"]  # best weights restored


class _Weights(M.Method):
    """A helper (no key: not registered) that keeps the backbone's weights after every epoch."""

    def setup(self, ctx):
        self.seen = {}

    def after_epoch(self, ctx, epoch, metrics):
        self.seen[epoch] = [v.numpy() for v in ctx.backbone_variables]
        return False


def test_early_stopping_stops_after_patience_epochs_and_restores_the_best_epoch(small_pair, monkeypatch):
    es, weights = M.EarlyStopping(patience=2), _Weights()
    scripted = iter([0.50, 0.70, 0.60, 0.65, 0.99])  # validation accuracy: best at epoch 2, then 2 epochs without gain
    monkeypatch.setattr(es, "validation_accuracy", lambda ctx: next(scripted))
    r = finetune(task=small_pair, method=[es, weights], epochs=8, eval_every=1)
    assert [h["epoch"] for h in r.history] == [0, 1, 2, 3, 4]  # stopped after epoch 4, not 8
    assert r.reports[0] == {"best_epoch": 2, "stopped_epoch": 4, "best_B_val": 0.70, "best_step": 2 * r.steps // 4}
    for v, w in zip(r.context.backbone_variables, weights.seen[2]):
        np.testing.assert_array_equal(v.numpy(), w)  # the best epoch's weights are put back
    assert any(not np.array_equal(a, b) for a, b in zip(weights.seen[2], weights.seen[4]))
    assert [row.steps for row in r.rows()] == [r.steps // 2]  # reported with the steps behind the weights it kept


def test_lwf_needs_the_old_head_and_is_zero_before_training(small_pair):
    ctx = _ctx(small_pair)
    lwf = M.LwF(1.0, temperature=2.0)
    lwf.setup(ctx)
    x = ctx.train_x[:8]
    assert float(lwf.penalty(ctx, x, ctx.backbone(x), None)) == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError, match="task-A head"):
        lwf.setup(replace(ctx, old_head=None))


def test_build_by_name_and_bad_options():
    assert isinstance(M.build("ewc", strength=3), M.EWC)
    with pytest.raises(ValueError, match="did you mean 'lwf'"):
        M.build("lfw")
    with pytest.raises(ValueError, match="has no option 'lambda'; its options: strength, samples"):
        M.build("ewc", **{"lambda": 1})
    with pytest.raises(ValueError, match="at most one method may define training phases"):
        M.as_list([M.FrozenBackbone(), M.LPFT()])
    with pytest.raises(ValueError, match="fraction"):
        M.Rehearsal(1.0)
    assert M.label([M.Rehearsal(0.1), M.EWC(0.3)]) == "rehearsal(10%)+ewc(λ=0.3)"


def test_lwf_paper_warms_up_the_new_head_then_trains_the_old_head_too(small_pair):
    m = suites.lwf_paper()
    r = finetune(task=small_pair, method=m, epochs=1, eval_every=1)
    assert [h["phase"] for h in r.history] == ["pretrained"] + ["warm-up"] * 5 + ["fine-tune"]
    assert r.history[5]["A_head"] == r.before["A_head"]  # warm-up: backbone and old head frozen
    reference = models.load_head("digits-convnet")
    assert not np.array_equal(r.context.old_head.kernel.numpy(), reference.kernel.numpy())  # the old head trained
    assert np.array_equal(m.reference_head.kernel.numpy(), reference.kernel.numpy())  # its targets did not move


def test_lwf_scale_t_squared_is_the_only_difference_in_the_penalty(small_pair):
    ctx = _ctx(small_pair)
    ours, paper_scale = M.LwF(1.0, 2.0), M.LwF(1.0, 2.0, t_squared=False)
    ours.setup(ctx)
    paper_scale.setup(ctx)
    _shift(ctx, 1.0, [np.full(w.shape, 0.01, np.float32) for w in ctx.initial])
    x = ctx.train_x[:16]
    features = ctx.backbone(x)
    assert float(ours.penalty(ctx, x, features, None)) == pytest.approx(4 * float(paper_scale.penalty(ctx, x, features, None)))


def test_decoupled_weight_decay_shrinks_each_kernel_by_rate_times_decay(small_pair):
    ctx = _ctx(small_pair)
    wd = M.WeightDecay(l2=0.5, decoupled=True)

    class Optimizer:
        learning_rate = 0.1

    ctx.training.optimizer = Optimizer()
    assert wd.penalty(ctx, None, None, None) is None  # no loss term: AdamW's rule, not an L2 penalty
    before = {v.ref(): v.numpy() for v in ctx.backbone_variables}
    wd.after_apply(ctx)
    for v in ctx.backbone_variables:
        factor = 1 - 0.1 * 0.5 if v.shape.rank >= 2 else 1.0  # kernels only
        np.testing.assert_allclose(v.numpy(), factor * before[v.ref()], rtol=1e-6)
    with pytest.raises(ValueError, match="l1=0"):
        M.WeightDecay(l1=1e-3, decoupled=True)


def test_wiseft_head_tuned_keeps_the_fine_tuned_head_after_lpft(small_pair):
    auto_methods = [M.LPFT(lp_epochs=1), M.WiSEFT(0.0, sweep=(0.0,))]
    auto = finetune(task=small_pair, method=auto_methods, epochs=1, seed=0)
    tuned = finetune(task=small_pair, method=[M.LPFT(lp_epochs=1), M.WiSEFT(0.0, sweep=(0.0,), head="tuned")], epochs=1, seed=0)
    probe = auto.context.training.probed_head
    np.testing.assert_array_equal(auto.context.head.weights[0].numpy(), probe[0])  # alpha = 0: the probed head
    assert not np.array_equal(tuned.context.head.weights[0].numpy(), probe[0])  # backbone-only: the tuned head
    assert auto.final["A_head"] == tuned.final["A_head"] == auto.before["A_head"]  # both backbones at theta0
    control = auto.reports[1]["backbone_only"]  # the control dial, evaluated in the same run
    assert control[0.0] == tuned.final and "backbone_only" not in tuned.reports[1]
    rows = {M.run_id(row.methods): row.metrics for row in auto.rows()}
    assert rows[M.run_id([M.LPFT(lp_epochs=1), M.WiSEFT(0.0, head="tuned")])] == tuned.final


def test_lpft_control_fine_tunes_at_lpft_s_reduced_rate_without_the_probe(small_pair):
    lpft = finetune(task=small_pair, method=M.LPFT(lp_epochs=1), epochs=1, eval_every=0)
    entry = suites.lpft_control()
    control = finetune(task=small_pair, method=entry["method"], epochs=1, eval_every=0,
                       learning_rate=entry["learning_rate"])
    fine_tune = lpft.config["phases"][-1]
    assert [p["train"] for p in lpft.config["phases"]] == ["head", "all"]
    assert [p["train"] for p in control.config["phases"]] == ["all"]  # no probe phase: a random head
    rate = control.config["learning_rate"] * control.config["phases"][0]["lr_scale"]
    assert rate == pytest.approx(lpft.config["learning_rate"] * fine_tune["lr_scale"])  # the same fine-tuning rate
    assert control.config["learning_rate"] < PROTOCOL.learning_rate and control.id == "full"


def test_the_fisher_cache_is_keyed_by_weights_and_data_and_keeps_the_newest():
    from utils.methods.ewc import FisherCache

    cache, calls = FisherCache(size=2), []
    w, x, y = [np.ones((2, 2), np.float32)], np.zeros((3, 4), np.float32), np.arange(3)
    key = cache.key(w, x, y)
    assert cache.key([w[0] + 1e-7], x, y) != key and cache.key(w, x, y[::-1]) != key  # any byte changes the key
    for k in (key, key, "b", "c", key):
        cache.get(k, lambda k=k: calls.append(k) or k)
    assert calls == [key, "b", "c", key]  # computed once while kept; evicted once two newer ones came
    assert list(cache.entries) == ["c", key]
