"""numba kernels of the cheap prediction routes of a linear model: μ, all Z*
and Ṗ from per-species coefficient vectors, without forming features or
feature gradients. Arithmetic only, preallocated outputs.

Notation as in :mod:`ase_dipole.descriptors.lambda_soap_numba`; here the
density of one centre is held as ``R[lm, i]`` with ``i = b*n_max + n`` (rows
of ``Sn = S*n_max`` contiguous values), and the coefficients of a 3-body
block ``l`` as the matrix ``W_l[i, j]`` (i pairs with the l density, j with
the l + 1 density). The adjoint of the linear model,

    A[a, lm, i] = ∂(Σ_f c_f D^a_f) / ∂R[lm, i],

is formed per centre as matrix products: ``X = R_{l+1} W_lᵀ`` and
``Y = R_l W_l`` (each (2l+1 or 2l+3) × Sn by Sn × Sn, independent of the
Cartesian component a), then the sparse coupling ``G[l, a]`` spreads them:
``A_l[a] += G[l, a] X`` and ``A_{l+1}[a] += G[l, a]ᵀ Y``. That is a third of
the work of contracting G first, and the inner loops are contiguous axpys.

Everything one centre needs (its pairs' harmonics and radial values, R, A)
is computed and used by one thread in one pass over that centre's pairs and
kept in per-thread buffers, so nothing is evaluated twice and memory does
not grow with the system beyond the outputs.
"""

import numpy as np
from numba import njit, prange

from ase_dipole.descriptors.lambda_soap_numba import radial, solid_harmonics

#: centres handled by one task of the parallel loops (buffers are per task)
BLOCK = 16


@njit(cache=True, fastmath=False)
def _vector_times_matrix(vector, matrix, out):
    """``out[j] = Σ_i vector[i] matrix[i, j]`` as axpys over contiguous rows."""
    n = out.shape[0]
    for j in range(n):
        out[j] = 0.0
    for i in range(vector.shape[0]):
        v = vector[i]
        row = matrix[i]
        for j in range(n):
            out[j] += v * row[j]


@njit(cache=True, fastmath=False)
def centre_adjoint(R, two_body, blocks, blocks_t, T, G, l_max, A, X, Y):
    """Adjoint ``A[a, lm, i]`` of one centre with density ``R[lm, i]`` for the
    coefficients ``two_body[i]`` (2-body) and ``blocks[l, i, j]`` = W_l (3-body),
    ``blocks_t[l]`` = W_lᵀ. ``X``, ``Y`` are scratch of shape (2 l_max + 3, Sn).

    Every inner loop runs from 0 over a contiguous row (so LLVM vectorises it).
    """
    L2, Sn = R.shape
    for a in range(3):
        for lm in range(L2):
            row = A[a, lm]
            for i in range(Sn):
                row[i] = 0.0
        for m in range(3):
            t = T[a, m]
            if t != 0.0:
                row = A[a, 1 + m]
                for i in range(Sn):
                    row[i] += two_body[i] * t
    for l in range(l_max):
        lo = l * l
        hi = (l + 1) * (l + 1)
        W = blocks[l]
        Wt = blocks_t[l]
        for mp in range(2 * l + 3):
            _vector_times_matrix(R[hi + mp], Wt, X[mp])
        for m in range(2 * l + 1):
            _vector_times_matrix(R[lo + m], W, Y[m])
        for a in range(3):
            for m in range(2 * l + 1):
                low = A[a, lo + m]
                for mp in range(2 * l + 3):
                    coupling = G[l, a, m, mp]
                    if coupling != 0.0:
                        high = A[a, hi + mp]
                        x = X[mp]
                        y = Y[m]
                        for i in range(Sn):
                            low[i] += coupling * x[i]
                            high[i] += coupling * y[i]


