"""μ, all Z* and Ṗ of a linear λ-SOAP model with one coefficient vector per
species: the kernels of :mod:`ase_dipole.descriptors.prediction_numba`
around matrix products of the densities.

A range of centres is handled in passes: each pair within the range is
evaluated once for both of its centres (:func:`~ase_dipole.descriptors.prediction_numba.pair_slots`,
``pair_geometry``), the densities ``R`` (and their time derivative) are
gathered species-major, so that the centres of one species form one
contiguous ``(L2, n_s, Sn)`` block, and :func:`bilinear_sums` reduces μ and
Ṗ to a handful of matrix products per species and l-block (BLAS). For Z* it
also forms the adjoint

    A[a, lm, c, i] = ∂μ_a(c) / ∂R[lm, c, i]

with one more product per species and l-block (:func:`spread_matrices`),
straight into the layout ``pair_charges`` contracts with the kept pair values.
Centres are taken :data:`CHUNK_CENTRES` at a time, so the scratch memory is
bounded whatever the system size; a pair with one centre outside the range
is evaluated from both sides.
"""

import numpy as np

from ase_dipole.descriptors import basis
from ase_dipole.descriptors import prediction_numba as kernels
from ase_dipole.threads import single_blas_thread

#: centres per range: bounds the per-pair scratch (about 1.5 kB per kept pair,
#: 5 MB for 256 centres of water at r_c 4 Å); within a range each pair is
#: evaluated once. Measured on water (benchmarks/threads.py boxes): 1536 atoms
#: took 50 ms with 256 against 62 ms with 512 and 68 ms with 1024 on one
#: thread, and two threads lost to one with 1024 (cache and TLB misses)
CHUNK_CENTRES = 256


def coefficient_blocks(coefficients, n_species, n_max, l_max):
    """2-body coefficients (S, Sn) and the 3-body blocks W_l[i, j] and W_lᵀ,
    each (S, l_max, Sn, Sn), contiguous."""
    Sn = n_species * n_max
    blocks = coefficients[:, Sn:].reshape(n_species, l_max, Sn, Sn)
    return (np.ascontiguousarray(coefficients[:, :Sn]), np.ascontiguousarray(blocks),
            np.ascontiguousarray(blocks.transpose(0, 1, 3, 2)))


def spread_matrices(G, l_max):
    """The couplings that turn the rows of ``XY`` into the adjoint, one matrix
    per l-block: ``H[l]`` ((2l−1) + (2l+3) rows for 0 < l < l_max, 3 for l = 0,
    2l−1 for l = l_max; :func:`~ase_dipole.descriptors.prediction_numba.block_width`
    (l) columns, zero past 3 (2l+1)) with ``A_l[a (2l+1) + m'] = Σ_rows
    XY[row] H[l][row, a (2l+1) + m']`` over the rows ``Y_{l−1}`` then ``X_l``
    (adjacent in ``XY``): ``H[l][m, a (2l+1) + m'] = G[l−1, a, m, m']`` and
    ``H[l][2l−1 + m', a (2l+1) + m] = G[l, a, m, m']``."""
    matrices = []
    for l in range(l_max + 1):
        n_low = 2 * l - 1 if l > 0 else 0
        n_high = 2 * l + 3 if l < l_max else 0
        H = np.zeros((n_low + n_high, kernels.block_width(l)))
        for a in range(3):
            if l > 0:
                H[:n_low, a * (2 * l + 1): (a + 1) * (2 * l + 1)] = G[l - 1, a, :n_low, :2 * l + 1]
            if l < l_max:
                H[n_low:, a * (2 * l + 1): (a + 1) * (2 * l + 1)] = G[l, a, :2 * l + 1, :n_high].T
        matrices.append(H)
    return matrices


def two_body_adjoint(two_body, T):
    """The 2-body part of the adjoint, the same for every centre of a species:
    (S, Sn, block_width(1)) with ``[s, b n, a·3 + m] = T[a, m] two_body[s, b n]``."""
    S, Sn = two_body.shape
    term = np.zeros((S, Sn, kernels.block_width(1)))
    term[:, :, :9] = two_body[:, :, None] * T.reshape(1, 1, 9)
    return term


def coupling_rows(G, l_max):
    """``G[l, a, m, m']`` as (3, (2l+1)(2l+3)) for each l < l_max, contiguous:
    each 3-body sum of :func:`bilinear_sums` is one product with it."""
    return [np.ascontiguousarray(G[l, :, :2 * l + 1, :2 * l + 3].reshape(3, -1)) for l in range(l_max)]


