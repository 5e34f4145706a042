"""The runner's language-model task kind: SFT on a skill's answers only, replay, distillation on old text and on
the new inputs, WiSE-FT and merging on one shared output layer (the bundled byte-lm-chat; a few steps each)."""

import numpy as np
import pytest
import tensorflow as tf

from utils import lm_data, lm_experiments, lm_model, merging, models, tasks
from utils import methods as M
from utils.methods.base import example_cross_entropy


@pytest.fixture(scope="module")
def bench():
    return lm_data.CapabilitySuite(skills=("snake", "camel", "facts"), general_bytes=2048, examples=32)


SNAKE = lm_data.skill_task("snake", train=128)  # 4 steps an epoch: enough to learn it and to forget


@pytest.fixture(scope="module")
def plain(bench):
    """Full SFT of byte-lm-chat on "snake", two epochs of 128 prompts: the control of the methods below."""
    return lm_experiments.sft(SNAKE, bench=bench, epochs=2, learning_rate=1e-3)


def test_token_cross_entropy_ignores_unscored_positions():
    logits = tf.constant(np.random.default_rng(0).normal(size=(2, 4, 5)).astype(np.float32))
    labels = tf.constant([[1, -1, 2, -1], [-1, -1, -1, 3]])
    got = example_cross_entropy(labels, logits).numpy()
    full = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=tf.maximum(labels, 0), logits=logits).numpy()
    np.testing.assert_allclose(got, [(full[0, 0] + full[0, 2]) / 2, full[1, 3]], rtol=1e-6)
    classes = example_cross_entropy(tf.constant([1, 0]), logits[:, 0])  # class labels: the classic loss
    np.testing.assert_allclose(classes.numpy(), tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=[1, 0], logits=logits[:, 0]).numpy())


def test_sft_learns_the_answers_and_costs_the_capabilities(bench, plain):
    r = plain
    assert r.model == "byte-lm-chat" and r.before["B"] == 0 and r.before["skill:camel"] >= 0.8
    assert r.final["B"] >= 0.3  # eight steps teach the new skill...
    assert r.final["capabilities"] <= r.before["capabilities"] - 0.2  # ...and cost the chat model its capabilities
    assert r.final["bpb"] > r.before["bpb"] + 0.01  # and general text
    assert r.steps == 8 and set(r.final) >= {"B", "B_val", "bpb", "next_byte", "skill:snake", "capabilities",
                                             "kind:transformation", "kind:knowledge"}


@pytest.mark.parametrize("on", ["old", "new"])
def test_distillation_starts_at_zero_and_keeps_more_of_the_capabilities(bench, plain, on):
    d = M.Distillation(10.0, on=on, windows=4, memory=16)
    r = lm_experiments.sft(SNAKE, bench=bench, method=d, epochs=2, learning_rate=1e-3)
    ctx = r.context
    ctx.set_backbone([w.numpy() for w in ctx.initial])
    x = ctx.train_x[:8]
    assert float(d.penalty(ctx, x, None, ctx.backbone(x))) == pytest.approx(0.0, abs=1e-5)  # the model is its reference
    assert r.final["capabilities"] > plain.final["capabilities"]
    assert d.needs_task_a_data == (on == "old")  # LwF's form needs no old data


def test_distillation_on_old_text_needs_text_as_task_a(bench):
    from utils.train import finetune

    with pytest.raises(ValueError, match="needs text as task A"):
        finetune(model="byte-lm-chat", task=lm_data.skill_task("snake"), method=M.Distillation(on="old"), epochs=1,
                 evaluator=bench.evaluator())


def test_replay_mixes_general_windows_into_the_batch(bench, plain):
    r = lm_experiments.sft(SNAKE, bench=bench, method=M.Rehearsal(0.5), epochs=2, learning_rate=1e-3)
    assert r.config["replay_per_batch"] == 32
    assert r.final["bpb"] - r.before["bpb"] < plain.final["bpb"] - plain.before["bpb"]


def test_a_one_percent_share_is_one_example_weighed_down():
    from utils.train import _train_step

    reh = M.Rehearsal(0.01)
    assert reh.replay_size(32) == 1 and reh.replay_weight(32) == pytest.approx(0.01 * 32 / 0.99)
    assert M.Rehearsal(0.25).replay_weight(32) == 1.0 and M.Rehearsal(0.0).replay_size(32) == 0
    assert "replay_weights" in _train_step.__code__.co_varnames  # the step weighs them (checked below through a run)


def test_the_weight_of_a_replayed_example_scales_its_gradient(bench):
    general = lm_data.general_task()
    task = SNAKE
    moved = {}
    for fraction in (0.01, 0.015):  # one replayed example per batch either way, weighed 0.32 and 0.49
        r = lm_experiments.sft(task, bench=bench, method=M.Rehearsal(fraction), old=general, epochs=1,
                               learning_rate=1e-3, eval_every=0)
        assert r.config["replay_per_batch"] == 1
        moved[fraction] = r.final["bpb"]
    assert moved[0.01] != moved[0.015]  # the weight reaches the loss


def test_one_task_vector_at_scale_one_is_the_fine_tuned_model(bench, plain):
    r = plain
    tuned = [v.numpy() for v in r.context.backbone_variables]
    initial = [w.numpy() for w in r.context.initial]
    same = merging.task_arithmetic(initial, [merging.task_vector(tuned, initial)], 1.0)
    assert lm_experiments.measure_weights(bench, r.context, same, "snake") == pytest.approx(r.final)
    base = lm_experiments.measure_weights(bench, r.context, initial, "snake")
    assert base["bpb"] == pytest.approx(r.before["bpb"], abs=1e-6)
    assert [v.numpy() for v in r.context.backbone_variables][0] == pytest.approx(tuned[0])  # restored afterwards