@njit(cache=True, fastmath=False)
def _centre_dipole(R, A, two_body, T, dipole):
    """μ of one centre by Euler's identity for the bilinear 3-body part:
    μ_a = (Σ A·R + μ_2body) / 2."""
    L2, Sn = R.shape
    for a in range(3):
        value = 0.0
        for i in range(Sn):
            for m in range(3):
                value += two_body[i] * T[a, m] * R[1 + m, i]
        total = 0.0
        for lm in range(L2):
            for i in range(Sn):
                total += A[a, lm, i] * R[lm, i]
        dipole[a] = 0.5 * (total + value)


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent blocks of centres
def predict(offsets, vectors, neighbour_species, velocities_rel, species, two_body, blocks,
            blocks_t, T, G, table, grid_step, l_max, norm, max_pairs, mode,
            dipole_by_centre, pdot_by_centre, W):
    """μ of every centre and, by ``mode``, Ṗ or the pair charges.

    Parameters
    ----------
    offsets, vectors, neighbour_species : the neighbour list (CSR) and the
        species index of each pair's neighbour.
    velocities_rel : (P, 3) relative velocities w = v_k − v_c, Å/fs (mode 1).
    species : (N,) index of each centre's coefficient set (its species; or
        ``arange(N)`` for per-atom coefficients).
    two_body : (C, Sn) 2-body coefficients; blocks, blocks_t : (C, l_max, Sn, Sn)
        3-body coefficient matrices W_l and their transposes, one set per
        species (C = S) or per centre (C = N).
    max_pairs : largest number of pairs of one centre.
    mode : 0 dipole only; 1 also ``pdot_by_centre[c, a] = Σ A·dR/dt``; 2 also
        ``W[p, a, β] = Σ_{n,lm} A[c, a, lm, s(k)*n_max + n] ∂φ_{n,lm}(r_ck)/∂r_β``,
        the contribution of centre c to Z*_k of each pair p = c→k (and −W to Z*_c).
    dipole_by_centre : (N, 3) out.
    """
    n_centres = offsets.shape[0] - 1
    n_max = table.shape[3]
    Sn = blocks.shape[2]
    S = Sn // n_max
    L2 = (l_max + 1) ** 2
    want_gradient = mode > 0
    n_blocks = (n_centres + BLOCK - 1) // BLOCK
    for block in prange(n_blocks):
        Q = np.empty((l_max + 1, l_max + 1))
        dQ = np.empty((l_max + 1, l_max + 1, 3))
        cs = np.empty((l_max + 1, 2))
        dcs = np.empty((l_max + 1, 2, 3))
        u = np.empty(3)
        Y = np.empty(L2)
        dY = np.empty((L2, 3))
        g = np.empty((l_max + 1, n_max))
        dg = np.empty((l_max + 1, n_max))
        R3 = np.empty((L2, S, n_max))
        R = R3.reshape((L2, Sn))
        R3_dot = np.empty((L2, S, n_max))
        R_dot = R3_dot.reshape((L2, Sn))
        A = np.empty((3, L2, Sn))
        X = np.empty((2 * l_max + 3, Sn))
        Yx = np.empty((2 * l_max + 3, Sn))
        dipole = np.empty(3)
        # per-pair values of the current centre for the Z* pass: one bucket per
        # neighbour species, pairs last (contiguous, counted from 0)
        slot = np.empty(max_pairs, dtype=np.int64)
        count = np.empty(S, dtype=np.int64)
        Yc = np.empty((S, L2, max_pairs))
        gyc = np.empty((S, L2, 3, max_pairs))
        gc = np.empty((S, l_max + 1, n_max, max_pairs))
        dgc = np.empty((S, l_max + 1, n_max, max_pairs))
        uc = np.empty((S, 3, max_pairs))
        AG = np.empty((L2, max_pairs))
        ADG = np.empty((L2, max_pairs))
        radial_part = np.empty(max_pairs)
        Wq = np.empty((S, 3, 3, max_pairs))
        for c in range(block * BLOCK, min((block + 1) * BLOCK, n_centres)):
            for lm in range(L2):
                for b in range(S):
                    for n in range(n_max):
                        R3[lm, b, n] = 0.0
                        R3_dot[lm, b, n] = 0.0
            for b in range(S):
                count[b] = 0
            start = offsets[c]
            stop = offsets[c + 1]
            for p in range(start, stop):
                d = np.sqrt(vectors[p, 0] ** 2 + vectors[p, 1] ** 2 + vectors[p, 2] ** 2)
                for k in range(3):
                    u[k] = vectors[p, k] / d
                solid_harmonics(u, l_max, norm, Y, dY, Q, dQ, cs, dcs, want_gradient)
                radial(d, table, grid_step, g, dg, want_gradient)
                b = neighbour_species[p]
                for l in range(l_max + 1):
                    gl = g[l]
                    for lm in range(l * l, (l + 1) * (l + 1)):
                        y = Y[lm]
                        row = R3[lm, b]
                        for n in range(n_max):
                            row[n] += gl[n] * y
                if mode == 1:
                    w0 = velocities_rel[p, 0]
                    w1 = velocities_rel[p, 1]
                    w2 = velocities_rel[p, 2]
                    radial_rate = u[0] * w0 + u[1] * w1 + u[2] * w2
                    for l in range(l_max + 1):
                        gl = g[l]
                        dgl = dg[l]
                        for lm in range(l * l, (l + 1) * (l + 1)):
                            y = Y[lm]
                            # ∇Y_lm(r/|r|)·w = (∇P_lm(u)·w − l Y_lm u·w) / |r|
                            along = (dY[lm, 0] * w0 + dY[lm, 1] * w1 + dY[lm, 2] * w2
                                     - l * y * radial_rate) / d
                            row = R3_dot[lm, b]
                            for n in range(n_max):
                                row[n] += dgl[n] * radial_rate * y + gl[n] * along
                elif mode == 2:
                    q = count[b]
                    count[b] = q + 1
                    slot[p - start] = q
                    for k in range(3):
                        uc[b, k, q] = u[k]
                    for l in range(l_max + 1):
                        for n in range(n_max):
                            gc[b, l, n, q] = g[l, n]
                            dgc[b, l, n, q] = dg[l, n]
                        for lm in range(l * l, (l + 1) * (l + 1)):
                            Yc[b, lm, q] = Y[lm]
                            # gradient of Y_lm(r/|r|): (∇P_lm(u) − l Y_lm u) / |r|
                            for k in range(3):
                                gyc[b, lm, k, q] = (dY[lm, k] - l * Y[lm] * u[k]) / d
            s = species[c]
            centre_adjoint(R, two_body[s], blocks[s], blocks_t[s], T, G, l_max, A, X, Yx)
            _centre_dipole(R, A, two_body[s], T, dipole)
            for a in range(3):
                dipole_by_centre[c, a] = dipole[a]
            if mode == 1:
                for a in range(3):
                    total = 0.0
                    for lm in range(L2):
                        for i in range(Sn):
                            total += A[a, lm, i] * R_dot[lm, i]
                    pdot_by_centre[c, a] = total
            elif mode == 2:
                for b in range(S):
                    n_b = count[b]
                    for a in range(3):
                        # AG[lm, q] = Σ_n A[a, lm, b n] g_ln(r_q), ADG likewise with g'
                        for lm in range(L2):
                            ag = AG[lm]
                            adg = ADG[lm]
                            for q in range(n_b):
                                ag[q] = 0.0
                                adg[q] = 0.0
                        for l in range(l_max + 1):
                            for lm in range(l * l, (l + 1) * (l + 1)):
                                ag = AG[lm]
                                adg = ADG[lm]
                                for n in range(n_max):
                                    x = A[a, lm, b * n_max + n]
                                    gq = gc[b, l, n]
                                    dgq = dgc[b, l, n]
                                    for q in range(n_b):
                                        ag[q] += x * gq[q]
                                        adg[q] += x * dgq[q]
                        # W[a, k] = (Σ_lm ADG Y) u_k + Σ_lm AG ∇_k Y
                        for q in range(n_b):
                            radial_part[q] = 0.0
                        for lm in range(L2):
                            adg = ADG[lm]
                            yq = Yc[b, lm]
                            for q in range(n_b):
                                radial_part[q] += adg[q] * yq[q]
                        for k in range(3):
                            out = Wq[b, a, k]
                            uq = uc[b, k]
                            for q in range(n_b):
                                out[q] = radial_part[q] * uq[q]
                            for lm in range(L2):
                                ag = AG[lm]
                                gy = gyc[b, lm, k]
                                for q in range(n_b):
                                    out[q] += ag[q] * gy[q]
                for p in range(start, stop):
                    b = neighbour_species[p]
                    q = slot[p - start]
                    for a in range(3):
                        for k in range(3):
                            W[p, a, k] = Wq[b, a, k, q]
