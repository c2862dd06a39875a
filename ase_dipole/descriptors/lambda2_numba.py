"""numba kernels of the λ = 0 ⊕ λ = 2 descriptor of :mod:`ase_dipole.descriptors.lambda2`:
arithmetic only, preallocated outputs.

Per centre j and neighbour-species/radial channel p = b·n_max + n, the
densities (Cartesian form of the l = 0, 1, 2 densities of λ-SOAP)

    s[p]       = Σ_{k of species b} g_n0(r_jk)
    v[p, a]    = Σ_k g_n1(r_jk) u_a
    t[p, a, b] = Σ_k g_n2(r_jk) (u_a u_b − δ_ab/3)          (u = r̂_jk)

give the λ = 2 features (3×3 symmetric traceless)

    t[p]                                   p = 0 .. P−1                  (2-body)
    v[p] ⊗ v[q] + v[q] ⊗ v[p]) / 2 − (v[p]·v[q]) 1/3   p ≤ q            (3-body, 1 ⊗ 1 → 2)
    s[p] t[q]                                             all p, q        (3-body, 0 ⊗ 2 → 2)

and the λ = 0 features

    1,  s[p],  v[p]·v[q] (p ≤ q),  t[p]:t[q] (p ≤ q).

Outputs are summed over the centres of each species s (what a per-species
linear model needs): ``D2[s, f, a, b]``, ``D0[s, f]`` and their gradients
``G2[k, c, s, f, a, b] = Σ_{j of s} ∂D2/∂x_kc``, ``G0[k, c, s, f]``.
"""

import numpy as np
from numba import njit

from ase_dipole.descriptors.lambda_soap_numba import radial


@njit(cache=True, fastmath=False)
def _pair(vector, table, grid_step, n_max, g, dg, ps, pv, pt, ds, dv, dt, want_gradient):
    """One pair's contributions to s, v, t (ps (n,), pv (n, 3), pt (n, 3, 3))
    and their derivatives with respect to the pair vector (ds (n, 3),
    dv (n, 3, 3) [n, a, c], dt (n, 3, 3, 3) [n, a, b, c])."""
    r = np.sqrt(vector[0] ** 2 + vector[1] ** 2 + vector[2] ** 2)
    u = vector / r
    radial(r, table, grid_step, g, dg, want_gradient)
    for n in range(n_max):
        g0 = g[n]
        g1 = g[n_max + n]
        g2 = g[2 * n_max + n]
        ps[n] = g0
        for a in range(3):
            pv[n, a] = g1 * u[a]
            for b in range(3):
                pt[n, a, b] = g2 * (u[a] * u[b] - (1.0 / 3.0 if a == b else 0.0))
        if want_gradient:
            d0 = dg[n]
            d1 = dg[n_max + n]
            d2 = dg[2 * n_max + n]
            for c in range(3):
                ds[n, c] = d0 * u[c]
            for a in range(3):
                for c in range(3):
                    projector = (1.0 if a == c else 0.0) - u[a] * u[c]  # r ∂u_a/∂r_c
                    dv[n, a, c] = d1 * u[a] * u[c] + g1 * projector / r
            for a in range(3):
                for b in range(3):
                    traceless = u[a] * u[b] - (1.0 / 3.0 if a == b else 0.0)
                    for c in range(3):
                        du_a = ((1.0 if a == c else 0.0) - u[a] * u[c]) / r
                        du_b = ((1.0 if b == c else 0.0) - u[b] * u[c]) / r
                        dt[n, a, b, c] = d2 * u[c] * traceless + g2 * (du_a * u[b] + u[a] * du_b)


@njit(cache=True, fastmath=False)
def _centre_densities(j, offsets, vectors, neighbour_species, table, grid_step, n_max, g, dg,
                      ps, pv, pt, ds, dv, dt, s, v, t):
    s[:] = 0.0
    v[:] = 0.0
    t[:] = 0.0
    for pair in range(offsets[j], offsets[j + 1]):
        _pair(vectors[pair], table, grid_step, n_max, g, dg, ps, pv, pt, ds, dv, dt, False)
        base = neighbour_species[pair] * n_max
        for n in range(n_max):
            s[base + n] += ps[n]
            v[base + n] += pv[n]
            t[base + n] += pt[n]


