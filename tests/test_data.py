import numpy as np
import pytest

from utils import data


def test_digits_split_is_fixed_stratified_and_disjoint():
    a = data.digits()
    assert a.x_train.shape[1:] == (8, 8, 1) and len(a.x_train) + len(a.x_test) == 1797
    assert abs(len(a.x_test) / 1797 - 0.3) < 0.002
    assert a.x_train.dtype == np.float32 and 0 <= a.x_train.min() and a.x_train.max() <= 1
    # stratified: every class keeps ~30% in test
    for c in range(10):
        n_test, n_all = np.sum(a.y_test == c), np.sum(a.y_test == c) + np.sum(a.y_train == c)
        assert abs(n_test / n_all - 0.3) < 0.02
    # disjoint: no test image is also a training image
    train = {x.tobytes() for x in a.x_train}
    assert sum(x.tobytes() in train for x in a.x_test) <= 2  # the raw data has a couple of exact duplicate images
    b = data.digits()
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test)


def test_permutation_is_fixed_and_is_a_permutation():
    p = data.pixel_permutation()
    assert sorted(p) == list(range(64))
    assert np.array_equal(p, data.pixel_permutation())
    a, b = data.task_pair("permute")
    assert np.array_equal(b.y_train, a.y_train)
    flat_a, flat_b = a.x_train.reshape(len(a.x_train), 64), b.x_train.reshape(len(b.x_train), 64)
    assert np.array_equal(flat_b, flat_a[:, p])


def test_rot90_and_split():
    a, b = data.task_pair("rot90")
    assert np.array_equal(b.x_test[0, :, :, 0], np.rot90(a.x_test[0, :, :, 0]))
    a, b = data.task_pair("split")
    assert a.num_classes == b.num_classes == 5
    assert set(np.unique(a.y_train)) == set(range(5)) == set(np.unique(b.y_train))
    full = data.digits()
    assert len(a.y_train) + len(b.y_train) == len(full.y_train)


def test_subset_keeps_every_class_and_the_fraction():
    a = data.digits()
    s = a.subset(0.05)
    assert set(np.unique(s.y_train)) == set(range(10))
    assert abs(len(s.y_train) - 0.05 * len(a.y_train)) <= 10
    assert s.x_test is a.x_test
    with pytest.raises(ValueError, match="fraction"):
        a.subset(0)


def test_unknown_task_names_the_choices():
    with pytest.raises(ValueError, match="permute, rot90, split"):
        data.task_pair("rotate")
