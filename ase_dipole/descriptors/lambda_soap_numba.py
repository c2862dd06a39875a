"""numba kernels of the λ-SOAP descriptor: arithmetic only, preallocated outputs.

Notation (all kernels): ``S`` neighbour species, ``n_max`` radial functions,
``L2 = (l_max + 1)**2`` real spherical harmonics with index ``l*l + l + m``.
The density of centre ``c`` is

    rho[c, b, n, lm] = Σ_{k of species b} g_nl(r_ck) Y_lm(r̂_ck)

and the λ = 1 features of ``c`` (Cartesian component ``a``) are

    D[a, b*n_max + n]                  = Σ_m T[a, m] rho[b, n, 1 + m]            (2-body)
    D[a, F2 + (((l*S+b)*n_max+n)*S+b')*n_max+n'] = Σ_mm' G[l, a, m, m'] rho[b, n, l, m] rho[b', n', l+1, m']

with ``F2 = S*n_max`` (3-body, l = 0 .. l_max-1, only the polar l' = l + 1).
``H1[l, a, b', n', m] = Σ_m' G[l, a, m, m'] rho[b', n', l+1, m']`` and
``H2[l, a, b, n, m'] = Σ_m G[l, a, m, m'] rho[b, n, l, m]`` are the two
half-contracted densities every derivative needs.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True, fastmath=False)
def solid_harmonics(u, l_max, norm, Y, dY, Q, dQ, cs, dcs, want_gradient=True):
    """Real spherical harmonics ``Y[lm]`` at the unit vector ``u`` and, if
    ``want_gradient``, the gradient ``dY[lm, :]`` of the homogeneous polynomial
    that equals them on the sphere. ``Q, dQ, cs, dcs`` are scratch arrays."""
    x = u[0]
    y = u[1]
    z = u[2]
    r2 = x * x + y * y + z * z
    Q[0, 0] = 1.0
    dQ[0, 0, :] = 0.0
    for l in range(1, l_max + 1):
        Q[l, l] = -(2 * l - 1) * Q[l - 1, l - 1]
        Q[l, l - 1] = -z * Q[l, l]
        if want_gradient:
            dQ[l, l, :] = 0.0
            dQ[l, l - 1, 0] = 0.0
            dQ[l, l - 1, 1] = 0.0
            dQ[l, l - 1, 2] = -Q[l, l]
        for m in range(l - 2, -1, -1):
            a = 2 * l - 1
            b = l + m - 1
            inv = 1.0 / (l - m)
            Q[l, m] = (a * z * Q[l - 1, m] - b * r2 * Q[l - 2, m]) * inv
            if want_gradient:
                for k in range(3):
                    dQ[l, m, k] = (a * z * dQ[l - 1, m, k] - b * r2 * dQ[l - 2, m, k]
                                   - 2.0 * b * u[k] * Q[l - 2, m]) * inv
                dQ[l, m, 2] += a * Q[l - 1, m] * inv
    # cs[m, 0] = Re (x + iy)^m, cs[m, 1] = Im (x + iy)^m and their gradients
    cs[0, 0] = 1.0
    cs[0, 1] = 0.0
    dcs[0, :, :] = 0.0
    for m in range(1, l_max + 1):
        cs[m, 0] = x * cs[m - 1, 0] - y * cs[m - 1, 1]
        cs[m, 1] = x * cs[m - 1, 1] + y * cs[m - 1, 0]
        if not want_gradient:
            continue
        for k in range(3):
            dcs[m, 0, k] = x * dcs[m - 1, 0, k] - y * dcs[m - 1, 1, k]
            dcs[m, 1, k] = x * dcs[m - 1, 1, k] + y * dcs[m - 1, 0, k]
        dcs[m, 0, 0] += cs[m - 1, 0]
        dcs[m, 0, 1] -= cs[m - 1, 1]
        dcs[m, 1, 0] += cs[m - 1, 1]
        dcs[m, 1, 1] += cs[m - 1, 0]
    for l in range(l_max + 1):
        centre = l * l + l
        Y[centre] = norm[centre] * Q[l, 0]
        if want_gradient:
            for k in range(3):
                dY[centre, k] = norm[centre] * dQ[l, 0, k]
        for m in range(1, l + 1):
            plus = centre + m
            minus = centre - m
            Y[plus] = norm[plus] * Q[l, m] * cs[m, 0]
            Y[minus] = norm[minus] * Q[l, m] * cs[m, 1]
            if not want_gradient:
                continue
            for k in range(3):
                dY[plus, k] = norm[plus] * (dQ[l, m, k] * cs[m, 0] + Q[l, m] * dcs[m, 0, k])
                dY[minus, k] = norm[minus] * (dQ[l, m, k] * cs[m, 1] + Q[l, m] * dcs[m, 1, k])


@njit(cache=True, fastmath=False)
def radial(distance, table, grid_step, g, dg, want_derivative=True):
    """Radial functions ``g[l*n_max + n]`` and, if ``want_derivative``, their
    derivatives ``dg`` (1/Å) at ``distance`` by cubic Hermite interpolation of
    ``table[2, n_grid, (l_max+1)*n_max]`` (values, derivatives); one loop over
    all (l, n), long enough for LLVM to vectorise."""
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
    f0 = table[0, i]
    f1 = table[0, i + 1]
    s0 = table[1, i]
    s1 = table[1, i + 1]
    for j in range(g.shape[0]):
        g[j] = h00 * f0[j] + h10 * grid_step * s0[j] + h01 * f1[j] + h11 * grid_step * s1[j]
    if want_derivative:
        for j in range(dg.shape[0]):
            dg[j] = d00 * f0[j] + d10 * s0[j] + d01 * f1[j] + d11 * s1[j]


@njit(cache=True, fastmath=False)
def make_scratch(l_max, n_max):
    """Per-task scratch: Y, dY, Q, dQ, cs, dcs, g and dg as (l_max+1, n_max),
    u, and g, dg again flat (the same memory, as :func:`radial` fills them)."""
    L2 = (l_max + 1) ** 2
    g_flat = np.empty((l_max + 1) * n_max)
    dg_flat = np.empty((l_max + 1) * n_max)
    return (np.empty(L2), np.empty((L2, 3)), np.empty((l_max + 1, l_max + 1)),
            np.empty((l_max + 1, l_max + 1, 3)), np.empty((l_max + 1, 2)),
            np.empty((l_max + 1, 2, 3)), g_flat.reshape((l_max + 1, n_max)),
            dg_flat.reshape((l_max + 1, n_max)), np.empty(3), g_flat, dg_flat)


@njit(cache=True, fastmath=False)
def _centre_density(offsets, vectors, neighbour_species, table, grid_step, l_max, norm, c,
                    scratch, rho_c):
    """The density ``rho_c[b, n, lm]`` of centre ``c``, its pairs added in order."""
    Y, dY, Q, dQ, cs, dcs, g, dg, u, g_flat, dg_flat = scratch
    n_max = rho_c.shape[1]
    rho_c[:] = 0.0
    for p in range(offsets[c], offsets[c + 1]):
        d = np.sqrt(vectors[p, 0] ** 2 + vectors[p, 1] ** 2 + vectors[p, 2] ** 2)
        for k in range(3):
            u[k] = vectors[p, k] / d
        solid_harmonics(u, l_max, norm, Y, dY, Q, dQ, cs, dcs, False)
        radial(d, table, grid_step, g_flat, dg_flat, False)
        b = neighbour_species[p]
        for l in range(l_max + 1):
            for n in range(n_max):
                gv = g[l, n]
                for lm in range(l * l, (l + 1) * (l + 1)):
                    rho_c[b, n, lm] += gv * Y[lm]


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent centres
def density(offsets, vectors, neighbour_species, table, grid_step, l_max, norm, rho):
    """Neighbour densities ``rho[c, b, n, lm]`` (values only: no derivative of
    the harmonics or the radial functions is formed)."""
    n_centres = rho.shape[0]
    n_max = rho.shape[2]
    for c in prange(n_centres):
        _centre_density(offsets, vectors, neighbour_species, table, grid_step, l_max, norm, c,
                        make_scratch(l_max, n_max), rho[c])


@njit(cache=True, fastmath=False)
def half_contractions(rho_c, G, l_max, H1, H2):
    """``H1`` and ``H2`` (see module docstring) of one centre."""
    S = rho_c.shape[0]
    n_max = rho_c.shape[1]
    for l in range(l_max):
        lo = l * l
        hi = (l + 1) * (l + 1)
        for a in range(3):
            for b in range(S):
                for n in range(n_max):
                    for m in range(2 * l + 1):
                        acc = 0.0
                        for mp in range(2 * l + 3):
                            acc += G[l, a, m, mp] * rho_c[b, n, hi + mp]
                        H1[l, a, b, n, m] = acc
                    for mp in range(2 * l + 3):
                        acc = 0.0
                        for m in range(2 * l + 1):
                            acc += G[l, a, m, mp] * rho_c[b, n, lo + m]
                        H2[l, a, b, n, mp] = acc


@njit(cache=True, fastmath=False)
def _feature_index(l, b1, n1, b2, n2, S, n_max):
    return S * n_max + (((l * S + b1) * n_max + n1) * S + b2) * n_max + n2


@njit(cache=True, fastmath=False)
def _centre_features(rho_c, T, G, l_max, H1t, D_c):
    """λ = 1 features ``D_c[a, f]`` of one centre from its density ``rho_c``;
    ``H1t[l, a, m, b'·n_max + n'] = H1[l, a, b', n', m]`` is scratch. Each
    sum runs over m in order from 0.0, as written in the module docstring;
    the loops are ordered so that the innermost one runs along contiguous
    features."""
    S, n_max, _ = rho_c.shape
    Sn = S * n_max
    for l in range(l_max):
        hi = (l + 1) * (l + 1)
        for a in range(3):
            for b in range(S):
                for n in range(n_max):
                    for m in range(2 * l + 1):
                        acc = 0.0
                        for mp in range(2 * l + 3):
                            acc += G[l, a, m, mp] * rho_c[b, n, hi + mp]
                        H1t[l, a, m, b * n_max + n] = acc
    for a in range(3):
        for b in range(S):
            for n in range(n_max):
                D_c[a, b * n_max + n] = (T[a, 0] * rho_c[b, n, 1] + T[a, 1] * rho_c[b, n, 2]
                                         + T[a, 2] * rho_c[b, n, 3])
    for l in range(l_max):
        lo = l * l
        for a in range(3):
            for b1 in range(S):
                for n1 in range(n_max):
                    row = D_c[a, _feature_index(l, b1, n1, 0, 0, S, n_max):]
                    for i in range(Sn):
                        row[i] = 0.0
                    for m in range(2 * l + 1):
                        r = rho_c[b1, n1, lo + m]
                        for i in range(Sn):
                            row[i] += r * H1t[l, a, m, i]


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent centres
def features(rho, T, G, l_max, D):
    """λ = 1 features ``D[c, a, f]`` from the densities."""
    n_centres, S, n_max, _ = rho.shape
    for c in prange(n_centres):
        H1t = np.empty((l_max, 3, 2 * l_max + 1, S * n_max))
        _centre_features(rho[c], T, G, l_max, H1t, D[c])


#: centres per task of :func:`density_features` (scratch allocated once per task)
CENTRES_PER_TASK = 64


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent centres
def density_features(offsets, vectors, neighbour_species, n_species, table, grid_step, l_max,
                     norm, T, G, D):
    """λ = 1 features ``D[c, a, f]`` from the pairs, each centre's density
    formed (as :func:`density` does) and contracted while it is in cache:
    no (N, S, n_max, L2) density array is written and read back."""
    n_centres = D.shape[0]
    n_max = table.shape[2] // (l_max + 1)
    n_tasks = (n_centres + CENTRES_PER_TASK - 1) // CENTRES_PER_TASK
    for task in prange(n_tasks):
        scratch = make_scratch(l_max, n_max)
        rho_c = np.empty((n_species, n_max, (l_max + 1) ** 2))
        H1t = np.empty((l_max, 3, 2 * l_max + 1, n_species * n_max))
        for c in range(task * CENTRES_PER_TASK, min((task + 1) * CENTRES_PER_TASK, n_centres)):
            _centre_density(offsets, vectors, neighbour_species, table, grid_step, l_max, norm, c,
                            scratch, rho_c)
            _centre_features(rho_c, T, G, l_max, H1t, D[c])


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent centres
def invariants(rho, l_max, P):
    """λ = 0 power spectrum ``P[c, q]``: the l = 0 densities, then
    Σ_m rho[b,n,l,m] rho[b',n',l,m] / sqrt(2l+1) for (b,n) <= (b',n'), l = 0..l_max."""
    n_centres, S, n_max, _ = rho.shape
    for c in prange(n_centres):
        q = 0
        for b in range(S):
            for n in range(n_max):
                P[c, q] = rho[c, b, n, 0]
                q += 1
        for l in range(l_max + 1):
            scale = 1.0 / np.sqrt(2.0 * l + 1.0)
            for i in range(S * n_max):
                b1 = i // n_max
                n1 = i % n_max
                for j in range(i, S * n_max):
                    b2 = j // n_max
                    n2 = j % n_max
                    acc = 0.0
                    for lm in range(l * l, (l + 1) * (l + 1)):
                        acc += rho[c, b1, n1, lm] * rho[c, b2, n2, lm]
                    P[c, q] = acc * scale
                    q += 1


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent centres
def all_half_contractions(rho, G, l_max, H1, H2):
    """H1[c], H2[c] for every centre."""
    for c in prange(rho.shape[0]):
        half_contractions(rho[c], G, l_max, H1[c], H2[c])


@njit(cache=True, fastmath=False)
def contraction_work(n_rows, l_max, n_max, width_all):
    """Work arrays of :func:`_contract_selected` for up to ``n_rows`` density
    changes: the two operands (rows × 3·n_max and rows × ``width_all``) of
    the largest product and the results of both kinds of product."""
    rows = max(n_rows, 1) * (2 * l_max + 1)
    return (np.empty((rows, 3 * n_max)), np.empty((rows, width_all)),
            np.empty((3 * n_max, width_all)), np.empty((width_all, 3 * n_max)))


@njit(cache=True, fastmath=False)
def _contract_changes(out, k, group, species_moved, sign_by_l, changes, centres, H1g, H2g, T, l_max):
    """:func:`_contract_selected` of all the ``changes`` (Q, 3, L2, n_max)."""
    Q = centres.shape[0]
    chosen = np.arange(Q)
    work = contraction_work(Q, l_max, changes.shape[3], H1g.shape[3])
    _contract_selected(out, k, group, species_moved, sign_by_l, changes, chosen, centres, H1g,
                       H2g, T, l_max, work)


@njit(cache=True, fastmath=False)
def _contract_selected(out, k, group, species_moved, sign_by_l, changes, chosen, centres, H1g,
                       H2g, T, l_max, work):
    """out[k, a, β, group, f] += Σ_q ∂D^a_f(centres[q])/∂x_kβ given the density
    changes ``sign_by_l[l] * changes[chosen[q], β, lm, n]`` of neighbour
    species ``species_moved`` of the centres ``centres[q]``.

    ``H1g[c, l, m, a*S*n_max + b'*n_max + n'] = H1[c, l, a, b', n', m]`` and
    ``H2g`` likewise from H2, so that each l and each of the two 3-body terms is
    one matrix product over (centre, m) of the changes ``(Q(2l+1) × 3·n_max)``
    and the gathered half-contractions ``(Q(2l+1) × 3·S·n_max)`` (2l+3 for
    the second term), whose result is added to ``out`` once. ``work``: from
    :func:`contraction_work` for at least Q changes.
    """
    X_work, B_work, C_first, C_second = work
    Q = centres.shape[0]
    n_max = changes.shape[3]
    width_all = H1g.shape[3]
    Sn = width_all // 3
    S = Sn // n_max
    F2 = S * n_max
    b = species_moved
    for q in range(Q):
        p = chosen[q]
        for a in range(3):
            for beta in range(3):
                for n in range(n_max):
                    out[k, a, beta, group, b * n_max + n] += sign_by_l[1] * (
                        T[a, 0] * changes[p, beta, 1, n] + T[a, 1] * changes[p, beta, 2, n]
                        + T[a, 2] * changes[p, beta, 3, n])
    for l in range(l_max):
        for term in range(2):
            if term == 0:
                width, first, sign, H = 2 * l + 1, l * l, sign_by_l[l], H1g
            else:
                width, first, sign, H = 2 * l + 3, (l + 1) * (l + 1), sign_by_l[l + 1], H2g
            X = X_work[:Q * width]  # [(q, m), (β, n)]
            B = B_work[:Q * width]  # [(q, m), (a, b', n')]
            for q in range(Q):
                c = centres[q]
                p = chosen[q]
                for m in range(width):
                    column = q * width + m
                    for beta in range(3):
                        for n in range(n_max):
                            X[column, beta * n_max + n] = sign * changes[p, beta, first + m, n]
                    for i in range(width_all):
                        B[column, i] = H[c, l, m, i]
            if term == 0:  # features (l, b, n, ·, ·): Sn contiguous entries per (a, β, n)
                np.dot(X.T, B, C_first)  # [(β, n), (a, i)]
                for a in range(3):
                    for beta in range(3):
                        for n in range(n_max):
                            base = F2 + ((l * S + b) * n_max + n) * Sn
                            row = beta * n_max + n
                            for i in range(Sn):
                                out[k, a, beta, group, base + i] += C_first[row, a * Sn + i]
            else:  # features (l, i // n_max, i % n_max, b, ·): n_max contiguous entries per (a, β, i)
                np.dot(B.T, X, C_second)  # [(a, i), (β, n)]
                for a in range(3):
                    for beta in range(3):
                        for i in range(Sn):
                            base = F2 + ((l * Sn + i) * S + b) * n_max
                            row = a * Sn + i
                            for n in range(n_max):
                                out[k, a, beta, group, base + n] += C_second[row, beta * n_max + n]


@njit(cache=True, fastmath=False)
def _pair_density_change(vector, table, grid_step, l_max, norm, drho, scratch):
    """``drho[β, lm, n] = −∂φ_{n,lm}(r)/∂r_β`` for the pair vector r = x_j − x_k:
    the change of k's density as x_k moves; j's density changes by
    (−1)^l times it (φ(−r) = (−1)^l φ(r)), with ``φ_{n,lm}(r) = g_nl(|r|) Y_lm(r̂)``."""
    Y, dY, Q, dQ, cs, dcs, g, dg, u, g_flat, dg_flat = scratch
    d = np.sqrt(vector[0] ** 2 + vector[1] ** 2 + vector[2] ** 2)
    for k in range(3):
        u[k] = vector[k] / d
    solid_harmonics(u, l_max, norm, Y, dY, Q, dQ, cs, dcs, True)
    radial(d, table, grid_step, g_flat, dg_flat)
    n_max = drho.shape[2]
    for l in range(l_max + 1):
        for lm in range(l * l, (l + 1) * (l + 1)):
            # gradient of Y_lm(r/|r|): (∇P_lm(u) - l Y_lm u) / |r|
            gy0 = (dY[lm, 0] - l * Y[lm] * u[0]) / d
            gy1 = (dY[lm, 1] - l * Y[lm] * u[1]) / d
            gy2 = (dY[lm, 2] - l * Y[lm] * u[2]) / d
            for n in range(n_max):
                a = dg[l, n] * Y[lm]
                b = g[l, n]
                drho[0, lm, n] = -(a * u[0] + b * gy0)
                drho[1, lm, n] = -(a * u[1] + b * gy1)
                drho[2, lm, n] = -(a * u[2] + b * gy2)


@njit(cache=True, fastmath=False)
def _signs(size):
    """(ones, (−1)^l) for l = 0 .. size−1: density-change signs of the two
    centres of a pair."""
    plus = np.ones(size)
    parity = np.empty(size)
    for l in range(size):
        parity[l] = 1.0 if l % 2 == 0 else -1.0
    return plus, parity


@njit(cache=True, fastmath=False, parallel=True)  # parallel: each target atom owns its output row
def feature_gradients(offsets, neighbours, vectors, species, group, H1g, H2g, T, table,
                      grid_step, l_max, norm, out):
    """``out[k, a, β, g, f] = Σ_{centres c in group g} ∂D^a_f(c)/∂x_kβ``.

    For target ``k`` and each pair k→j: the density of ``k`` changes by
    −∇φ(r_kj) (species of j) and that of ``j`` by +∇φ(r_jk) = (−1)^l·(−∇φ(r_kj))
    (species of k), so one basis evaluation serves both. The feature
    derivative is linear in the density change: k's own changes are summed
    per neighbour species and contracted once per species, and the changes
    of the neighbours j of one group are contracted together, as matrix
    products (:func:`_contract_changes`). ``H1g``, ``H2g``: see there.
    """
    n_atoms = offsets.shape[0] - 1
    n_max = table.shape[2] // (l_max + 1)
    L2 = (l_max + 1) ** 2
    S = H1g.shape[3] // (3 * n_max)
    for k in prange(n_atoms):
        out[k] = 0.0  # each target owns (and clears) its row: out needs no zeroing
        start = offsets[k]
        n_pairs = offsets[k + 1] - start
        scratch = make_scratch(l_max, n_max)
        changes = np.empty((n_pairs, 3, L2, n_max))
        own = np.zeros((S, 3, L2, n_max))  # change of k's own density, per neighbour species
        own_count = np.zeros(S, dtype=np.int64)
        plus, parity = _signs(l_max + 2)
        work = contraction_work(n_pairs, l_max, n_max, H1g.shape[3])
        for i in range(n_pairs):
            j = neighbours[start + i]
            _pair_density_change(vectors[start + i], table, grid_step, l_max, norm, changes[i],
                                 scratch)
            own[species[j]] += changes[i]
            own_count[species[j]] += 1
        groups = np.empty(n_pairs, dtype=np.int64)
        for i in range(n_pairs):
            groups[i] = group[neighbours[start + i]]
        order = np.argsort(groups, kind="mergesort")
        first = 0
        while first < n_pairs:
            g = groups[order[first]]
            last = first
            while last < n_pairs and groups[order[last]] == g:
                last += 1
            chosen = order[first:last]
            centres = np.empty(last - first, dtype=np.int64)
            for i in range(last - first):
                centres[i] = neighbours[start + chosen[i]]
            _contract_selected(out, k, g, species[k], parity, changes, chosen, centres, H1g, H2g,
                               T, l_max, work)
            first = last
        centre = np.full(1, k, dtype=np.int64)
        for b in range(S):
            if own_count[b]:
                _contract_selected(out, k, group[k], b, plus, own, np.full(1, b), centre, H1g, H2g,
                                   T, l_max, work)


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent centres
def gather_pair_charges(offsets, reverse, W, Z):
    """``Z[c] = Σ_{p = c→k} (W[reverse[p]] − W[p])``: each pair p = c→k adds
    W[p] to Z[k] and subtracts it from Z[c], gathered per atom (the pairs
    k→c of c are the reverses of its own)."""
    for c in prange(offsets.shape[0] - 1):
        total = np.zeros(9)  # one pass over the pairs; each sum still in order of p
        for p in range(offsets[c], offsets[c + 1]):
            q = reverse[p]
            for a in range(3):
                for beta in range(3):
                    total[3 * a + beta] += W[q, a, beta] - W[p, a, beta]
        for a in range(3):
            for beta in range(3):
                Z[c, a, beta] = total[3 * a + beta]


@njit(cache=True, fastmath=False)
def _add_invariant_derivative(out, k, group, species_moved, sign_by_l, drho, rho_c, l_max):
    """out[k, β, group, q] += ∂P_q(centre)/∂x_kβ given the density change
    ``sign_by_l[l] * drho[β, lm, n]`` of neighbour species ``species_moved``
    (P as in :func:`invariants`)."""
    S = rho_c.shape[0]
    n_max = rho_c.shape[1]
    Sn = S * n_max
    b = species_moved
    for beta in range(3):
        for n in range(n_max):
            out[k, beta, group, b * n_max + n] += sign_by_l[0] * drho[beta, 0, n]
    for l in range(l_max + 1):
        scale = sign_by_l[l] / np.sqrt(2.0 * l + 1.0)
        base = Sn + l * (Sn * (Sn + 1) // 2)
        for n in range(n_max):
            i = b * n_max + n
            for i2 in range(Sn):
                b2 = i2 // n_max
                n2 = i2 % n_max
                first = min(i, i2)
                q = base + first * Sn - first * (first - 1) // 2 + (max(i, i2) - first)
                factor = 2.0 if i2 == i else 1.0
                for beta in range(3):
                    acc = 0.0
                    for lm in range(l * l, (l + 1) * (l + 1)):
                        acc += drho[beta, lm, n] * rho_c[b2, n2, lm]
                    out[k, beta, group, q] += factor * scale * acc


@njit(cache=True, fastmath=False, parallel=True)  # parallel: each target atom owns its output row
def invariant_gradients(offsets, neighbours, vectors, species, group, rho, table, grid_step,
                        l_max, norm, out):
    """``out[k, β, g, q] = Σ_{centres c in group g} ∂P_q(c)/∂x_kβ`` for the λ = 0
    invariants, with the pair bookkeeping of :func:`feature_gradients`."""
    n_atoms = offsets.shape[0] - 1
    n_max = rho.shape[2]
    L2 = (l_max + 1) ** 2
    for k in prange(n_atoms):
        scratch = make_scratch(l_max, n_max)
        drho = np.empty((3, L2, n_max))
        plus, parity = _signs(l_max + 1)
        for p in range(offsets[k], offsets[k + 1]):
            j = neighbours[p]
            _pair_density_change(vectors[p], table, grid_step, l_max, norm, drho, scratch)
            _add_invariant_derivative(out, k, group[k], species[j], plus, drho, rho[k], l_max)
            _add_invariant_derivative(out, k, group[j], species[k], parity, drho, rho[j], l_max)