def bilinear_sums(R, R_dot, block_start, block_count, two_body, blocks, blocks_t, T, couplings, l_max,
                  XY, spread=None, At=None):
    """μ (3,), Ṗ (3,) when ``R_dot`` is given, and the adjoint into ``At`` when it
    is given, for the centres whose densities ``R`` (and time derivatives
    ``R_dot``) are given (flat, species blocks (L2, n_s, Sn)).

    Per species and l-block, ``Y_l = R_l W_l`` over all its centres (BLAS); the
    3-body dipole is ``Σ G[l, a, m, m'] ⟨Y_l[m], R_{l+1}[m']⟩`` (one more
    product; ``couplings`` from :func:`coupling_rows`), its rate adds
    ``⟨Ẏ_l[m], R_{l+1}[m']⟩ + ⟨Y_l[m], Ṙ_{l+1}[m']⟩``.
    The adjoint also needs ``X_l = R_{l+1} W_lᵀ``; then each of its l-blocks is
    one more product per species, of the rows ``Y_{l−1}, X_l`` with
    ``spread = (spread_matrices(G, l_max), two_body_adjoint(two_body, T))``, written
    straight into the l-plane of ``At`` that
    :func:`~ase_dipole.descriptors.prediction_numba.pair_charges` reads (rows
    in species-block order). ``XY`` is scratch of ``2 l_max² + 6 l_max`` rows of n_s·Sn.
    """
    S, Sn = two_body.shape
    L2 = (l_max + 1) ** 2
    n_rows = int(block_count.sum())
    dipole = np.zeros(3)
    pdot = np.zeros(3)
    for s in range(S):
        n = int(block_count[s])
        if n == 0:
            continue
        start = int(block_start[s])
        span = slice(L2 * Sn * start, L2 * Sn * (start + n))
        Rs = R[span].reshape(L2, n, Sn)
        dipole += T @ (Rs[1:4].sum(axis=1) @ two_body[s])
        if R_dot is not None:
            Rds = R_dot[span].reshape(L2, n, Sn)
            pdot += T @ (Rds[1:4].sum(axis=1) @ two_body[s])
        at = 0
        for l in range(l_max):
            lo, hi, n_lo, n_hi = l * l, (l + 1) * (l + 1), 2 * l + 1, 2 * l + 3
            coupling = couplings[l]
            upper = Rs[hi:hi + n_hi].reshape(n_hi, n * Sn)
            if At is not None:
                np.matmul(upper.reshape(n_hi * n, Sn), blocks_t[s, l],
                          out=XY[at: at + n_hi * n * Sn].reshape(n_hi * n, Sn))
                at += n_hi * n * Sn
            Y = XY[at: at + n_lo * n * Sn].reshape(n_lo * n, Sn)
            np.matmul(Rs[lo:hi].reshape(n_lo * n, Sn), blocks[s, l], out=Y)
            at += n_lo * n * Sn
            Y = Y.reshape(n_lo, n * Sn)
            dipole += coupling @ (Y @ upper.T).reshape(-1)
            if R_dot is not None:
                Y_dot = XY[at: at + n_lo * n * Sn].reshape(n_lo * n, Sn)
                np.matmul(Rds[lo:hi].reshape(n_lo * n, Sn), blocks[s, l], out=Y_dot)
                pdot += coupling @ (Y_dot.reshape(n_lo, n * Sn) @ upper.T
                                    + Y @ Rds[hi:hi + n_hi].reshape(n_hi, n * Sn).T).reshape(-1)
        if At is not None:
            matrices, two_body_term = spread
            first_row = 0
            for l in range(l_max + 1):
                width = kernels.block_width(l)
                plane = n_rows * Sn * kernels.block_offset(l)
                rows = matrices[l].shape[0]
                block = At[plane + start * Sn * width: plane + (start + n) * Sn * width]
                block = block.reshape(n * Sn, width)
                np.matmul(XY[first_row * n * Sn: (first_row + rows) * n * Sn].reshape(rows, n * Sn).T,
                          matrices[l], out=block)
                if l == 1:
                    block.reshape(n, Sn, width)[...] += two_body_term[s]
                first_row += rows
    return dipole, pdot