@njit(cache=True, fastmath=False)
def features(offsets, neighbours, vectors, species, neighbour_species, table, grid_step, n_max, pair_index,
             D2, D0, G2, G0, want_gradient):
    """Species-summed features D2 (S, F2, 3, 3), D0 (S, F0) and, if
    ``want_gradient``, their gradients G2 (N, 3, S, F2, 3, 3), G0 (N, 3, S, F0);
    all outputs are cleared first. ``pair_index[p, q]`` numbers the pairs p ≤ q
    (symmetric, P × P). Serial: a clear reference implementation."""
    P = pair_index.shape[0]
    n_pairs = P * (P + 1) // 2
    base_b = P
    base_c = P + n_pairs
    base_vv = 1 + P
    base_tt = 1 + P + n_pairs
    D2[:] = 0.0
    D0[:] = 0.0
    if want_gradient:
        G2[:] = 0.0
        G0[:] = 0.0
    L = table.shape[2]
    g = np.empty(L)
    dg = np.empty(L)
    ps = np.empty(n_max)
    pv = np.empty((n_max, 3))
    pt = np.empty((n_max, 3, 3))
    ds = np.empty((n_max, 3))
    dv = np.empty((n_max, 3, 3))
    dt = np.empty((n_max, 3, 3, 3))
    s = np.empty(P)
    v = np.empty((P, 3))
    t = np.empty((P, 3, 3))
    dD2 = np.empty((3, 3, 3))  # [a, b, c]
    for j in range(len(offsets) - 1):
        sj = species[j]
        _centre_densities(j, offsets, vectors, neighbour_species, table, grid_step, n_max, g, dg,
                          ps, pv, pt, ds, dv, dt, s, v, t)
        # features
        D0[sj, 0] += 1.0
        for p in range(P):
            D0[sj, 1 + p] += s[p]
            for a in range(3):
                for b in range(3):
                    D2[sj, p, a, b] += t[p, a, b]
        for p in range(P):
            for q in range(p, P):
                f = pair_index[p, q]
                dot = v[p, 0] * v[q, 0] + v[p, 1] * v[q, 1] + v[p, 2] * v[q, 2]
                contraction = 0.0
                for a in range(3):
                    for b in range(3):
                        contraction += t[p, a, b] * t[q, a, b]
                        D2[sj, base_b + f, a, b] += 0.5 * (v[p, a] * v[q, b] + v[q, a] * v[p, b]) - (
                            dot / 3.0 if a == b else 0.0)
                D0[sj, base_vv + f] += dot
                D0[sj, base_tt + f] += contraction
            for q in range(P):
                for a in range(3):
                    for b in range(3):
                        D2[sj, base_c + p * P + q, a, b] += s[p] * t[q, a, b]
        if not want_gradient:
            continue
        # gradients: every pair j→k moves the channels p of k's species;
        # ∂/∂x_k = +∂/∂r_jk and ∂/∂x_j = −∂/∂r_jk
        for pair in range(offsets[j], offsets[j + 1]):
            _pair(vectors[pair], table, grid_step, n_max, g, dg, ps, pv, pt, ds, dv, dt, True)
            k = neighbours[pair]
            base = neighbour_species[pair] * n_max
            for n in range(n_max):
                _add_channel_gradient(G2, G0, sj, k, j, base + n, n, P, pair_index, base_b, base_c,
                                      base_vv, base_tt, s, v, t, ds, dv, dt, dD2)


@njit(cache=True, fastmath=False)
def _accumulate2(G2, sj, k, j, f, dD2):
    for c in range(3):
        for a in range(3):
            for b in range(3):
                G2[k, c, sj, f, a, b] += dD2[a, b, c]
                G2[j, c, sj, f, a, b] -= dD2[a, b, c]


@njit(cache=True, fastmath=False)
def _add_channel_gradient(G2, G0, sj, k, j, p, n, P, pair_index, base_b, base_c, base_vv, base_tt,
                          s, v, t, ds, dv, dt, dD2):
    """Add the derivatives of every feature of centre j (species sj) that
    depends on channel p, through the pair j→k (ds[n], dv[n], dt[n])."""
    # 2-body λ = 2: t[p]
    for a in range(3):
        for b in range(3):
            for c in range(3):
                dD2[a, b, c] = dt[n, a, b, c]
    _accumulate2(G2, sj, k, j, p, dD2)
    for c in range(3):
        G0[k, c, sj, 1 + p] += ds[n, c]
        G0[j, c, sj, 1 + p] -= ds[n, c]
    for q in range(P):
        factor = 2.0 if q == p else 1.0
        f = pair_index[p, q]
        # 1 ⊗ 1 → 2 and v·v
        for c in range(3):
            dot = 0.0
            for a in range(3):
                dot += v[q, a] * dv[n, a, c]
            for a in range(3):
                for b in range(3):
                    dD2[a, b, c] = factor * (0.5 * (dv[n, a, c] * v[q, b] + v[q, a] * dv[n, b, c])
                                             - (dot / 3.0 if a == b else 0.0))
            G0[k, c, sj, base_vv + f] += factor * dot
            G0[j, c, sj, base_vv + f] -= factor * dot
            contraction = 0.0
            for a in range(3):
                for b in range(3):
                    contraction += t[q, a, b] * dt[n, a, b, c]
            G0[k, c, sj, base_tt + f] += factor * contraction
            G0[j, c, sj, base_tt + f] -= factor * contraction
        _accumulate2(G2, sj, k, j, base_b + f, dD2)
        # 0 ⊗ 2 → 2: s[p] t[q] (p in the s slot) and s[q] t[p] (p in the t slot)
        for a in range(3):
            for b in range(3):
                for c in range(3):
                    dD2[a, b, c] = ds[n, c] * t[q, a, b]
        _accumulate2(G2, sj, k, j, base_c + p * P + q, dD2)
        for a in range(3):
            for b in range(3):
                for c in range(3):
                    dD2[a, b, c] = s[q] * dt[n, a, b, c]
        _accumulate2(G2, sj, k, j, base_c + q * P + p, dD2)


