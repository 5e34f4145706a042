"""Task vectors, task arithmetic and TIES on small arrays whose answers are known."""

import numpy as np
import pytest

from utils import merging


def test_task_arithmetic_adds_vectors():
    w0 = [np.zeros(3), np.ones((2, 2))]
    a = merging.task_vector([np.array([1.0, 0, 0]), np.ones((2, 2)) * 2], w0)
    b = merging.task_vector([np.array([0, 2.0, 0]), np.ones((2, 2))], w0)
    merged = merging.task_arithmetic(w0, [a, b], scale=0.5)
    np.testing.assert_allclose(merged[0], [0.5, 1.0, 0])
    np.testing.assert_allclose(merged[1], np.ones((2, 2)) * 1.5)


def test_ties_trims_elects_and_averages():
    w0 = [np.zeros(4)]
    a = [np.array([1.0, -0.1, 2.0, 0.0])]
    b = [np.array([3.0, 0.2, -1.0, 0.0])]
    # density 0.5: a keeps 1.0 and 2.0; b keeps 3.0 and -1.0. Signs: +, (none), sum 2 - 1 > 0 -> +.
    merged = merging.ties(w0, [a, b], density=0.5)[0]
    np.testing.assert_allclose(merged, [2.0, 0.0, 2.0, 0.0])  # mean of agreeing entries; b's -1.0 is dropped
    assert merging.interference([a, b]) == pytest.approx(2 / 4)  # entries 1 and 2 disagree
    with pytest.raises(ValueError, match="density"):
        merging.ties(w0, [a], density=0)