class Predictor:
    """Per-call driver of the kernels for one descriptor; keeps its scratch
    arrays between calls of the same size (one instance per thread)."""

    def __init__(self, descriptor):
        self.descriptor = descriptor
        self._arrays = {}
        self._spread_matrices = spread_matrices(descriptor._G, descriptor.l_max)
        self._couplings = coupling_rows(descriptor._G, descriptor.l_max)
        self._ladder = basis.gradient_ladder(descriptor.l_max, descriptor._norm)

    def _array(self, name, size, dtype=float):
        array = self._arrays.get(name)
        if array is None or array.shape[0] < size:
            array = np.empty(max(size, 1), dtype=dtype)
            self._arrays[name] = array
        return array[:size]

    def run(self, env, blocks, mode, velocities, W):
        """μ (3,), and Ṗ (3,) for mode 1; for mode 2 the pair charges into ``W`` (P, 3, 3)
        (what pair p = c→k adds to Z*_k and subtracts from Z*_c).

        ``blocks`` from :func:`coefficient_blocks`; ``velocities`` (N, 3) Å/fs (mode 1)."""
        d = self.descriptor
        nl = env.neighbours
        S, n_max, l_max = len(d.species), d.n_max, d.l_max
        Sn, L2 = S * n_max, (l_max + 1) ** 2
        two_body, W3, W3t = blocks
        n_atoms = len(env.species)
        dipole = np.zeros(3)
        pdot = np.zeros(3)
        block_start = np.empty(S, dtype=np.int64)
        block_count = np.empty(S, dtype=np.int64)
        empty = np.empty((0, 0))
        spread = (self._spread_matrices, two_body_adjoint(two_body, d._T)) if mode == 2 else None
        with single_blas_thread():  # the products are small; the kernels have the cores
            for first in range(0, n_atoms, CHUNK_CENTRES):
                last = min(first + CHUNK_CENTRES, n_atoms)
                n = last - first
                n_pairs = int(nl.offsets[last] - nl.offsets[first])
                slot = self._array("slot", n_pairs, np.int64)
                slot_pair = self._array("slot_pair", n_pairs, np.int64)
                slot_centre = self._array("slot_centre", n_pairs, np.int64)
                n_slots = kernels.pair_slots(nl.offsets, nl.neighbours, nl.reverse, first, last, slot,
                                             slot_pair, slot_centre)
                n_tangents = (0, 1, 4)[mode]  # mode 2: the gradient, then Y (for the pair charges)
                u = self._array("u", 3 * n_slots if mode == 2 else 0).reshape(-1, 3)
                Y = self._array("Y", L2 * n_slots).reshape(n_slots, L2)
                gY = self._array("gY", n_tangents * L2 * n_slots).reshape(-1, L2, max(n_tangents, 1))
                g = self._array("g", (l_max + 1) * n_max * n_slots).reshape(n_slots, l_max + 1, n_max)
                dg = self._array("dg", (l_max + 1) * n_max * n_slots if mode else 0).reshape(
                    -1, l_max + 1, n_max)
                kernels.pair_geometry(nl.vectors, nl.neighbours, slot_pair, slot_centre, n_slots,
                                      velocities if mode == 1 else empty, d._table, d._grid_step, l_max,
                                      d._norm, mode, *self._ladder, u, Y, gY, g, dg)
                row = self._array("row", n, np.int64)
                centre_of_row = self._array("centre_of_row", n, np.int64)
                kernels.species_rows(env.species, first, last, S, block_start, block_count, row,
                                     centre_of_row)
                R = self._array("R", L2 * Sn * n)
                R_dot = self._array("R_dot", L2 * Sn * n if mode == 1 else 0)
                kernels.accumulate_densities(nl.offsets, env.neighbour_species, env.species, first, last,
                                             slot, row, block_start, block_count, l_max, mode, Y, gY, g,
                                             dg, R, R_dot)
                XY = self._array("XY", (2 * l_max * l_max + 6 * l_max) * Sn * int(block_count.max()))
                At = self._array("At", n * Sn * kernels.block_offset(l_max + 1)) if mode == 2 else None
                mu, rate = bilinear_sums(R, R_dot if mode == 1 else None, block_start, block_count,
                                         two_body, W3, W3t, d._T, self._couplings, l_max, XY, spread, At)
                dipole += mu
                pdot += rate
                if mode == 2:
                    kernels.pair_charges(nl.offsets, nl.neighbours, env.neighbour_species, env.species,
                                         first, last, slot, row, block_start, l_max, At, u, Y, gY, g, dg, W)
        return dipole, pdot