@njit(cache=True, fastmath=False)
def _traceless_add(out, weight, a_vec, b_vec):
    """out += weight · traceless part of (a bᵀ + b aᵀ) (3 × 3)."""
    dot = a_vec[0] * b_vec[0] + a_vec[1] * b_vec[1] + a_vec[2] * b_vec[2]
    for a in range(3):
        for b in range(3):
            out[a, b] += weight * (a_vec[a] * b_vec[b] + b_vec[a] * a_vec[b]
                                   - (2.0 * dot / 3.0 if a == b else 0.0))


#: what :func:`predict` computes besides α
VALUE, RATE, GRADIENT = 0, 1, 2


@njit(cache=True, fastmath=False)
def _pair_values(offsets, vectors, j, table, grid_step, want_derivative, g, dg, distance, unit, radial_g,
                 radial_dg):
    """Distance (n,), unit vector (n, 3) and radial values (n, L) (and their
    r-derivatives) of the n pairs of centre j, row ``pair − offsets[j]``."""
    L = g.shape[0]
    for pair in range(offsets[j], offsets[j + 1]):
        row = pair - offsets[j]
        r = np.sqrt(vectors[pair, 0] ** 2 + vectors[pair, 1] ** 2 + vectors[pair, 2] ** 2)
        distance[row] = r
        for a in range(3):
            unit[row, a] = vectors[pair, a] / r
        radial(r, table, grid_step, g, dg, want_derivative)
        for index in range(L):
            radial_g[row, index] = g[index]
        if want_derivative:
            for index in range(L):
                radial_dg[row, index] = dg[index]


@njit(cache=True, fastmath=False)
def _directional(u, r, w, sums, out):
    """out (3, 3) = Σ_c ∂α/∂r_c w_c of one pair (r_jk = x_k − x_j, unit vector
    u, length r Å) from its n-summed coefficient sums (see :func:`predict`):
    the derivative of α along the pair-vector change w."""
    A_d2, A_g2, scalar_d = sums[0], sums[1], sums[2]
    uw = u[0] * w[0] + u[1] * w[1] + u[2] * w[2]
    # d_scalar along w: c0 d0 u·w + 2 gv·dv w + 2 ht:dt w (summed over n)
    d_scalar = scalar_d * uw
    for a in range(3):
        d_scalar += 2.0 * (sums[3 + a] - sums[6] * u[a]) * w[a] / r  # GVg·w − (GVg·u) u·w
        d_scalar += 4.0 * (sums[8 + a] - sums[7] * u[a]) * w[a] / r  # (HTg u)·w − (u HTg u) u·w
    qw0, qw1, qw2 = u[0] * uw, u[1] * uw, u[2] * uw
    pw0, pw1, pw2 = (w[0] - qw0) / r, (w[1] - qw1) / r, (w[2] - qw2) / r
    qw = (qw0, qw1, qw2)
    pw = (pw0, pw1, pw2)
    trace_fix = 0.0
    for a in range(3):
        trace_fix += qw[a] * sums[11 + a] + pw[a] * sums[14 + a]  # qw·Md + pw·Mg
    d_scalar -= 2.0 * trace_fix / 3.0
    for a in range(3):
        for b in range(3):
            value = (A_d2 * uw * (u[a] * u[b] - (1.0 / 3.0 if a == b else 0.0))
                     + A_g2 / r * (w[a] * u[b] + u[a] * w[b] - 2.0 * u[a] * u[b] * uw)
                     + uw * sums[17 + 3 * a + b]
                     + qw[a] * sums[11 + b] + pw[a] * sums[14 + b] + qw[b] * sums[11 + a] + pw[b] * sums[14 + a])
            out[a, b] = value + (d_scalar if a == b else 0.0)


