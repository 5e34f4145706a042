"""On-policy fine-tuning and preference tuning through the one runner: the KV-cached sampler, GRPO's advantages,
per-example loss weights, the DPO loss and its task kind, and a round of rejection-sampling fine-tuning."""

from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf

from utils import lm_data, lm_experiments, lm_model, models, on_policy
from utils import methods as M
from utils.methods.dpo import dpo_loss, sequence_logprob


@pytest.fixture(scope="module")
def chat():
    return models.load("byte-lm-chat")


@pytest.fixture(scope="module")
def bench():
    return lm_data.CapabilitySuite(skills=("camel", "snake"), general_bytes=256, examples=8)


def test_the_cached_sampler_writes_what_the_windowed_one_writes(chat):
    prompts = lm_data.skill("snake").prompts["test"][:6]
    for k, temperature in ((3, 1.0), (1, 0.0)):
        cached = lm_data.sample_ids(chat, prompts, k=k, temperature=temperature, seed=3)
        np.testing.assert_array_equal(lm_data.sample_ids(chat, prompts, k=k, temperature=temperature, seed=3,
                                                         cache=False), cached)
    again = models.load("byte-lm-chat")  # another layer of the same architecture: the same compiled decoder
    np.testing.assert_array_equal(lm_data.sample_ids(again, prompts, k=3, seed=3),
                                  lm_data.sample_ids(chat, prompts, k=3, seed=3))


def test_the_cache_is_checked_against_the_model_before_it_is_trusted(chat):
    right, wrong = lm_model.cached_step(chat), lm_model.cached_step(chat, heads=2)  # the model has 4 heads
    assert lm_data._cache_agrees(chat, *right[:3]) and not lm_data._cache_agrees(chat, *wrong[:3])
    assert lm_model.cached_step(models.load("digits-convnet")) is None  # another architecture: the windowed form


def test_group_advantages_are_normalised_within_each_prompts_group():
    rewards = np.array([[1, 0, 0, 1], [1, 1, 1, 1], [0, 0, 0, 1]], np.float32)
    a = on_policy.group_advantages(rewards)
    np.testing.assert_allclose(a[0], [1, -1, -1, 1], atol=1e-5)  # mean 0.5, std 0.5
    np.testing.assert_array_equal(a[1], 0)  # every sample alike: nothing to learn from the group
    np.testing.assert_allclose(a[2], (rewards[2] - 0.25) / np.sqrt(0.1875), atol=1e-5)
    np.testing.assert_allclose(a[[0, 2]].mean(1), 0, atol=1e-6)
    np.testing.assert_allclose(a[[0, 2]].std(1), 1, atol=1e-4)


def test_dpo_loss_matches_a_hand_computation():
    labels = tf.constant([[-1, 1, 2], [-1, 0, -1]])  # two rows: the second scores one token
    logits = tf.constant(np.random.default_rng(0).normal(size=(2, 3, 4)), tf.float32)
    logp = np.log(tf.nn.softmax(logits).numpy())
    by_hand = [logp[0, 1, 1] + logp[0, 2, 2], logp[1, 1, 0]]
    np.testing.assert_allclose(sequence_logprob(labels, logits).numpy(), by_hand, rtol=1e-5)
    policy, ref = np.array([-2.0, -5.0, -1.0, -1.5]), np.array([-3.0, -4.0, -1.0, -1.0])  # pairs (0, 1), (2, 3)
    h = 0.5 * np.array([(-2 + 3) - (-5 + 4), (-1 + 1) - (-1.5 + 1)])
    np.testing.assert_allclose(dpo_loss(policy, ref, 0.5).numpy(), -np.log(1 / (1 + np.exp(-h))), rtol=1e-6)
    assert float(dpo_loss(ref, ref, 0.5)[0]) == pytest.approx(np.log(2))  # at the reference: log 2 per pair