def test_generate_writes_until_eos():
    def model(x):  # writes "a" while the row is shorter than 4 tokens, then EOS
        length = tf.reduce_sum(tf.cast(x != lm_model.PAD, tf.int32), axis=1, keepdims=True)
        return tf.one_hot(tf.where(length < 4, ord("a"), lm_model.EOS) * tf.ones_like(x), lm_model.VOCAB)

    assert lm_data.generate(model, ["x"], max_new=10) == ["aa"]


def test_batches_are_trimmed_to_their_longest_row_without_changing_the_loss():
    ids = np.array([[5, 6, lm_model.PAD, lm_model.PAD, lm_model.PAD], [7, lm_model.PAD, 8, lm_model.PAD, lm_model.PAD]])
    assert int(tasks.used_length(lm_model.PAD, ids)) == 3  # a pad inside a row is kept: only all-padding columns go
    assert int(tasks.used_length(lm_model.PAD, ids, np.full((1, 5), 9))) == 5  # replayed text has no padding
    task = lm_data.skill_task("sort")
    layer = models.load("byte-lm")
    x, y = task.x_test[:8], task.y_test[:8]
    n = int(tasks.used_length(lm_model.PAD, x))
    assert n < x.shape[1]  # the sort prompts are short: there is padding to drop
    full = example_cross_entropy(y, layer(x)).numpy()
    trimmed = example_cross_entropy(y[:, :n], layer(x[:, :n])).numpy()  # causal: padding after a token changes nothing
    np.testing.assert_allclose(trimmed, full, rtol=1e-5)


def test_a_sequence_continues_from_a_given_first_stage_and_leaves_it_as_it_was(bench, plain):
    weights = [v.numpy() for v in plain.context.backbone_variables]
    given = lm_experiments.sequence(("snake", "camel"), bench, first=plain, epochs=2, learning_rate=1e-3, train=128)
    assert given[0] == {"stage": "snake", **plain.final}
    for v, w in zip(plain.context.backbone_variables, weights):
        np.testing.assert_array_equal(v.numpy(), w)  # the given run's model is put back
    trained = lm_experiments.sequence(("snake", "camel"), bench, epochs=2, learning_rate=1e-3, train=128)  # stage one here
    assert trained[0] == pytest.approx(given[0]) and trained[1] == pytest.approx(given[1], abs=1e-6)
    with pytest.raises(ValueError, match="learning_rate"):
        lm_experiments.sequence(("snake", "camel"), bench, first=plain, epochs=2, learning_rate=3e-3, train=128)
    with pytest.raises(ValueError, match="training"):
        lm_experiments.sequence(("snake", "camel"), bench, method=M.Rehearsal(0.25), first=plain, epochs=2, train=128,
                                learning_rate=1e-3)


def test_a_bucketed_task_trains_on_batches_of_similar_length(bench, monkeypatch):
    from dataclasses import replace

    task = lm_data.skill_task("camel")
    lengths = tasks.row_lengths(task.x_train, lm_model.PAD)
    assert lengths.max() - lengths.min() > 10  # prompts of mixed lengths: bucketing has padding to save
    orders = []
    real = tasks.length_batches
    monkeypatch.setattr(tasks, "length_batches", lambda *a, **k: orders.append((a[0], real(*a, **k))) or orders[-1][1])
    r = lm_experiments.sft(replace(task, bucket=True), bench=bench, epochs=2, learning_rate=1e-3)
    assert len(orders) == 2 and r.steps == 2 * -(-len(task.y_train) // 32)

    def padded(order):  # positions the model runs on in one epoch, batches trimmed to their longest row
        return sum(int(lengths[order[i : i + 32]].max()) * len(order[i : i + 32]) for i in range(0, len(order), 32))

    for shuffled, bucketed in orders:
        assert sorted(bucketed.tolist()) == sorted(shuffled.tolist())
        assert padded(bucketed) < 0.9 * padded(shuffled)


def test_qlora_trains_adapters_on_the_frozen_nf4_base(bench):
    """LoRA(base="nf4"): every block matrix starts from its NF4 round trip (W0), stays W0 + s·A@B, and the report says
    what the 4-bit base holds; the output layer keeps full precision under its adapter."""
    from utils import quantize

    q = M.LoRA(4, base="nf4")
    r = lm_experiments.sft(SNAKE, bench=bench, method=q, epochs=2, learning_rate=3e-3)
    assert q.label == "qlora(r=4)" and q.id == "lora(base=nf4)"
    report = r.reports[0]["nf4_base"]
    initial = {v.name: w.numpy() for v, w in zip(r.context.backbone_variables, r.context.initial)}
    blocks = [v for v in r.context.backbone_variables if quantize.is_block_matrix(v)]
    assert report["quantized"] == sum(int(np.prod(v.shape)) for v in blocks) > 0
    for v, w0, (a, b) in zip(q.kernels, q.w0, q.factors):
        expected = quantize.round_trip(initial[v.name]) if quantize.is_block_matrix(v) else initial[v.name]
        np.testing.assert_array_equal(w0.numpy(), expected)
        np.testing.assert_allclose(v.numpy(), w0.numpy() + q.scale * (a.numpy() @ b.numpy()).reshape(v.shape), atol=1e-6)
    assert r.history[2]["loss"] < r.history[1]["loss"]  # the adapters learn on the 4-bit base
    with pytest.raises(ValueError, match="'full' or 'nf4'"):
        M.LoRA(4, base="int3")
