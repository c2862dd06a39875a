"""μ, all Z* and Ṗ of a linear λ-SOAP model with one coefficient vector per
species: the kernels of :mod:`ase_dipole.descriptors.prediction_numba`
around matrix products of the densities.

A range of centres is handled in passes: each pair within the range is
evaluated once for both of its centres (:func:`~ase_dipole.descriptors.prediction_numba.pair_slots`,
``pair_geometry``), the densities ``R`` (and their time derivative) are
gathered species-major, so that the centres of one species form one
contiguous ``(L2, n_s, Sn)`` block, and
:func:`~ase_dipole.descriptors.prediction_numba.bilinear_sums` reduces μ and
Ṗ to a handful of matrix products per species and l-block (BLAS, called from
numba: no Python between the products). For Z* it also forms the adjoint

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


class Predictor:
    """Per-call driver of the kernels for one descriptor; keeps its scratch
    arrays between calls of the same size (one instance per thread)."""

    def __init__(self, descriptor):
        self.descriptor = descriptor
        self._arrays = {}
        matrices = spread_matrices(descriptor._G, descriptor.l_max)
        self._spread = np.concatenate([matrix.ravel() for matrix in matrices])
        self._spread_start = np.cumsum([0] + [matrix.size for matrix in matrices]).astype(np.int64)
        self._spread_rows = np.array([matrix.shape[0] for matrix in matrices], dtype=np.int64)
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
        two_body_term = two_body_adjoint(two_body, d._T) if mode == 2 else np.empty((0, 0, 0))
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
                At = self._array("At", n * Sn * kernels.block_offset(l_max + 1) if mode == 2 else 0)
                mu, rate = kernels.bilinear_sums(R, R_dot, mode == 1, block_start, block_count, two_body, W3,
                                                 W3t, d._T, d._G, l_max, XY, self._spread, self._spread_start,
                                                 self._spread_rows, two_body_term, mode == 2, At)
                dipole += mu
                pdot += rate
                if mode == 2:
                    kernels.pair_charges(nl.offsets, nl.neighbours, env.neighbour_species, env.species,
                                         first, last, slot, row, block_start, l_max, At, u, Y, gY, g, dg, W)
        return dipole, pdot
