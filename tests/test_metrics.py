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