@njit(cache=True, fastmath=False)
def predict(offsets, neighbours, vectors, species, neighbour_species, table, grid_step, n_max,
            pair_index, c2, c0, mode, velocities, alpha, rate, dalpha):
    """α (3, 3) and, by ``mode``, α̇ = Σ_k ∂α/∂x_k·v_k (3, 3) (:data:`RATE`,
    ``velocities`` (N, 3)) or ∂α/∂x (N, 3, 3, 3) ``[k, a, b, c]``
    (:data:`GRADIENT`) of the linear model with per-species coefficients
    c2 (S, F2), c0 (S, F0), without forming feature gradients (outputs are
    cleared first; the unused one may be empty).

    Per centre the coefficients are folded into the densities once,
    m_p = Σ_q M_pq v_q (M_pq = b_pq/2 off the diagonal, b_pp on it, b the
    1 ⊗ 1 coefficients), τ_q = c_q + Σ_p e_pq s_p and z_p = Σ_q e_pq t_q (c the
    2-body, e the 0 ⊗ 2 ones), and likewise for the scalar products. Each pair's radial
    values are evaluated once, and its derivative terms summed over the
    radial index n before the angular factors are formed:

    .. math::

        \\frac{\\partial\\alpha_{ab}}{\\partial r_c} = \\sum_n \\Big[
            \\tau_p \\frac{\\partial t_{ab}}{\\partial r_c} + z_{p,ab} \\frac{\\partial s}{\\partial r_c}
            + \\mathrm{TL}\\Big(\\frac{\\partial v}{\\partial r_c} m_p^T
            + m_p \\frac{\\partial v^T}{\\partial r_c}\\Big)_{ab}
            + \\delta_{ab} \\frac{\\partial\\sigma_p}{\\partial r_c}\\Big],

    where σ_p is channel p's share of the scalar (λ = 0) part,
    ∂s/∂r = d0 u, ∂v_a/∂r_c = d1 u_a u_c + g1 (δ_ac − u_a u_c)/r and
    ∂t_ab/∂r_c = d2 u_c (u_a u_b − δ_ab/3) + g2 (δ_ac u_b + u_a δ_bc − 2 u_a u_b u_c)/r
    are linear in the radial values (g, d = dg/dr) of channel p = b·n_max + n,
    so the n-sums of coefficient × radial value (26 numbers, ``sums``) carry
    all of the pair's n-dependence: O(n_max) work per pair plus one 3×3×3
    angular contraction (:func:`_directional`), and for α̇ only one 3×3, the
    derivative along the pair's relative velocity v_k − v_j. Serial."""
    P = pair_index.shape[0]
    n_pairs = P * (P + 1) // 2
    base_b = P
    base_c = P + n_pairs
    base_vv = 1 + P
    base_tt = 1 + P + n_pairs
    alpha[:] = 0.0
    if mode == RATE:
        rate[:] = 0.0
    if mode == GRADIENT:
        dalpha[:] = 0.0
    L = table.shape[2]
    max_pairs = 0
    for j in range(len(offsets) - 1):
        max_pairs = max(max_pairs, offsets[j + 1] - offsets[j])
    g = np.empty(L)
    dg = np.empty(L)
    distance = np.empty(max_pairs)
    unit = np.empty((max_pairs, 3))
    radial_g = np.empty((max_pairs, L))
    radial_dg = np.empty((max_pairs, L))
    s = np.empty(P)
    v = np.empty((P, 3))
    t = np.empty((P, 3, 3))
    m = np.empty((P, 3))
    gv = np.empty((P, 3))
    ht = np.empty((P, 3, 3))
    z = np.empty((P, 3, 3))
    tau = np.empty(P)
    sums = np.empty(26)
    u = np.empty(3)
    w = np.empty(3)
    out = np.empty((3, 3))
    for j in range(len(offsets) - 1):
        sj = species[j]
        _pair_values(offsets, vectors, j, table, grid_step, mode != VALUE, g, dg, distance, unit, radial_g,
                     radial_dg)
        s[:] = 0.0
        v[:] = 0.0
        t[:] = 0.0
        for pair in range(offsets[j], offsets[j + 1]):
            row = pair - offsets[j]
            base = neighbour_species[pair] * n_max
            for n in range(n_max):
                p = base + n
                g1 = radial_g[row, n_max + n]
                g2 = radial_g[row, 2 * n_max + n]
                s[p] += radial_g[row, n]
                for a in range(3):
                    v[p, a] += g1 * unit[row, a]
                    for b in range(3):
                        t[p, a, b] += g2 * (unit[row, a] * unit[row, b] - (1.0 / 3.0 if a == b else 0.0))
        scalar = c0[sj, 0]
        for p in range(P):
            tau[p] = c2[sj, p]
            m[p] = 0.0
            gv[p] = 0.0
            ht[p] = 0.0
            z[p] = 0.0
            scalar += c0[sj, 1 + p] * s[p]
        for p in range(P):
            for q in range(P):
                f = pair_index[p, q]
                half = 1.0 if p == q else 0.5
                for a in range(3):
                    m[p, a] += half * c2[sj, base_b + f] * v[q, a]
                    gv[p, a] += half * c0[sj, base_vv + f] * v[q, a]
                    for b in range(3):
                        ht[p, a, b] += half * c0[sj, base_tt + f] * t[q, a, b]
                        z[p, a, b] += c2[sj, base_c + p * P + q] * t[q, a, b]
                tau[q] += c2[sj, base_c + p * P + q] * s[p]
        # value: α = Σ τ_p t_p + TL(Σ v_p m_pᵀ) + 1 (c0 + Σ ... )
        for p in range(P):
            _traceless_add(alpha, 0.5, v[p], m[p])
            scalar += v[p, 0] * gv[p, 0] + v[p, 1] * gv[p, 1] + v[p, 2] * gv[p, 2]
            for a in range(3):
                for b in range(3):
                    alpha[a, b] += tau[p] * t[p, a, b]
                    scalar += t[p, a, b] * ht[p, a, b]
        for a in range(3):
            alpha[a, a] += scalar
        if mode == VALUE:
            continue
        for pair in range(offsets[j], offsets[j + 1]):
            row = pair - offsets[j]
            k = neighbours[pair]
            base = neighbour_species[pair] * n_max
            r = distance[row]
            for a in range(3):
                u[a] = unit[row, a]
            # n-sums: [0] Σ τ d2, [1] Σ τ g2, [2] Σ (c0 d0 + 2 d1 gv·u + 2 d2 ht:T),
            # [3:6] GVg = Σ g1 gv, [6] GVg·u, [7] u·HTg·u, [8:11] HTg u with HTg = Σ g2 ht,
            # [11:14] Md = Σ d1 m, [14:17] Mg = Σ g1 m, [17:26] Zd = Σ d0 z
            sums[:] = 0.0
            for n in range(n_max):
                p = base + n
                g1 = radial_g[row, n_max + n]
                g2 = radial_g[row, 2 * n_max + n]
                d0 = radial_dg[row, n]
                d1 = radial_dg[row, n_max + n]
                d2 = radial_dg[row, 2 * n_max + n]
                sums[0] += tau[p] * d2
                sums[1] += tau[p] * g2
                gv_u = gv[p, 0] * u[0] + gv[p, 1] * u[1] + gv[p, 2] * u[2]
                ht_t = 0.0
                for a in range(3):
                    ht_u = ht[p, a, 0] * u[0] + ht[p, a, 1] * u[1] + ht[p, a, 2] * u[2]
                    ht_t += u[a] * ht_u
                    sums[8 + a] += g2 * ht_u
                    sums[3 + a] += g1 * gv[p, a]
                    sums[11 + a] += d1 * m[p, a]
                    sums[14 + a] += g1 * m[p, a]
                    for b in range(3):
                        sums[17 + 3 * a + b] += d0 * z[p, a, b]
                ht_t -= (ht[p, 0, 0] + ht[p, 1, 1] + ht[p, 2, 2]) / 3.0
                sums[2] += c0[sj, 1 + p] * d0 + 2.0 * d1 * gv_u + 2.0 * d2 * ht_t
            sums[6] = sums[3] * u[0] + sums[4] * u[1] + sums[5] * u[2]
            sums[7] = sums[8] * u[0] + sums[9] * u[1] + sums[10] * u[2]
            if mode == RATE:
                for a in range(3):
                    w[a] = velocities[k, a] - velocities[j, a]
                _directional(u, r, w, sums, out)
                for a in range(3):
                    for b in range(3):
                        rate[a, b] += out[a, b]
            else:
                for c in range(3):
                    w[:] = 0.0
                    w[c] = 1.0
                    _directional(u, r, w, sums, out)
                    for a in range(3):
                        for b in range(3):
                            dalpha[k, a, b, c] += out[a, b]
                            dalpha[j, a, b, c] -= out[a, b]
