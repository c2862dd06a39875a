"""The explicit vector operations give exactly the numbers of the scalar
loops they replace (same operations, same order), at any offset up to the
arrays' last four elements."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from ase_dipole.descriptors.simd import (LANES, add_scaled4, add_scaled8, add_scaled_with_rate4,
                                         add_scaled_with_rate8, contract_difference, contract_own,
                                         contract_sum)


@njit(cache=False)
def _add_scaled(lanes, out, o, x, i, scale):
    if lanes == 4:
        add_scaled4(out, o, x, i, scale)
    else:
        add_scaled8(out, o, x, i, scale)


@njit(cache=False)
def _add_scaled_with_rate(lanes, out, rate, o, g, dg, i, scale, rate_scale):
    if lanes == 4:
        add_scaled_with_rate4(out, rate, o, g, dg, i, scale, rate_scale)
    else:
        add_scaled_with_rate8(out, rate, o, g, dg, i, scale, rate_scale)


@njit(cache=False)
def _contract(kind, out, out_derivative, o, A, own, other, stride, g, dg, k, count):
    if kind == 0:
        contract_own(out, out_derivative, o, A, own, other, stride, g, dg, k, count)
    elif kind == 1:
        contract_sum(out, out_derivative, o, A, own, other, stride, g, dg, k, count)
    else:
        contract_difference(out, out_derivative, o, A, own, other, stride, g, dg, k, count)


def _random(rng, size):
    return rng.normal(size=size) * 10.0 ** rng.uniform(-3, 3, size=size)


@pytest.mark.parametrize("lanes", [4, 8])
def test_add_scaled_and_the_rate_update_equal_the_scalar_loop_exactly(lanes):
    rng = np.random.default_rng(lanes)
    for o, i in [(0, 0), (3, 7), (20 - lanes, 16 - lanes)]:  # the last: both at the arrays' ends
        out, g, dg = _random(rng, 20), _random(rng, 16), _random(rng, 16)
        rate = _random(rng, 20)
        scale, rate_scale = rng.normal(), rng.normal()
        expected_out, expected_rate = out.copy(), rate.copy()
        for lane in range(lanes):
            expected_out[o + lane] += g[i + lane] * scale
            expected_rate[o + lane] += dg[i + lane] * scale + g[i + lane] * rate_scale
        plain = out.copy()
        _add_scaled(lanes, plain, o, g, i, scale)
        assert np.array_equal(plain, expected_out)
        _add_scaled_with_rate(lanes, out, rate, o, g, dg, i, scale, rate_scale)
        assert np.array_equal(out, expected_out) and np.array_equal(rate, expected_rate)
        untouched = np.ones(20, bool)
        untouched[o:o + lanes] = False
        assert np.array_equal(out[untouched], plain[untouched])


@pytest.mark.parametrize("kind", [0, 1, 2])
def test_radial_contractions_equal_the_scalar_sums_in_order(kind):
    rng = np.random.default_rng(1 + kind)
    count, stride = 7, 12
    A = _random(rng, 200)
    g, dg = _random(rng, 30), _random(rng, 30)
    own, other, k, o = 5, 200 - (count - 1) * stride - LANES, 30 - count, 8
    out, out_derivative = np.full(12, np.nan), np.full(12, np.nan)
    _contract(kind, out, out_derivative, o, A, own, other, stride, g, dg, k, count)
    for lane in range(LANES):
        total = total_derivative = 0.0
        for n in range(count):
            x = A[own + n * stride + lane]
            y = A[other + n * stride + lane]
            x = x if kind == 0 else (x + y if kind == 1 else x - y)
            total += g[k + n] * x
            total_derivative += dg[k + n] * x
        assert out[o + lane] == total and out_derivative[o + lane] == total_derivative
    assert np.isnan(out[:o]).all() and np.isnan(out[o + LANES:]).all()


def test_vector_operations_refuse_arrays_they_cannot_address():
    out = np.zeros(8)
    with pytest.raises(TypingError):
        _add_scaled(4, out, 0, np.zeros(8, dtype=np.float32), 0, 1.0)
    with pytest.raises(TypingError):
        _add_scaled(4, out, 0, np.zeros(16)[::2], 0, 1.0)
    with pytest.raises(TypingError):
        _add_scaled(8, out, 0, np.zeros((2, 4)), 0, 1.0)
