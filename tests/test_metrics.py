import numpy as np
import pytest

from utils import metrics


def test_accuracy_forgetting_retention():
    logits = np.array([[2.0, 1.0], [0.0, 3.0], [1.0, 0.0], [0.0, 1.0]])
    assert metrics.accuracy(logits, [0, 1, 1, 1]) == 0.75
    assert metrics.forgetting(0.98, 0.40) == pytest.approx(0.58)
    assert metrics.retention(0.98, 0.49) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        metrics.retention(0.0, 0.5)
    with pytest.raises(ValueError, match=r"\[N, C\]"):
        metrics.accuracy(np.zeros(3), [0, 1, 2])


def test_linear_probe_separates_separable_data_and_fails_on_noise():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    centers = rng.normal(0, 5, (3, 16))
    x = centers[y] + rng.normal(0, 1, (600, 16))
    assert metrics.linear_probe_accuracy(x[:400], y[:400], x[400:], y[400:]) > 0.95
    noise = rng.normal(0, 1, (600, 16))
    assert metrics.linear_probe_accuracy(noise[:400], y[:400], noise[400:], y[400:]) < 0.5


def test_mean_std():
    assert metrics.mean_std([1, 2, 3]) == {"mean": 2.0, "std": pytest.approx(1.0), "n": 3, "values": [1.0, 2.0, 3.0]}
    assert metrics.mean_std([0.5])["std"] == 0.0


def test_spearman_gives_tied_scores_their_average_rank():
    scores = np.array([0, 0, 1, 1, 2, 2], float)
    assert metrics.spearman(scores, scores) == pytest.approx(1.0)
    assert metrics.spearman(np.array([1, 2, 3, 4, 5, 6.0]), scores) == pytest.approx(0.956, abs=1e-3)


def test_mean_reciprocal_rank_counts_distractors_and_rivals_of_the_same_topic_only():
    from utils.text_data import mean_reciprocal_rank

    e = np.eye(4)
    a, b = e[:2], e[:2] + 0.1 * e[2]          # each a is nearest its own b
    topics = ["x", "y"]
    assert mean_reciprocal_rank(a, b, topics, e[3:4], ["x"]) == pytest.approx(1.0)
    assert mean_reciprocal_rank(a, b, topics, e[0:1], ["x"]) == pytest.approx((1 / 2 + 1) / 2)  # beats a's own b
    assert mean_reciprocal_rank(a, b, topics, e[0:1], ["z"]) == pytest.approx(1.0)  # another topic: no rival
    swapped = b[::-1]                          # a's own b is now the other sentence
    assert mean_reciprocal_rank(a, swapped, ["x", "x"], e[3:4], ["x"]) == pytest.approx(1 / 2)


def test_logistic_probe_chooses_its_penalty_on_validation_and_reports_test():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(4, 16)) * 1.5

    def draw(n):
        y = np.repeat(np.arange(4), n)
        return centres[y] + rng.normal(size=(4 * n, 16)), y

    (x, y), (xv, yv), (xt, yt) = draw(40), draw(15), draw(25)
    probe = metrics.logistic_probe(x, y, xv, yv, xt, yt)
    assert probe["C"] in (0.01, 0.1, 1.0, 10.0, 100.0) and probe["test"] >= 0.9 and probe["val"] >= 0.85
    noise = metrics.logistic_probe(rng.normal(size=(160, 16)), y, xv, yv, xt, yt)  # features that carry no label
    assert noise["test"] <= 0.45


def test_exact_match_needs_every_scored_position_right():
    logits = np.zeros((2, 3, 4))
    logits[0, [0, 1, 2], [1, 2, 3]] = 1  # row 0 predicts 1, 2, 3
    logits[1, [0, 1, 2], [1, 0, 3]] = 1  # row 1 gets its second token wrong
    targets = np.array([[1, 2, -1], [1, 2, 3]])  # -1: not scored
    assert metrics.exact_match(logits, targets) == 0.5
    assert metrics.exact_match(logits, np.array([[1, 2, 3], [1, -1, 3]])) == 1.0
    with pytest.raises(ValueError, match="logits must be"):
        metrics.exact_match(logits[0], targets)
