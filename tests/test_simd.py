"""The explicit vector operations give exactly the numbers of the scalar
loops they replace (same operations, same order), at any offset up to the
arrays' last four elements."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from ase_dipole.descriptors.simd import contract, pair_charge_sums, sum_scaled_rows


@njit(cache=False)
def _sum_scaled_rows(two_rows, out, rate, o, stride, g, dg, row_of, shift, Y, gY, y_of, lm, sign, start,
                     count, width):
    if two_rows:
        sum_scaled_rows(2, True, out, rate, o, stride, g, dg, row_of, shift, Y, gY, y_of, lm, sign, start,
                        count, width)
    else:
        sum_scaled_rows(1, True, out, rate, o, stride, g, dg, row_of, shift, Y, gY, y_of, lm, sign, start,
                        count, width)


@njit(cache=False)
def _sum_scaled_rows_only(two_rows, out, o, stride, g, row_of, shift, Y, y_of, lm, sign, start, count,
                          width):
    unused = np.empty(0)
    if two_rows:
        sum_scaled_rows(2, False, out, unused, o, stride, g, unused, row_of, shift, Y, unused, y_of, lm,
                        sign, start, count, width)
    else:
        sum_scaled_rows(1, False, out, unused, o, stride, g, unused, row_of, shift, Y, unused, y_of, lm,
                        sign, start, count, width)


@njit(cache=False)
def _contract(kind, out, out_derivative, o, A, own, other, stride, g, dg, k, count, width):
    if kind == 0:
        contract(0, out, out_derivative, o, A, own, other, stride, g, dg, k, count, width)
    elif kind == 1:
        contract(1, out, out_derivative, o, A, own, other, stride, g, dg, k, count, width)
    else:
        contract(2, out, out_derivative, o, A, own, other, stride, g, dg, k, count, width)


def _random(rng, size):
    return rng.normal(size=size) * 10.0 ** rng.uniform(-3, 3, size=size)


@pytest.mark.parametrize("two_rows", [False, True])
@pytest.mark.parametrize("width", [3, 4, 8, 13])  # one, four, eight lanes and all three
def test_row_sums_and_their_rates_equal_the_scalar_sums_in_order(width, two_rows):
    rng = np.random.default_rng(width + 20 * two_rows)
    g, dg, Y, gY = _random(rng, 40), _random(rng, 40), _random(rng, 30), _random(rng, 30)
    row_of = np.array([0, 17, 40 - width - 3, 5, 11, 9], dtype=np.int64)  # row 2 reaches g's end
    y_of = np.array([3, 0, 20, 7, 12, 24], dtype=np.int64)
    sign = np.array([1.0, -1.0, -1.0, 1.0, 1.0, -1.0])
    shift, lm, stride = 3, 4, 14  # y_of[5] + lm + 1 is Y's last element
    rows = 2 if two_rows else 1
    for o, start, count in [(0, 0, 6), (40 - stride - width, 1, 4), (5, 2, 0)]:
        out, rate = np.full(40, np.nan), np.full(40, np.nan)
        expected_out, expected_rate = out.copy(), rate.copy()
        for r in range(rows):
            for i in range(width):
                total = total_rate = 0.0
                for j in range(start, start + count):
                    y = sign[j] * Y[y_of[j] + lm + r]
                    along = sign[j] * gY[y_of[j] + lm + r]
                    at = row_of[j] + shift + i
                    total += g[at] * y
                    total_rate += dg[at] * y + g[at] * along
                expected_out[o + r * stride + i] = total
                expected_rate[o + r * stride + i] = total_rate
        _sum_scaled_rows_only(two_rows, out, o, stride, g, row_of, shift, Y, y_of, lm, sign, start, count,
                              width)
        assert np.array_equal(out, expected_out, equal_nan=True)
        out[:] = np.nan
        _sum_scaled_rows(two_rows, out, rate, o, stride, g, dg, row_of, shift, Y, gY, y_of, lm, sign,
                         start, count, width)
        assert np.array_equal(out, expected_out, equal_nan=True)
        assert np.array_equal(rate, expected_rate, equal_nan=True)


@pytest.mark.parametrize("width", [3, 4, 12, 28])
@pytest.mark.parametrize("kind", [0, 1, 2])
def test_radial_contractions_equal_the_scalar_sums_in_order(kind, width):
    rng = np.random.default_rng(1 + kind + width)
    count, stride = 7, 30
    A = _random(rng, 250)
    g, dg = _random(rng, 30), _random(rng, 30)
    own, other, k, o = 5, 250 - (count - 1) * stride - width, 30 - count, 8  # other reaches A's end
    out, out_derivative = np.full(40, np.nan), np.full(40, np.nan)
    _contract(kind, out, out_derivative, o, A, own, other, stride, g, dg, k, count, width)
    for i in range(width):
        total = total_derivative = 0.0
        for n in range(count):
            x = A[own + n * stride + i]
            y = A[other + n * stride + i]
            x = x if kind == 0 else (x + y if kind == 1 else x - y)
            total += g[k + n] * x
            total_derivative += dg[k + n] * x
        assert out[o + i] == total and out_derivative[o + i] == total_derivative
    assert np.isnan(out[:o]).all() and np.isnan(out[o + width:]).all()


@njit(cache=False)
def _pair_charge_sums(W, w, AG, ADG, stride, gY, y, u, v, l_max):
    pair_charge_sums(W, w, AG, ADG, stride, gY, y, u, v, l_max)


@pytest.mark.parametrize("l_max", [0, 1, 4])
def test_pair_charge_sums_equal_the_scalar_sums_in_order(l_max):
    rng = np.random.default_rng(l_max)
    stride, L2 = 3 * (2 * l_max + 1) + 1, (l_max + 1) ** 2
    AG, ADG = _random(rng, (l_max + 1) * stride), _random(rng, (l_max + 1) * stride)
    gY, u = _random(rng, 4 * L2 + 8), _random(rng, 7)
    y, v, w = 8, 4, 5  # gY's and u's last elements are read
    W = np.full(20, np.nan)
    _pair_charge_sums(W, w, AG, ADG, stride, gY, y, u, v, l_max)
    for a in range(3):
        radial = 0.0
        angular = [0.0, 0.0, 0.0]
        for l in range(l_max + 1):
            for m in range(2 * l + 1):
                lm = l * l + m
                at = l * stride + a * (2 * l + 1) + m
                radial += ADG[at] * gY[y + 4 * lm + 3]
                for beta in range(3):
                    angular[beta] += AG[at] * gY[y + 4 * lm + beta]
        for beta in range(3):
            assert W[w + 3 * a + beta] == radial * u[v + beta] + angular[beta]
    assert np.isnan(W[:w]).all() and np.isnan(W[w + 9:]).all()


@njit(cache=False)
def _sum_one_row(g, row_of):
    out = np.zeros(8)
    sum_scaled_rows(1, False, out, out, 0, 4, g, g, row_of, 0, out, out, row_of, 0, out, 0, 1, 4)
    return out


@njit(cache=False)
def _sum_rows(rows):
    out, index = np.zeros(8), np.zeros(1, dtype=np.int64)
    sum_scaled_rows(rows, False, out, out, 0, 4, out, out, index, 0, out, out, index, 0, out, 0, 1, 4)


def test_vector_operations_refuse_arrays_they_cannot_address():
    index = np.zeros(1, dtype=np.int64)
    assert np.array_equal(_sum_one_row(np.ones(8), index), np.zeros(8))  # sign = out = 0
    for bad in (np.zeros(8, dtype=np.float32), np.zeros(16)[::2], np.zeros((2, 4))):
        with pytest.raises(TypingError):
            _sum_one_row(bad, index)
    with pytest.raises(TypingError):
        _sum_one_row(np.zeros(8), index.astype(np.int32))
    with pytest.raises(TypingError):  # the number of rows must be a constant
        _sum_rows(1)
