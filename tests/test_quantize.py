"""NF4 block-wise quantization (utils.quantize): the paper's levels, and the round trip's error bounds."""

import numpy as np
import pytest

from utils import quantize as Q

# bitsandbytes' NF4 table (bitsandbytes/functional.py, get_4bit_type("nf4")), which QLoRA's code uses.
BITSANDBYTES_NF4 = [-1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635,
                    -0.18477343022823334, -0.09105003625154495, 0.0, 0.07958029955625534, 0.16093020141124725,
                    0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
                    0.7229568362236023, 1.0]


def test_the_16_levels_are_the_papers_normal_quantiles_with_an_exact_zero():
    from scipy.stats import norm

    levels = Q.nf4_levels()
    assert levels.shape == (16,) and np.all(np.diff(levels) > 0)
    np.testing.assert_allclose(levels, BITSANDBYTES_NF4, atol=1e-6)
    assert levels[0] == -1.0 and levels[-1] == 1.0 and 0.0 in levels
    assert (levels > 0).sum() == 8 and (levels < 0).sum() == 7  # asymmetric: one more positive level
    # each positive level is a quantile of N(0, 1), scaled so the outermost one is 1
    scale = norm.ppf(Q.OFFSET)
    np.testing.assert_allclose(norm.cdf(levels[levels > 0] * scale), np.linspace(Q.OFFSET, 0.5, 9)[:-1][::-1], atol=1e-6)


@pytest.mark.parametrize("shape", [(64,), (8, 24), (3, 5, 7)])  # whole blocks, a ragged last block
def test_round_trip_error_is_at_most_half_the_widest_gap_times_the_block_absmax(shape):
    w = np.random.default_rng(0).normal(0, 0.02, shape).astype(np.float32)
    q = Q.quantize(w)
    back = Q.dequantize(q)
    assert back.shape == w.shape and back.dtype == np.float32 and q.codes.max() < 16
    blocks = Q._blocks(w, Q.BLOCK)
    bound = np.repeat(np.abs(blocks).max(1), Q.BLOCK)[: w.size] * np.diff(Q.LEVELS).max() / 2
    assert np.all(np.abs(back - w).ravel() <= bound + 1e-7)
    # the value of largest magnitude in each block, and zeros, come back exactly
    w[0] = 0.0
    back = Q.round_trip(w)
    assert back.ravel()[0] == 0.0
    i = np.argmax(np.abs(w.ravel()[: Q.BLOCK]))
    assert back.ravel()[i] == w.ravel()[i]


def test_each_value_gets_the_nearest_level():
    w = np.random.default_rng(1).normal(0, 1, 4 * Q.BLOCK).astype(np.float32)
    back = Q.round_trip(w).reshape(-1, Q.BLOCK)
    blocks = w.reshape(-1, Q.BLOCK)
    candidates = Q.LEVELS[None, None, :] * np.abs(blocks).max(1)[:, None, None]
    best = np.abs(candidates - blocks[..., None]).min(-1)
    np.testing.assert_allclose(np.abs(back - blocks), best, atol=1e-6)


def test_nf4_beats_evenly_spaced_4_bit_levels_on_normal_weights():
    """What the normal quantiles are for: on normally distributed weights, a lower error than 16 evenly spaced levels."""
    w = np.random.default_rng(2).normal(0, 1, 64 * 1024).astype(np.float32)
    blocks = w.reshape(-1, Q.BLOCK)
    absmax = np.abs(blocks).max(1, keepdims=True)
    even = (np.round((blocks / absmax + 1) * 7.5) / 7.5 - 1) * absmax  # the nearest of 16 evenly spaced levels on [-1, 1]
    nf4 = Q.round_trip(w).reshape(-1, Q.BLOCK)
    assert np.mean((nf4 - blocks) ** 2) < np.mean((even - blocks) ** 2)


def test_double_quantization_keeps_the_constants_close_and_costs_fewer_bits():
    w = np.random.default_rng(3).normal(0, 0.02, 300 * Q.BLOCK).astype(np.float32)  # 300 constants: a ragged block
    plain, double = Q.quantize(w), Q.quantize(w, double=True)
    assert double.absmax is None and double.absmax_codes.dtype == np.int8
    # each constant within half an 8-bit step of its block of 256
    step = np.repeat(double.absmax_scales, Q.DOUBLE_BLOCK)[: len(plain.absmax)] / 127
    assert np.all(np.abs(double.constants - plain.absmax) <= step / 2 + 1e-7)
    assert np.abs(Q.dequantize(double) - Q.dequantize(plain)).max() <= step.max() / 2 + 1e-7
    assert Q.bits_per_parameter() == 4.5
    assert Q.bits_per_parameter(double=True) == pytest.approx(4.127, abs=1e-3)  # the paper's 0.127 bits of constants


def test_non_finite_weights_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="NaN or inf"):
        Q.quantize(np.array([1.0, np.nan]))


def test_a_models_block_matrices_are_quantized_in_place_and_the_rest_kept():
    import tensorflow as tf

    rng = np.random.default_rng(4)
    names = {"attn1/qkv/kernel": (16, 48), "attn1/qkv/bias": (48,), "logits/kernel": (16, 260), "embed/embeddings": (260, 16)}
    variables = [tf.Variable(rng.normal(0, 0.02, s).astype(np.float32), name=n) for n, s in names.items()]
    before = [v.numpy() for v in variables]
    report = Q.quantize_variables(variables)
    np.testing.assert_array_equal(variables[0].numpy(), Q.round_trip(before[0]))
    for v, w in zip(variables[1:], before[1:]):
        np.testing.assert_array_equal(v.numpy(), w)  # bias, output layer and embeddings stay in full precision
    assert report["quantized"] == 16 * 48 and report["kept"] == 48 + 2 * 16 * 260
    total = report["quantized"] + report["kept"]
    assert report["bits_per_parameter"] == pytest.approx((16 * 48 * 4.5 + report["kept"] * 32) / total)
    assert 0 < report["relative_error"] < 0.15
