"""numba kernels of :mod:`ase_dipole.learning.ridge`: single passes over the
(P, P) normal matrices that numpy would do in several (weight, sum, mirror,
select, scale) with temporaries, with the same floating-point operations in
the same order.

A weighted sum of T normal matrices is ``(w_0 A_0 + w_1 A_1) + ⋯``
evaluated entry by entry, as numpy's ``w_0 * A_0`` followed by
``+= w_1 * A_1``.
"""

from numba import njit

#: side of the square tiles the (P, P) passes go through
TILE = 64


@njit(cache=True, fastmath=False)
def _weighted_entry(weights, matrices, r, c):
    value = weights[0] * matrices[0][r, c]
    for t in range(1, weights.shape[0]):
        value = value + weights[t] * matrices[t][r, c]
    return value


@njit(cache=True, fastmath=False)
def add_weighted(weights, matrices, out, accumulate):
    """``out = Σ_t weights[t] matrices[t]`` (``accumulate``: ``out += …``),
    all (P, P) Fortran order; ``weights`` (T,), T >= 1."""
    P = out.shape[0]
    for c in range(P):
        for r in range(P):
            value = _weighted_entry(weights, matrices, r, c)
            out[r, c] = out[r, c] + value if accumulate else value


@njit(cache=True, fastmath=False)
def scaled_symmetric(upper, weights, matrices, index, scale, out):
    """``out[i, j] = G[index[i], index[j]] / scale[i] / scale[j]`` where G is
    the symmetric matrix whose upper triangle is that of
    ``upper − Σ_t weights[t] matrices[t]`` (``weights`` of size 0: nothing is
    subtracted, ``matrices`` is not read); strict lower triangles are not read.

    Each entry is ``((u − m) + 0.0) / s_i / s_j``: the operations (and
    roundings) of forming the difference, mirroring its upper triangle onto
    a zero lower one and dividing the rows, then the columns.
    """
    R = index.shape[0]
    subtract = weights.shape[0] > 0
    for first_i in range(0, R, TILE):  # tiles: both orders of the (P, P) inputs stay in cache
        for first_j in range(0, R, TILE):
            for i in range(first_i, min(first_i + TILE, R)):
                p = index[i]
                for j in range(first_j, min(first_j + TILE, R)):
                    q = index[j]
                    r, c = (p, q) if p <= q else (q, p)
                    value = upper[r, c]
                    if subtract:
                        value = value - _weighted_entry(weights, matrices, r, c)
                    out[i, j] = (value + 0.0) / scale[i] / scale[j]