def test_example_weights_scale_each_examples_loss_and_zero_teaches_nothing(bench):
    snake = lm_data.skill_task("snake", train=32)
    x, y = snake.x_train, snake.y_train

    def answer_logp(run):
        return float(np.mean(sequence_logprob(y, run.context.features(x)).numpy()))

    runs = {w: lm_experiments.sft(replace(snake, weights=np.full(32, w, np.float32)), bench=bench, epochs=1,
                                  learning_rate=1e-3, seed=0) for w in (0.0, 1.0, -1.0)}
    start = [w.numpy() for w in runs[0.0].context.initial]
    for v, w0 in zip(runs[0.0].context.backbone_variables, start):
        np.testing.assert_array_equal(v.numpy(), w0)  # weight 0: no gradient, Adam moves nothing
    chat_logp = float(np.mean(sequence_logprob(y, models.load("byte-lm-chat")(x)).numpy()))
    assert answer_logp(runs[1.0]) > chat_logp + 1.0 > chat_logp - 1.0 > answer_logp(runs[-1.0])  # up, and down
    with pytest.raises(ValueError, match="weights"):
        lm_experiments.sft(replace(snake, weights=np.ones(31, np.float32)), bench=bench, epochs=1)


def test_dpo_needs_pairs_and_pairs_need_dpo(chat, bench):
    snake = lm_data.skill_task("snake", train=32)
    with pytest.raises(ValueError, match="preference pairs"):
        lm_experiments.sft(snake, bench=bench, method=M.DPO(0.1), epochs=1)
    pairs = replace(snake, kind="preference", name="pairs:snake")
    with pytest.raises(ValueError, match="DPO"):
        lm_experiments.sft(pairs, bench=bench, epochs=1)
    with pytest.raises(ValueError, match="beta > 0"):
        M.DPO(0.0)


def test_dpo_raises_the_margin_over_the_reference_on_its_pairs(chat, bench):
    pairs = on_policy.preference_task(chat, "snake", train=32, k=2)
    assert pairs.kind == "preference" and len(pairs.x_train) % 2 == 0 and len(pairs.x_train) >= 32
    scored = [row[row >= 0] for row in pairs.y_train]  # each row's answer bytes, then EOS
    answers = [bytes(row[:-1].astype(np.uint8)).decode("utf-8", "replace") for row in scored]
    right = set(lm_data.skill("snake", 32).answers["train"])
    assert all(a in right for a in answers[0::2]) and not any(a in right for a in answers[1::2])
    run = lm_experiments.sft(pairs, bench=bench, method=M.DPO(0.5), epochs=2, learning_rate=1e-3, seed=0)
    report = run.reports[0]
    assert report["margin"] > 0.5 and report["ranked_right"] >= 0.9  # the objective: the margin over the reference
    assert report["rejected_logp_change"] < report["chosen_logp_change"]


def test_a_round_of_rejection_sampling_trains_on_the_right_samples_only(chat, bench):
    rows = on_policy.on_policy("byte-lm-chat", "camel", "rft", rounds=1, k=2, train=16, bench=bench,
                               learning_rate=1e-4, seed=0, max_new=24)
    r = rows[0]
    prompts, answers = (lm_data.skill("camel", 16).prompts["train"], lm_data.skill("camel", 16).answers["train"])
    same = models.load("byte-lm-chat")  # the same samples from the untouched model: seed 0, round 1
    sampled = lm_data.decode_answers(lm_data.sample_ids(same, prompts, 2, 1.0, seed=0, max_new=24))
    right = on_policy.exact_reward(sampled, np.repeat(answers, 2))
    assert r["reward"] == pytest.approx(right.mean()) and r["trained"] == int(right.sum()) > 0
    assert {"B", "capabilities", "sample_seconds", "train_seconds"} <= set(r)
    with pytest.raises(ValueError, match="'rft' or 'grpo'"):
        on_policy.on_policy(chat, "camel", "ppo", rounds=1)


def test_a_path_is_read_where_it_first_reaches_a_skill():
    path = [(0.4, 0.8), (0.6, 0.7), (0.6, 0.6), (0.8, 0.4)]
    assert on_policy.at_matched_skill(path, 0.5) == pytest.approx(0.75)
    assert on_policy.at_matched_skill(path, 0.6) == pytest.approx(0.7)  # first reached, not after the plateau
    assert on_policy.at_matched_skill(path, 0.7) == pytest.approx(0.5)
    assert on_policy.at_matched_skill(path, 0.9) is None and on_policy.at_matched_skill(path, 0.4) == 0.8
