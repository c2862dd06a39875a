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
the work of contracting G first; :func:`predict` spreads them with
contiguous axpys, the linear route with one matrix product per l-block.

Two routes share this notation. :func:`predict` takes one coefficient set
per centre (the product model's effective coefficients) and does everything
of a centre in one pass over its pairs. With one coefficient set per species
(the linear model), :mod:`ase_dipole.descriptors.prediction` works on half
the pairs: a pair c→k and its reverse k→c have opposite vectors, so
φ(−r) = (−1)^l φ(r) and one evaluation serves both. :func:`pair_slots` picks
the pairs that get their own geometry, :func:`pair_geometry` evaluates their
harmonics (vectorised over blocks of pairs) and radial values (and, by mode,
the rate along the velocities or the gradient), :func:`accumulate_densities`
gathers each centre's density from them, laid out species-major; matrix
products (BLAS through numba's ``np.dot``, :func:`bilinear_sums`)
give μ, Ṗ and the adjoint, which :func:`pair_charges` contracts, for both
centres of a pair at once, with the kept pair values. No pair value is
evaluated twice and no derivative is formed that the mode does not need
(μ: none; Ṗ: one directional derivative per pair; Z*: the gradient).

Hot loops index arrays with the loop variable as the last index: a computed
index (``base + j``) costs numba a negative-index check per element, which
also stops LLVM from vectorising the loop; no array views are made in inner
loops (each costs a reference count) and no ``reshape`` per pair. LLVM
vectorises a loop of 16 or more iterations (4 lanes, interleaved 4) and
numba leaves superword (SLP) vectorisation off, so the long loops are over
(l, n) and pairs, and the hottest short ones (the radial rows of the
densities, the radial contraction and the sums of the pair charges) use the
explicit vectors of :mod:`~ase_dipole.descriptors.simd` (flat arrays,
computed offsets; same operations in the same order, so the same numbers).
"""

import numpy as np
from numba import njit, prange

from ase_dipole.descriptors.lambda_soap_numba import radial, solid_harmonics
from ase_dipole.descriptors.simd import LANES, contract, pair_charge_sums, sum_scaled_rows

#: centres handled by one task of the parallel loops (buffers are per task)
BLOCK = 16
#: pairs whose harmonics are computed together (vectorised across pairs)
BLOCK_PAIRS = 64


@njit(cache=True, fastmath=False)
def block_width(l):
    """The 3 (2l + 1) adjoint values of l-block ``l`` rounded up to whole
    vectors of :data:`~ase_dipole.descriptors.simd.LANES`: the row length of
    that block's plane in the adjoint :func:`pair_charges` reads (all of it)."""
    return -(-3 * (2 * l + 1) // LANES) * LANES


@njit(cache=True, fastmath=False)
def block_offset(l):
    """Σ_{l' < l} :func:`block_width` (l'): times n·Sn (n centres), where the
    plane of l-block ``l`` starts in the adjoint :func:`pair_charges` reads;
    with ``l = l_max + 1``, the adjoint's length over n·Sn."""
    total = 0
    for lower in range(l):
        total += block_width(lower)
    return total


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
    n_max = table.shape[2] // (l_max + 1)
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
        g_flat = np.empty((l_max + 1) * n_max)
        dg_flat = np.empty((l_max + 1) * n_max)
        g = g_flat.reshape((l_max + 1, n_max))
        dg = dg_flat.reshape((l_max + 1, n_max))
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
                radial(d, table, grid_step, g_flat, dg_flat, want_gradient)
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
def _coupled_sum(G, l, products, out):
    """``out[a] += Σ_{m, m'} G[l, a, m, m'] products[m, m']``."""
    for a in range(3):
        total = 0.0
        for m in range(products.shape[0]):
            for m_high in range(products.shape[1]):
                total += G[l, a, m, m_high] * products[m, m_high]
        out[a] += total


@njit(cache=True, fastmath=False)
def _two_body_sum(T, Rs, two_body_s, out):
    """``out += T (Σ_centres Rs[1:4]) two_body_s`` for one species block Rs (L2, n, Sn)."""
    for a in range(3):
        total = 0.0
        for m in range(3):
            partial = 0.0
            for c in range(Rs.shape[1]):
                for i in range(Rs.shape[2]):
                    partial += Rs[1 + m, c, i] * two_body_s[i]
            total += T[a, m] * partial
        out[a] += total


@njit(cache=True, fastmath=False)
def bilinear_sums(R, R_dot, want_rate, block_start, block_count, two_body, blocks, blocks_t, T, G, l_max,
                  XY, spread, spread_start, spread_rows, two_body_term, want_adjoint, At):
    """μ (3,) and Ṗ (3,) (zero unless ``want_rate``) of the centres whose
    densities ``R`` (and time derivatives ``R_dot``) are given (flat, species
    blocks (L2, n_s, Sn) from ``L2 Sn block_start[s]``), and with
    ``want_adjoint`` the adjoint into ``At``.

    Per species and l-block, ``Y_l = R_l W_l`` over all its centres (BLAS
    through ``np.dot``); the 3-body dipole is ``Σ G[l, a, m, m'] ⟨Y_l[m],
    R_{l+1}[m']⟩``, its rate adds ``⟨Ẏ_l[m], R_{l+1}[m']⟩ + ⟨Y_l[m],
    Ṙ_{l+1}[m']⟩``. The adjoint also needs ``X_l = R_{l+1} W_lᵀ``; then each
    of its l-blocks is one more product per species, of the rows ``Y_{l−1},
    X_l`` (adjacent in ``XY``, scratch of ``2 l_max² + 6 l_max`` rows of
    n_s·Sn) with the matrix ``spread[spread_start[l]:]`` (``spread_rows[l]`` ×
    :func:`block_width` (l), from
    :func:`~ase_dipole.descriptors.prediction.spread_matrices`), written
    straight into the l-plane of ``At`` that :func:`pair_charges` reads (rows
    in species-block order), plus the 2-body term ``two_body_term[s]``
    (Sn, block_width(1)) in plane 1.
    """
    S, Sn = two_body.shape
    L2 = (l_max + 1) ** 2
    n_rows = 0
    for s in range(S):
        n_rows += block_count[s]
    dipole = np.zeros(3)
    pdot = np.zeros(3)
    for s in range(S):
        n = block_count[s]
        if n == 0:
            continue
        start = block_start[s]
        first, last = L2 * Sn * start, L2 * Sn * (start + n)
        Rs = R[first:last].reshape((L2, n, Sn))
        _two_body_sum(T, Rs, two_body[s], dipole)
        Rds = R_dot[first:last].reshape((L2, n, Sn)) if want_rate else Rs
        if want_rate:
            _two_body_sum(T, Rds, two_body[s], pdot)
        at = 0
        for l in range(l_max):
            lo, hi, n_lo, n_hi = l * l, (l + 1) * (l + 1), 2 * l + 1, 2 * l + 3
            upper = Rs[hi:hi + n_hi].reshape((n_hi, n * Sn))
            if want_adjoint:
                np.dot(upper.reshape((n_hi * n, Sn)), blocks_t[s, l],
                       XY[at: at + n_hi * n * Sn].reshape((n_hi * n, Sn)))
                at += n_hi * n * Sn
            Y = XY[at: at + n_lo * n * Sn].reshape((n_lo * n, Sn))
            np.dot(Rs[lo:hi].reshape((n_lo * n, Sn)), blocks[s, l], Y)
            at += n_lo * n * Sn
            Y = Y.reshape((n_lo, n * Sn))
            _coupled_sum(G, l, np.dot(Y, upper.T), dipole)
            if want_rate:
                Y_dot = XY[at: at + n_lo * n * Sn].reshape((n_lo * n, Sn))
                np.dot(Rds[lo:hi].reshape((n_lo * n, Sn)), blocks[s, l], Y_dot)
                rates = (np.dot(Y_dot.reshape((n_lo, n * Sn)), upper.T)
                         + np.dot(Y, Rds[hi:hi + n_hi].reshape((n_hi, n * Sn)).T))
                _coupled_sum(G, l, rates, pdot)
        if want_adjoint:
            first_row = 0
            for l in range(l_max + 1):
                width = block_width(l)
                plane = n_rows * Sn * block_offset(l)
                rows = spread_rows[l]
                block = At[plane + start * Sn * width: plane + (start + n) * Sn * width]
                block = block.reshape((n * Sn, width))
                coupling = spread[spread_start[l]: spread_start[l] + rows * width].reshape((rows, width))
                np.dot(XY[first_row * n * Sn: (first_row + rows) * n * Sn].reshape((rows, n * Sn)).T,
                       coupling, block)
                if l == 1:
                    term = two_body_term[s]
                    for c in range(n):
                        for i in range(Sn):
                            for j in range(width):
                                block[c * Sn + i, j] += term[i, j]
                first_row += rows
    return dipole, pdot


@njit(cache=True, fastmath=False)
def species_rows(species, first, last, n_species, block_start, block_count, row, centre_of_row):
    """Rows of centres ``first..last-1`` in species-major order: ``row[c − first]``
    is the position of centre c among the centres of its species in that
    range, species s occupies rows ``block_start[s] .. block_start[s] +
    block_count[s]``, and ``centre_of_row[block_start[s] + r]`` is the centre
    of row r of species s."""
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
    for c in range(first, last):
        s = species[c]
        centre_of_row[block_start[s] + row[c - first]] = c


@njit(cache=True, fastmath=False)
def pair_slots(offsets, neighbours, reverse, first, last, slot, slot_pair, slot_centre):
    """Which pairs of centres ``first..last-1`` get their own geometry, and where.

    A pair p = c→k is *owned* when k lies outside the range or ``p <
    reverse[p]``; owned pair number s has ``slot[p − offsets[first]] = s``,
    ``slot_pair[s] = p`` and ``slot_centre[s] = c``. Any other pair is the
    mirror of an owned one (its reverse, in the range) and gets ``−1 − s`` of
    that one: its vector is −r, so its harmonics are (−1)^l those of r.
    Returns the number of owned pairs. One pass: a mirror's reverse comes
    before it in the list (a smaller index), so its slot is already known.
    """
    base = offsets[first]
    n = 0
    for c in range(first, last):
        for p in range(offsets[c], offsets[c + 1]):
            k = neighbours[p]
            if k < first or k >= last or p < reverse[p]:
                slot[p - base] = n
                slot_pair[n] = p
                slot_centre[n] = c
                n += 1
            else:
                slot[p - base] = -1 - slot[reverse[p] - base]
    return n


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent blocks of pairs
def pair_geometry(vectors, neighbours, slot_pair, slot_centre, n_slots, velocities, table,
                  grid_step, l_max, norm, mode, ladder_target, ladder_source, ladder_coefficient, u, Y, gY,
                  g, dg):
    """Harmonics and radial values of the owned pairs (from :func:`pair_slots`).

    Parameters
    ----------
    vectors, neighbours : the neighbour list's.
    velocities : (N, 3) Å/fs (mode 1) or empty.
    mode : 0 μ; 1 also the rates along w = v_k − v_c; 2 also the gradients.
    ladder_target, ladder_source, ladder_coefficient : from
        :func:`~ase_dipole.descriptors.basis.gradient_ladder` (mode 2).

    Outputs, one row per slot s: ``Y[s, lm]`` and ``g[s, l, n]`` always; mode 1
    ``gY[s, lm, 0]`` = ∇Y_lm(r/|r|)·w and ``dg[s, l, n]`` = g'_ln (r̂·w);
    mode 2 ``u[s]`` = r̂, ``gY[s, lm, β]`` = ∂_β Y_lm(r/|r|) (and ``gY[s, lm, 3]``
    = Y_lm, for :func:`~ase_dipole.descriptors.simd.pair_charge_sums`) and ``dg`` = g'.

    The harmonics of :data:`BLOCK_PAIRS` pairs at a time come from
    :func:`harmonics_block` (with the tangent w in mode 1), their gradients
    (mode 2) from the ``ladder_*`` terms of
    :func:`~ase_dipole.descriptors.basis.gradient_ladder` (harmonics one degree
    lower), the radial values from
    :func:`~ase_dipole.descriptors.lambda_soap_numba.radial`.
    """
    n_max = table.shape[2] // (l_max + 1)
    L2 = (l_max + 1) ** 2
    n_tangents = 1 if mode == 1 else 0
    g_rows = g.reshape((g.shape[0], g.shape[1] * g.shape[2]))
    dg_rows = dg.reshape((dg.shape[0], dg.shape[1] * dg.shape[2]))
    n_blocks = (n_slots + BLOCK_PAIRS - 1) // BLOCK_PAIRS
    for block in prange(n_blocks):
        Q = np.empty((l_max + 1, l_max + 1, BLOCK_PAIRS))
        Qt = np.empty((1, l_max + 1, l_max + 1, BLOCK_PAIRS))  # the tangent recursion (mode 1)
        cs = np.empty((l_max + 1, 2, BLOCK_PAIRS))
        cst = np.empty((1, l_max + 1, 2, BLOCK_PAIRS))
        x = np.empty(BLOCK_PAIRS)
        y = np.empty(BLOCK_PAIRS)
        z = np.empty(BLOCK_PAIRS)
        distance = np.empty(BLOCK_PAIRS)
        radial_rate = np.empty(BLOCK_PAIRS)
        inverse_distance = np.empty(BLOCK_PAIRS)
        tx = np.zeros((1, BLOCK_PAIRS))
        ty = np.zeros((1, BLOCK_PAIRS))
        tz = np.zeros((1, BLOCK_PAIRS))
        Yb = np.empty((L2, BLOCK_PAIRS))
        Tb = np.empty((3, L2, BLOCK_PAIRS))
        no_derivative = np.empty((l_max + 1) * n_max)
        first = block * BLOCK_PAIRS
        n = min(BLOCK_PAIRS, n_slots - first)
        for q in range(n):
            p = slot_pair[first + q]
            d = np.sqrt(vectors[p, 0] ** 2 + vectors[p, 1] ** 2 + vectors[p, 2] ** 2)
            distance[q] = d
            inverse_distance[q] = 1.0 / d
            x[q] = vectors[p, 0] / d
            y[q] = vectors[p, 1] / d
            z[q] = vectors[p, 2] / d
        if mode == 1:
            for q in range(n):
                p = slot_pair[first + q]
                c = slot_centre[first + q]
                k = neighbours[p]
                tx[0, q] = velocities[k, 0] - velocities[c, 0]
                ty[0, q] = velocities[k, 1] - velocities[c, 1]
                tz[0, q] = velocities[k, 2] - velocities[c, 2]
        harmonics_block(n, x, y, z, l_max, norm, n_tangents, tx, ty, tz, Yb, Tb, Q, Qt, cs, cst)
        if mode == 2:  # ∇P_lm(u) from the harmonics one degree lower
            gradient_rows = Tb.reshape((3 * L2, BLOCK_PAIRS))
            for row in range(3 * L2):
                for q in range(n):
                    gradient_rows[row, q] = 0.0
            for t in range(ladder_target.shape[0]):
                row = ladder_target[t]
                lower = ladder_source[t]
                coefficient = ladder_coefficient[t]
                for q in range(n):
                    gradient_rows[row, q] += coefficient * Yb[lower, q]
        for q in range(n):
            radial(distance[q], table, grid_step, g_rows[first + q],
                   dg_rows[first + q] if mode > 0 else no_derivative, mode > 0)
        # gradients (or rates) pair-last, as in harmonics_block, then stored per slot
        if mode == 1:
            for q in range(n):
                radial_rate[q] = x[q] * tx[0, q] + y[q] * ty[0, q] + z[q] * tz[0, q]
            # ∇Y_lm(r/|r|)·w = (∇P_lm(u)·w − l Y_lm u·w) / |r|
            for l in range(l_max + 1):
                for lm in range(l * l, (l + 1) * (l + 1)):
                    for q in range(n):
                        Tb[0, lm, q] = (Tb[0, lm, q] - l * Yb[lm, q] * radial_rate[q]) * inverse_distance[q]
        elif mode == 2:
            # gradient of Y_lm(r/|r|): (∇P_lm(u) − l Y_lm u) / |r|
            for l in range(l_max + 1):
                for lm in range(l * l, (l + 1) * (l + 1)):
                    for q in range(n):
                        Tb[0, lm, q] = (Tb[0, lm, q] - l * Yb[lm, q] * x[q]) * inverse_distance[q]
                    for q in range(n):
                        Tb[1, lm, q] = (Tb[1, lm, q] - l * Yb[lm, q] * y[q]) * inverse_distance[q]
                    for q in range(n):
                        Tb[2, lm, q] = (Tb[2, lm, q] - l * Yb[lm, q] * z[q]) * inverse_distance[q]
        for q in range(n):
            s = first + q
            for lm in range(L2):
                Y[s, lm] = Yb[lm, q]
            if mode == 1:
                rates = dg_rows[s]
                for i in range(rates.shape[0]):
                    rates[i] *= radial_rate[q]
                for lm in range(L2):
                    gY[s, lm, 0] = Tb[0, lm, q]
            elif mode == 2:
                u[s, 0] = x[q]
                u[s, 1] = y[q]
                u[s, 2] = z[q]
                for lm in range(L2):
                    gY[s, lm, 0] = Tb[0, lm, q]
                    gY[s, lm, 1] = Tb[1, lm, q]
                    gY[s, lm, 2] = Tb[2, lm, q]
                    gY[s, lm, 3] = Yb[lm, q]


@njit(cache=True, fastmath=False)
def pairs_by_species(offsets, neighbour_species, slot, base_pair, c, L2, l_max, n_max, species_start,
                     row_of, y_of, odd_sign):
    """The pairs of centre c ordered by neighbour species (stably): those of
    species b are ``species_start[b] .. species_start[b + 1] − 1``, pair j's
    radial values start at ``g_flat[row_of[j]]``, its harmonics at
    ``Y_flat[y_of[j]]``, and ``odd_sign[j]`` is −1 for a mirrored pair (the
    factor of its odd l), else 1."""
    S = species_start.shape[0] - 1
    for b in range(S + 1):
        species_start[b] = 0
    for p in range(offsets[c], offsets[c + 1]):
        species_start[neighbour_species[p] + 1] += 1
    for b in range(S):
        species_start[b + 1] += species_start[b]
    for p in range(offsets[c], offsets[c + 1]):
        b = neighbour_species[p]
        j = species_start[b]
        species_start[b] += 1
        s = slot[p - base_pair]
        odd_sign[j] = 1.0
        if s < 0:
            s = -1 - s
            odd_sign[j] = -1.0
        row_of[j] = s * (l_max + 1) * n_max
        y_of[j] = s * L2
    for b in range(S, 0, -1):
        species_start[b] = species_start[b - 1]
    species_start[0] = 0


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent blocks of centres
def accumulate_densities(offsets, neighbour_species, species, first, last, slot, row,
                         block_start, block_count, l_max, mode, Y, gY, g, dg, R, R_dot):
    """Densities of centres ``first..last-1`` (and, mode 1, their time
    derivative) from the pair values of :func:`pair_geometry`, a mirrored pair
    (negative ``slot``) with the factor (−1)^l.

    R, R_dot : flat outputs; species s holds a (L2, n_s, Sn) array starting at
        ``L2*Sn*block_start[s]`` (``R[lm, row, b*n_max + n]``), rows from
        :func:`species_rows`.

    Each row ``R[lm, row, b*n_max + n]`` is one sum over the pairs of neighbour
    species b (in pair order, from :func:`pairs_by_species`), kept in vector
    registers eight radial indices at a time, then four, then one
    (:mod:`~ase_dipole.descriptors.simd`), two lm rows together (one load of
    each pair's radial values, two independent sums), and stored once.
    """
    n_centres = last - first
    n_max = g.shape[2]
    S = block_count.shape[0]
    Sn = S * n_max
    L2 = (l_max + 1) ** 2
    base_pair = offsets[first]
    g_flat = g.reshape(-1)
    dg_flat = dg.reshape(-1)
    Y_flat = Y.reshape(-1)
    gY_flat = gY.reshape(-1)
    most_pairs = 0
    for c in range(first, last):
        most_pairs = max(most_pairs, offsets[c + 1] - offsets[c])
    n_blocks = (n_centres + BLOCK - 1) // BLOCK
    for block in prange(n_blocks):
        species_start = np.empty(S + 1, dtype=np.int64)
        row_of = np.empty(most_pairs, dtype=np.int64)
        y_of = np.empty(most_pairs, dtype=np.int64)
        odd_sign = np.empty(most_pairs)
        even_sign = np.ones(most_pairs)
        for c in range(first + block * BLOCK, min(first + (block + 1) * BLOCK, last)):
            pairs_by_species(offsets, neighbour_species, slot, base_pair, c, L2, l_max, n_max,
                             species_start, row_of, y_of, odd_sign)
            stride = block_count[species[c]] * Sn  # from one lm row of the block to the next
            base = L2 * Sn * block_start[species[c]] + row[c - first] * Sn
            for l in range(l_max + 1):
                sign = odd_sign if l % 2 == 1 else even_sign
                last_lm = (l + 1) * (l + 1) - 1
                for b in range(S):
                    start = species_start[b]
                    count = species_start[b + 1] - start
                    for lm in range(l * l, last_lm + 1, 2):  # rows two at a time, the l-block's last alone
                        o = base + lm * stride + b * n_max
                        shift = l * n_max
                        if mode == 1 and lm < last_lm:
                            sum_scaled_rows(2, True, R, R_dot, o, stride, g_flat, dg_flat, row_of, shift,
                                            Y_flat, gY_flat, y_of, lm, sign, start, count, n_max)
                        elif mode == 1:
                            sum_scaled_rows(1, True, R, R_dot, o, stride, g_flat, dg_flat, row_of, shift,
                                            Y_flat, gY_flat, y_of, lm, sign, start, count, n_max)
                        elif lm < last_lm:
                            sum_scaled_rows(2, False, R, R_dot, o, stride, g_flat, dg_flat, row_of, shift,
                                            Y_flat, gY_flat, y_of, lm, sign, start, count, n_max)
                        else:
                            sum_scaled_rows(1, False, R, R_dot, o, stride, g_flat, dg_flat, row_of, shift,
                                            Y_flat, gY_flat, y_of, lm, sign, start, count, n_max)


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent blocks of centres
def pair_charges(offsets, neighbours, neighbour_species, species, first, last, slot, row, block_start,
                 l_max, At, u, Y, gY, g, dg, W):
    """Pair charges of the owned pairs of centres ``first..last-1`` (from
    :func:`pair_slots`), with the adjoint ``At`` of
    :func:`bilinear_sums` and the pair
    values of :func:`pair_geometry` (mode 2).

    ``At`` (flat) holds one plane per l-block, from ``n Sn`` :func:`block_offset`
    (l) on (n the centres of the range), as (n, Sn, :func:`block_width` (l)):
    ``[r, b n_max + n, a (2l+1) + m] = ∂μ_a / ∂R_c[lm, b n]`` for the centre c
    of row ``r = block_start[s(c)] + row[c − first]`` (:func:`species_rows`).

    ``W[p]`` is what pair p = c→k adds to Z*_k (and subtracts from Z*_c): for
    k outside the range ``Σ_{n,lm} A_c[a, lm, s(k) n] ∂_β φ_nlm(r)``; for k in
    it, the reverse's share too: ``Σ (A_c[a, lm, s(k) n] + (−1)^l A_k[a, lm,
    s(c) n]) ∂_β φ_nlm(r)``, and ``W[reverse[p]] = 0`` (written by the task of
    k, so no task writes another's rows). Per pair
    ``AG[l, a (2l+1) + m] = Σ_n g_ln x`` (``ADG`` with g'), eight or four
    (a, m) at a time in vector registers (:mod:`~ase_dipole.descriptors.simd`),
    then ``W[a, β] = u_β Σ_lm ADG Y_lm + Σ_lm AG ∂_β Y_lm``.
    """
    n_centres = last - first
    n_max = g.shape[2]
    S = block_start.shape[0]
    Sn = S * n_max
    g_flat = g.reshape(-1)
    dg_flat = dg.reshape(-1)
    base_pair = offsets[first]
    widest = block_width(l_max)
    L2 = (l_max + 1) ** 2
    W_flat = W.reshape(-1)
    gY_flat = gY.reshape(-1)
    u_flat = u.reshape(-1)
    n_blocks = (n_centres + BLOCK - 1) // BLOCK
    for block in prange(n_blocks):
        AG = np.empty((l_max + 1) * widest)
        ADG = np.empty((l_max + 1) * widest)
        for c in range(first + block * BLOCK, min(first + (block + 1) * BLOCK, last)):
            bc = species[c]
            own_row = block_start[bc] + row[c - first]
            for p in range(offsets[c], offsets[c + 1]):
                s = slot[p - base_pair]
                if s < 0:  # the mirror of an owned pair, whose W carries both shares
                    for a in range(3):
                        for beta in range(3):
                            W[p, a, beta] = 0.0
                    continue
                k = neighbours[p]
                b = neighbour_species[p]
                inside = k >= first and k < last
                other_row = block_start[species[k]] + row[k - first] if inside else 0
                for l in range(l_max + 1):
                    o = l * widest
                    width = block_width(l)  # whole vectors: the contraction reads them all
                    plane = n_centres * Sn * block_offset(l)
                    own = plane + (own_row * Sn + b * n_max) * width
                    other = plane + (other_row * Sn + bc * n_max) * width
                    radial = (s * (l_max + 1) + l) * n_max
                    if not inside:
                        contract(0, AG, ADG, o, At, own, other, width, g_flat, dg_flat, radial, n_max, width)
                    elif l % 2 == 0:
                        contract(1, AG, ADG, o, At, own, other, width, g_flat, dg_flat, radial, n_max, width)
                    else:
                        contract(2, AG, ADG, o, At, own, other, width, g_flat, dg_flat, radial, n_max, width)
                pair_charge_sums(W_flat, 9 * p, AG, ADG, widest, gY_flat, 4 * L2 * s, u_flat, 3 * s, l_max)
