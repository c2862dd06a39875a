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

Two routes share this notation. :func:`predict` takes one coefficient set
per centre (the product model's effective coefficients) and does everything
of a centre in one pass over its pairs. With one coefficient set per species
(the linear model), :mod:`ase_dipole.descriptors.prediction` runs
:func:`pair_pass` (densities, laid out species-major, and either their time
derivative along the velocities or the pairs' harmonics, harmonic gradients
and radial values kept for later), the adjoint as matrix products over all
centres of a species (BLAS, then :func:`spread_coupling`), and
:func:`pair_charges` (the kept pair values contracted with the adjoint): no
pair value is evaluated twice and no derivative is formed that the mode does
not need (μ: none; Ṗ: one directional derivative per pair; Z*: the gradient).

Hot loops index arrays with the loop variable as the last index: a computed
index (``base + j``) costs numba a negative-index check per element, which
also stops LLVM from vectorising the loop; and no array views are made per
pair (each costs a reference count).
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


# -- per-species route: densities and pair values in one pass, the adjoint as
#    matrix products over all centres of one species (ase_dipole.descriptors.prediction)

@njit(cache=True, fastmath=False)
def harmonics_block(n, x, y, z, l_max, norm, n_tangents, tx, ty, tz, Y, T, Q, Qt, cs, cst):
    """Real harmonics ``Y[lm, q]`` at the unit vectors (x[q], y[q], z[q]) of
    ``n`` pairs and the derivatives ``T[k, lm, q]`` of the homogeneous
    polynomials that equal them on the sphere along the directions
    (tx[k, q], ty[k, q], tz[k, q]), k < ``n_tangents`` (the three axes give the
    gradient of :func:`ase_dipole.descriptors.lambda_soap_numba.solid_harmonics`).

    The recursions of that function with every step a loop over the pairs (so
    it vectorises); ``Q, Qt, cs, cst`` are scratch of shapes (l_max + 1,
    l_max + 1, P), (3, l_max + 1, l_max + 1, P), (l_max + 1, 2, P),
    (3, l_max + 1, 2, P).
    """
    for q in range(n):
        Q[0, 0, q] = 1.0
        cs[0, 0, q] = 1.0
        cs[0, 1, q] = 0.0
    for k in range(n_tangents):
        for q in range(n):
            Qt[k, 0, 0, q] = 0.0
            cst[k, 0, 0, q] = 0.0
            cst[k, 0, 1, q] = 0.0
    for l in range(1, l_max + 1):
        for q in range(n):
            Q[l, l, q] = -(2 * l - 1) * Q[l - 1, l - 1, q]
            Q[l, l - 1, q] = -z[q] * Q[l, l, q]
        for k in range(n_tangents):
            for q in range(n):
                Qt[k, l, l, q] = 0.0
                Qt[k, l, l - 1, q] = -tz[k, q] * Q[l, l, q]
        for m in range(l - 2, -1, -1):
            a = 2 * l - 1
            b = l + m - 1
            inv = 1.0 / (l - m)
            for q in range(n):
                r2 = x[q] * x[q] + y[q] * y[q] + z[q] * z[q]
                Q[l, m, q] = (a * z[q] * Q[l - 1, m, q] - b * r2 * Q[l - 2, m, q]) * inv
            for k in range(n_tangents):
                for q in range(n):
                    r2 = x[q] * x[q] + y[q] * y[q] + z[q] * z[q]
                    along = x[q] * tx[k, q] + y[q] * ty[k, q] + z[q] * tz[k, q]
                    Qt[k, l, m, q] = ((a * z[q] * Qt[k, l - 1, m, q] - b * r2 * Qt[k, l - 2, m, q]
                                       - 2.0 * b * along * Q[l - 2, m, q]) * inv
                                      + a * tz[k, q] * Q[l - 1, m, q] * inv)
    for m in range(1, l_max + 1):
        for q in range(n):
            cs[m, 0, q] = x[q] * cs[m - 1, 0, q] - y[q] * cs[m - 1, 1, q]
            cs[m, 1, q] = x[q] * cs[m - 1, 1, q] + y[q] * cs[m - 1, 0, q]
        for k in range(n_tangents):
            for q in range(n):
                cst[k, m, 0, q] = ((x[q] * cst[k, m - 1, 0, q] - y[q] * cst[k, m - 1, 1, q])
                                   + tx[k, q] * cs[m - 1, 0, q] - ty[k, q] * cs[m - 1, 1, q])
                cst[k, m, 1, q] = ((x[q] * cst[k, m - 1, 1, q] + y[q] * cst[k, m - 1, 0, q])
                                   + tx[k, q] * cs[m - 1, 1, q] + ty[k, q] * cs[m - 1, 0, q])
    for l in range(l_max + 1):
        centre = l * l + l
        for q in range(n):
            Y[centre, q] = norm[centre] * Q[l, 0, q]
        for k in range(n_tangents):
            for q in range(n):
                T[k, centre, q] = norm[centre] * Qt[k, l, 0, q]
        for m in range(1, l + 1):
            plus = centre + m
            minus = centre - m
            for q in range(n):
                Y[plus, q] = norm[plus] * Q[l, m, q] * cs[m, 0, q]
                Y[minus, q] = norm[minus] * Q[l, m, q] * cs[m, 1, q]
            for k in range(n_tangents):
                for q in range(n):
                    T[k, plus, q] = norm[plus] * (Qt[k, l, m, q] * cs[m, 0, q]
                                                  + Q[l, m, q] * cst[k, m, 0, q])
                    T[k, minus, q] = norm[minus] * (Qt[k, l, m, q] * cs[m, 1, q]
                                                    + Q[l, m, q] * cst[k, m, 1, q])


@njit(cache=True, fastmath=False)
def radial_values(distance, table, grid_step, q, g, dg, want_derivative):
    """:func:`ase_dipole.descriptors.lambda_soap_numba.radial` written into row
    ``q`` of ``g[q, l, n]`` (and ``dg``), without views; same arithmetic."""
    x = distance / grid_step
    i = int(x)
    if i >= table.shape[1] - 1:
        i = table.shape[1] - 2
    t = x - i
    t2 = t * t
    t3 = t2 * t
    h00 = 2 * t3 - 3 * t2 + 1
    h10 = t3 - 2 * t2 + t
    h01 = -2 * t3 + 3 * t2
    h11 = t3 - t2
    d00 = (6 * t2 - 6 * t) / grid_step
    d10 = 3 * t2 - 4 * t + 1
    d01 = (-6 * t2 + 6 * t) / grid_step
    d11 = 3 * t2 - 2 * t
    for l in range(table.shape[2]):
        for n in range(table.shape[3]):
            g[q, l, n] = (h00 * table[0, i, l, n] + h10 * grid_step * table[1, i, l, n]
                          + h01 * table[0, i + 1, l, n] + h11 * grid_step * table[1, i + 1, l, n])
    if want_derivative:
        for l in range(table.shape[2]):
            for n in range(table.shape[3]):
                dg[q, l, n] = (d00 * table[0, i, l, n] + d10 * table[1, i, l, n]
                               + d01 * table[0, i + 1, l, n] + d11 * table[1, i + 1, l, n])


@njit(cache=True, fastmath=False)
def species_rows(species, first, last, n_species, block_start, block_count, row):
    """Rows of centres ``first..last-1`` in species-major order: ``row[c]`` is the
    position of centre c among the centres of its species in that range,
    species s occupies rows ``block_start[s] .. block_start[s] + block_count[s]``."""
    for s in range(n_species):
        block_count[s] = 0
    for c in range(first, last):
        s = species[c]
        row[c - first] = block_count[s]
        block_count[s] += 1
    total = 0
    for s in range(n_species):
        block_start[s] = total
        total += block_count[s]


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent blocks of centres
def pair_pass(offsets, neighbours, vectors, neighbour_species, velocities, species, first, last,
              row, block_start, block_count, table, grid_step, l_max, norm, mode,
              R, R_dot, u, Y, gY, g, dg):
    """Densities of centres ``first..last-1`` and what later passes need of each pair.

    Parameters
    ----------
    offsets, neighbours, vectors, neighbour_species : the neighbour list (CSR).
    velocities : (N, 3) Å/fs (mode 1) or empty.
    species : (N,) species index of every atom.
    row, block_start, block_count : from :func:`species_rows`.
    mode : 0 μ; 1 also the time derivative ``R_dot`` along ``velocities``;
        2 also, per pair, the values :func:`pair_charges` needs.
    R, R_dot : flat outputs; species s holds a (L2, n_s, Sn) array starting at
        ``L2*Sn*block_start[s]`` (``R[lm, row, b*n_max + n]``).
    u (P, 3), Y (P, L2), gY (P, L2, 3), g, dg (P, l_max + 1, n_max) : mode 2
        outputs for the P pairs of the range (pair p in row ``p − offsets[first]``):
        unit vector, harmonics, gradient of Y_lm(r/|r|), radial values and
        derivatives.

    The harmonics of a centre's pairs come from :func:`harmonics_block` (one
    tangent: the rate along w = v_k − v_c in mode 1; three: the gradient in
    mode 2), the radial values per pair from the spline table.
    """
    n_centres = last - first
    n_max = table.shape[3]
    S = block_count.shape[0]
    Sn = S * n_max
    L2 = (l_max + 1) ** 2
    want_gradient = mode > 0
    base_pair = offsets[first]
    max_pairs = 0
    for c in range(first, last):
        max_pairs = max(max_pairs, offsets[c + 1] - offsets[c])
    n_tangents = 0 if mode == 0 else (1 if mode == 1 else 3)
    n_blocks = (n_centres + BLOCK - 1) // BLOCK
    for block in prange(n_blocks):
        Q = np.empty((l_max + 1, l_max + 1, max_pairs))
        Qt = np.empty((3, l_max + 1, l_max + 1, max_pairs))
        cs = np.empty((l_max + 1, 2, max_pairs))
        cst = np.empty((3, l_max + 1, 2, max_pairs))
        x = np.empty(max_pairs)
        y = np.empty(max_pairs)
        z = np.empty(max_pairs)
        distance = np.empty(max_pairs)
        # tangent directions: the three axes (mode 2, the gradient) or w = v_k − v_c (mode 1)
        tx = np.zeros((3, max_pairs))
        ty = np.zeros((3, max_pairs))
        tz = np.zeros((3, max_pairs))
        if mode == 2:
            for q in range(max_pairs):
                tx[0, q] = 1.0
                ty[1, q] = 1.0
                tz[2, q] = 1.0
        Yc = np.empty((L2, max_pairs))
        Tc = np.empty((3, L2, max_pairs))
        gp = np.empty((1, l_max + 1, n_max))
        dgp = np.empty((1, l_max + 1, n_max))
        R3 = np.empty((L2, S, n_max))
        R3_dot = np.empty((L2, S, n_max))
        for c in range(first + block * BLOCK, min(first + (block + 1) * BLOCK, last)):
            for lm in range(L2):
                for b in range(S):
                    for n in range(n_max):
                        R3[lm, b, n] = 0.0
                        R3_dot[lm, b, n] = 0.0
            start = offsets[c]
            n_c = offsets[c + 1] - start
            for q in range(n_c):
                p = start + q
                d = np.sqrt(vectors[p, 0] ** 2 + vectors[p, 1] ** 2 + vectors[p, 2] ** 2)
                distance[q] = d
                x[q] = vectors[p, 0] / d
                y[q] = vectors[p, 1] / d
                z[q] = vectors[p, 2] / d
            if mode == 1:
                for q in range(n_c):
                    k = neighbours[start + q]
                    tx[0, q] = velocities[k, 0] - velocities[c, 0]
                    ty[0, q] = velocities[k, 1] - velocities[c, 1]
                    tz[0, q] = velocities[k, 2] - velocities[c, 2]
            harmonics_block(n_c, x, y, z, l_max, norm, n_tangents, tx, ty, tz, Yc, Tc, Q, Qt, cs, cst)
            for q in range(n_c):
                p = start + q
                d = distance[q]
                b = neighbour_species[p]
                if mode == 2:
                    qp = p - base_pair
                    radial_values(d, table, grid_step, qp, g, dg, True)
                    for l in range(l_max + 1):
                        for lm in range(l * l, (l + 1) * (l + 1)):
                            yv = Yc[lm, q]
                            for n in range(n_max):
                                R3[lm, b, n] += g[qp, l, n] * yv
                    u[qp, 0] = x[q]
                    u[qp, 1] = y[q]
                    u[qp, 2] = z[q]
                    for l in range(l_max + 1):
                        for lm in range(l * l, (l + 1) * (l + 1)):
                            yv = Yc[lm, q]
                            Y[qp, lm] = yv
                            # gradient of Y_lm(r/|r|): (∇P_lm(u) − l Y_lm u) / |r|
                            gY[qp, lm, 0] = (Tc[0, lm, q] - l * yv * x[q]) / d
                            gY[qp, lm, 1] = (Tc[1, lm, q] - l * yv * y[q]) / d
                            gY[qp, lm, 2] = (Tc[2, lm, q] - l * yv * z[q]) / d
                    continue
                radial_values(d, table, grid_step, 0, gp, dgp, want_gradient)
                for l in range(l_max + 1):
                    for lm in range(l * l, (l + 1) * (l + 1)):
                        yv = Yc[lm, q]
                        for n in range(n_max):
                            R3[lm, b, n] += gp[0, l, n] * yv
                if mode == 1:
                    radial_rate = x[q] * tx[0, q] + y[q] * ty[0, q] + z[q] * tz[0, q]
                    for l in range(l_max + 1):
                        for lm in range(l * l, (l + 1) * (l + 1)):
                            yv = Yc[lm, q]
                            # ∇Y_lm(r/|r|)·w = (∇P_lm(u)·w − l Y_lm u·w) / |r|
                            along = (Tc[0, lm, q] - l * yv * radial_rate) / d
                            for n in range(n_max):
                                R3_dot[lm, b, n] += (dgp[0, l, n] * radial_rate * yv
                                                     + gp[0, l, n] * along)
            s = species[c]
            n_s = block_count[s]
            base = L2 * Sn * block_start[s] + row[c - first] * Sn
            for lm in range(L2):
                at = base + lm * n_s * Sn
                out = R[at:at + Sn].reshape((S, n_max))
                for b in range(S):
                    for n in range(n_max):
                        out[b, n] = R3[lm, b, n]
                if mode == 1:
                    out = R_dot[at:at + Sn].reshape((S, n_max))
                    for b in range(S):
                        for n in range(n_max):
                            out[b, n] = R3_dot[lm, b, n]


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent blocks of centres
def pair_charges(offsets, neighbour_species, species, first, last, row, block_start, block_count,
                 l_max, A, u, Y, gY, g, dg, W):
    """``W[p, a, β] = Σ_{n,lm} A[c, a, lm, s(k)*n_max + n] ∂φ_{n,lm}(r_ck)/∂r_β`` for
    the pairs p = c→k of centres ``first..last-1``: the contribution of c to
    Z*_k (and −W to Z*_c), from the adjoint ``A`` (flat; species s holds a
    (3, L2, n_s, Sn) array from ``3*L2*Sn*block_start[s]``) and the pair values
    ``u, Y, gY, g, dg`` stored by :func:`pair_pass` (mode 2).

    The adjoint of a centre is first transposed to ``At[b, l, n, a (2l+1) + m]``, so
    that per pair ``AG[l, a, m] = Σ_n g_ln At[b, l, n, ·]`` (and ``ADG`` with g')
    are axpys over the contiguous (a, m) of an l-block; then
    ``W[a, β] = u_β Σ_lm ADG Y_lm + Σ_lm AG ∇_β Y_lm``.
    """
    n_centres = last - first
    S = block_count.shape[0]
    n_max = g.shape[2]
    Sn = S * n_max
    L2 = (l_max + 1) ** 2
    width = 3 * (2 * l_max + 1)
    base_pair = offsets[first]
    n_blocks = (n_centres + BLOCK - 1) // BLOCK
    for block in prange(n_blocks):
        At = np.empty((S, l_max + 1, n_max, width))
        AG = np.empty((l_max + 1, width))
        ADG = np.empty((l_max + 1, width))
        for c in range(first + block * BLOCK, min(first + (block + 1) * BLOCK, last)):
            s = species[c]
            n_s = block_count[s]
            base = 3 * L2 * Sn * block_start[s] + row[c - first] * Sn
            for a in range(3):
                for l in range(l_max + 1):
                    for m in range(2 * l + 1):
                        at = base + (a * L2 + l * l + m) * n_s * Sn
                        source = A[at:at + Sn].reshape((S, n_max))
                        j = a * (2 * l + 1) + m
                        for b in range(S):
                            for n in range(n_max):
                                At[b, l, n, j] = source[b, n]
            for p in range(offsets[c], offsets[c + 1]):
                q = p - base_pair
                b = neighbour_species[p]
                for l in range(l_max + 1):
                    size = 3 * (2 * l + 1)
                    for j in range(size):
                        AG[l, j] = 0.0
                        ADG[l, j] = 0.0
                    for n in range(n_max):
                        gv = g[q, l, n]
                        dgv = dg[q, l, n]
                        for j in range(size):
                            x = At[b, l, n, j]
                            AG[l, j] += gv * x
                            ADG[l, j] += dgv * x
                for a in range(3):
                    radial_part = 0.0
                    w0 = 0.0
                    w1 = 0.0
                    w2 = 0.0
                    for l in range(l_max + 1):
                        for m in range(2 * l + 1):
                            lm = l * l + m
                            j = a * (2 * l + 1) + m
                            ag = AG[l, j]
                            radial_part += ADG[l, j] * Y[q, lm]
                            w0 += ag * gY[q, lm, 0]
                            w1 += ag * gY[q, lm, 1]
                            w2 += ag * gY[q, lm, 2]
                    W[p, a, 0] = radial_part * u[q, 0] + w0
                    W[p, a, 1] = radial_part * u[q, 1] + w1
                    W[p, a, 2] = radial_part * u[q, 2] + w2


@njit(cache=True, fastmath=False)
def spread_coupling(XY, G, T, two_body, l_max, n_centres, A):
    """The adjoint ``A`` (flat (3, L2, n, Sn)) of the n centres of one species from
    ``XY``, which holds for l = 0 .. l_max−1 in turn ``X_l = R_{l+1} W_lᵀ``
    ((2l+3) rows) then ``Y_l = R_l W_l`` ((2l+1) rows), each row n·Sn long:
    ``A_l[a] += G[l, a] X_l``, ``A_{l+1}[a] += G[l, a]ᵀ Y_l`` and the 2-body part
    ``A_1[a, m] += T[a, m] two_body`` (every loop a long contiguous axpy)."""
    Sn = two_body.shape[0]
    L2 = (l_max + 1) ** 2
    width = n_centres * Sn
    for j in range(3 * L2 * width):
        A[j] = 0.0
    for a in range(3):
        for m in range(3):
            t = T[a, m]
            if t != 0.0:
                at = (a * L2 + 1 + m) * width
                target = A[at:at + width].reshape((n_centres, Sn))
                for c in range(n_centres):
                    for i in range(Sn):
                        target[c, i] += t * two_body[i]
    at_l = 0
    for l in range(l_max):
        lo = l * l
        hi = (l + 1) * (l + 1)
        at_y = at_l + (2 * l + 3) * width
        for a in range(3):
            for m in range(2 * l + 1):
                low = (a * L2 + lo + m) * width
                for mp in range(2 * l + 3):
                    coupling = G[l, a, m, mp]
                    if coupling != 0.0:
                        high = (a * L2 + hi + mp) * width
                        x = at_l + mp * width
                        y = at_y + m * width
                        # views: the inner loops then index with j alone
                        target = A[low:low + width]
                        source = XY[x:x + width]
                        for j in range(width):
                            target[j] += coupling * source[j]
                        target = A[high:high + width]
                        source = XY[y:y + width]
                        for j in range(width):
                            target[j] += coupling * source[j]
        at_l = at_y + (2 * l + 1) * width
