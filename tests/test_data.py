import numpy as np
import pytest

from utils import image_data, tasks


def test_digits_split_is_fixed_stratified_and_disjoint():
    a = image_data.digits()
    assert a.x_train.shape[1:] == (8, 8, 1) and len(a.x_train) + len(a.x_val) + len(a.x_test) == 1797
    assert abs(len(a.x_test) / 1797 - 0.3) < 0.002
    assert abs(len(a.x_val) / (len(a.x_train) + len(a.x_val)) - image_data.VAL_FRACTION) < 0.005
    assert a.x_train.dtype == np.float32 and 0 <= a.x_train.min() and a.x_train.max() <= 1
    # stratified: every class keeps ~30% in test and ~15% of the rest in validation
    for c in range(10):
        n_test, n_val, n_train = (np.sum(y == c) for y in (a.y_test, a.y_val, a.y_train))
        assert abs(n_test / (n_test + n_val + n_train) - 0.3) < 0.02
        assert abs(n_val / (n_val + n_train) - image_data.VAL_FRACTION) < 0.02
    # disjoint: no test or validation image is also a training image
    train = {x.tobytes() for x in a.x_train}
    for held_out in (a.x_test, a.x_val):
        assert sum(x.tobytes() in train for x in held_out) <= 2  # the raw data has a couple of exact duplicate images
    b = image_data.digits()
    assert np.array_equal(a.x_train, b.x_train) and np.array_equal(a.y_test, b.y_test) and np.array_equal(a.x_val, b.x_val)


def test_train_val_test_indices_partition_the_data():
    y = np.repeat(np.arange(10), 50)
    train, val, test = image_data.train_val_test_split(y)
    assert sorted(np.concatenate([train, val, test]).tolist()) == list(range(500))
    assert len(test) == 150 and len(val) == round(0.15 * 35) * 10


def test_permutation_is_fixed_and_is_a_permutation():
    p = image_data.pixel_permutation()
    assert sorted(p) == list(range(64))
    assert np.array_equal(p, image_data.pixel_permutation())
    a, b = image_data.task_pair("permute")
    assert np.array_equal(b.y_train, a.y_train)
    flat_a, flat_b = a.x_train.reshape(len(a.x_train), 64), b.x_train.reshape(len(b.x_train), 64)
    assert np.array_equal(flat_b, flat_a[:, p])
    assert np.array_equal(b.x_val.reshape(len(b.x_val), 64), a.x_val.reshape(len(a.x_val), 64)[:, p])


def test_rot90_and_split():
    a, b = image_data.task_pair("rot90")
    assert np.array_equal(b.x_test[0, :, :, 0], np.rot90(a.x_test[0, :, :, 0]))
    a, b = image_data.task_pair("split")
    assert a.num_classes == b.num_classes == 5
    assert set(np.unique(a.y_train)) == set(range(5)) == set(np.unique(b.y_train))
    full = image_data.digits()
    assert len(a.y_train) + len(b.y_train) == len(full.y_train)


def test_subset_keeps_every_class_and_the_fraction():
    a = image_data.digits()
    s = a.subset(0.05)
    assert set(np.unique(s.y_train)) == set(range(10))
    assert abs(len(s.y_train) - 0.05 * len(a.y_train)) <= 10
    assert s.x_test is a.x_test and s.x_val is a.x_val
    with pytest.raises(ValueError, match="fraction"):
        a.subset(0)


def test_unknown_task_names_the_choices():
    with pytest.raises(ValueError, match="permute, rot90, split"):
        image_data.task_pair("rotate")


def test_row_lengths_count_up_to_the_last_real_id():
    x = np.array([[5, 6, 0, 0], [5, 0, 7, 0], [0, 0, 0, 0], [1, 2, 3, 4]])
    assert tasks.row_lengths(x, pad=0).tolist() == [2, 3, 0, 4]


def test_length_batches_group_similar_lengths_and_keep_every_row_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 26, 300)
    order = rng.permutation(300)
    out = tasks.length_batches(order, lengths, batch_size=32, rng=np.random.default_rng(1), group=4)
    assert sorted(out.tolist()) == list(range(300))  # a rearrangement: each row once
    # the last, partial batch (300 = 9 * 32 + 12) stays last and comes from the last group
    assert set(out[288:].tolist()) <= set(order[256:].tolist())
    longest = [lengths[out[i : i + 32]].max() for i in range(0, 288, 32)]
    shuffled = [lengths[order[i : i + 32]].max() for i in range(0, 288, 32)]
    assert np.mean(longest) < np.mean(shuffled) - 3  # less padding: what bucketing is for
    # batches are shuffled, not sorted: the shortest batch is not always first
    starts = [int(lengths[tasks.length_batches(order, lengths, 32, np.random.default_rng(s), 4)[:32]].max())
              for s in range(8)]
    assert len(set(starts)) > 1


def test_bucket_without_pad_is_refused():
    task = image_data.digits()
    bad = tasks.Task("ids", task.x_train, task.y_train, task.x_test, task.y_test, 10, bucket=True)
    with pytest.raises(tasks.InvalidDataError, match="set pad too"):
        tasks.validate(bad)
