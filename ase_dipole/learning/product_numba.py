"""numba kernels of the product model (:mod:`ase_dipole.learning.product`):
weighted λ = 1 feature gradients and gradients of linear projections of the
λ = 0 power spectrum, all by neighbour-list contractions (no N × N arrays).

Notation of :mod:`ase_dipole.descriptors.lambda_soap_numba`: densities
``rho[c, b, n, lm]``, power spectrum ``P[c, q]`` (the l = 0 densities, then
``Σ_m rho[b,n,l,m] rho[b',n',l,m] / sqrt(2l+1)`` for (b,n) <= (b',n')), and
the per-pair density change ``drho[β, lm, n]`` of
:func:`~ase_dipole.descriptors.lambda_soap_numba._pair_density_change`.
The projected invariants of a centre c of species s are
``q_m(c) = Σ_q P[c, q] A[s, q, m] + a0[s, m]``.
"""

import numpy as np
from numba import njit, prange

from ase_dipole.descriptors.lambda_soap_numba import (
    _contract_changes, _pair_density_change, _signs, make_scratch)


@njit(cache=True, fastmath=False, parallel=True)  # parallel: each target atom owns its output row
def weighted_feature_gradients(offsets, neighbours, vectors, species, weights, H1g, H2g, T,
                               table, grid_step, l_max, norm, out):
    """``out[k, s, m, a, β, f] = Σ_{centres c of species s} weights[c, m] ∂D^a_f(c)/∂x_kβ``.

    For target k the derivatives of the features of every centre it moves
    (k itself, from its density changes summed per neighbour species, and
    each neighbour j; the pair bookkeeping and contractions of
    ``feature_gradients``, ``H1g``/``H2g`` as there) are formed once as rows
    of ``sides`` (centres × 9F), then weighted and summed by one matrix
    product ``mix @ sides``.
    """
    n_atoms = offsets.shape[0] - 1
    n_max = table.shape[2] // (l_max + 1)
    S = out.shape[1]
    n_weights = weights.shape[1]
    n_features = out.shape[5]
    L2 = (l_max + 1) ** 2
    for k in prange(n_atoms):
        start = offsets[k]
        n_pairs = offsets[k + 1] - start
        scratch = make_scratch(l_max, n_max)
        changes = np.empty((n_pairs, 3, L2, n_max))
        own = np.zeros((S, 3, L2, n_max))
        own_count = np.zeros(S, dtype=np.int64)
        plus, parity = _signs(l_max + 2)
        sides = np.zeros((n_pairs + 1, 3, 3, 1, n_features))
        mix = np.zeros((S * n_weights, n_pairs + 1))
        for m in range(n_weights):
            mix[species[k] * n_weights + m, 0] = weights[k, m]
        centre = np.empty(1, dtype=np.int64)
        for i in range(n_pairs):
            j = neighbours[start + i]
            _pair_density_change(vectors[start + i], table, grid_step, l_max, norm, changes[i],
                                 scratch)
            own[species[j]] += changes[i]
            own_count[species[j]] += 1
            centre[0] = j
            _contract_changes(sides[i + 1:i + 2], 0, 0, species[k], parity, changes[i:i + 1],
                              centre, H1g, H2g, T, l_max)
            for m in range(n_weights):
                mix[species[j] * n_weights + m, i + 1] = weights[j, m]
        centre[0] = k
        for b in range(S):
            if own_count[b]:
                _contract_changes(sides[0:1], 0, 0, b, plus, own[b:b + 1], centre, H1g, H2g, T, l_max)
        flat = sides.reshape((n_pairs + 1, 9 * n_features))
        out[k] = np.dot(mix, flat).reshape((S, n_weights, 3, 3, n_features))


@njit(cache=True, fastmath=False, parallel=True)  # parallel: independent centres
def invariant_adjoints(rho, maps, l_max, adjoint):
    """``adjoint[c, m, b, lm, n] = ∂y_m(c)/∂rho[c, b, n, lm]`` for the linear
    functions ``y_m(c) = Σ_q P[c, q] maps[c, q, m]`` of the power spectrum
    (P quadratic in rho, so the adjoint is linear in rho)."""
    n_centres, S, n_max, L2 = rho.shape
    Sn = S * n_max
    n_out = maps.shape[2]
    for c in prange(n_centres):
        R = np.empty((L2, Sn))
        for b in range(S):
            for n in range(n_max):
                for lm in range(L2):
                    R[lm, b * n_max + n] = rho[c, b, n, lm]
        M = np.empty((Sn, Sn))
        for m in range(n_out):
            for b in range(S):
                for lm in range(L2):
                    for n in range(n_max):
                        adjoint[c, m, b, lm, n] = 0.0
            for i in range(Sn):
                adjoint[c, m, i // n_max, 0, i % n_max] += maps[c, i, m]
            for l in range(l_max + 1):
                scale = 1.0 / np.sqrt(2.0 * l + 1.0)
                base = Sn + l * (Sn * (Sn + 1) // 2)
                q = base
                for i in range(Sn):
                    M[i, i] = 2.0 * scale * maps[c, q, m]
                    q += 1
                    for i2 in range(i + 1, Sn):
                        M[i, i2] = scale * maps[c, q, m]
                        M[i2, i] = M[i, i2]
                        q += 1
                for lm in range(l * l, (l + 1) * (l + 1)):
                    row = R[lm]
                    for i in range(Sn):
                        coupling = M[i]
                        acc = 0.0
                        for i2 in range(Sn):
                            acc += coupling[i2] * row[i2]
                        adjoint[c, m, i // n_max, lm, i % n_max] += acc


@njit(cache=True, fastmath=False, parallel=True)  # parallel: each target atom owns its rows
def projected_invariant_gradients(offsets, neighbours, vectors, species, adjoint, table,
                                  grid_step, l_max, norm, dq_self, dq_pair):
    """``dq_self[k, β, m] = ∂y_m(k)/∂x_kβ`` and, for each pair p = k→j,
    ``dq_pair[p, β, m] = ∂y_m(j)/∂x_kβ``, from the adjoints of
    :func:`invariant_adjoints`."""
    n_atoms = offsets.shape[0] - 1
    n_max = adjoint.shape[4]
    n_out = adjoint.shape[1]
    L2 = (l_max + 1) ** 2
    for k in prange(n_atoms):
        scratch = make_scratch(l_max, n_max)
        drho = np.empty((3, L2, n_max))
        plus, parity = _signs(l_max + 1)
        for beta in range(3):
            for m in range(n_out):
                dq_self[k, beta, m] = 0.0
        for p in range(offsets[k], offsets[k + 1]):
            j = neighbours[p]
            _pair_density_change(vectors[p], table, grid_step, l_max, norm, drho, scratch)
            bj = species[j]
            bk = species[k]
            for m in range(n_out):
                own_adjoint = adjoint[k, m, bj]
                other_adjoint = adjoint[j, m, bk]
                for beta in range(3):
                    own = 0.0
                    other = 0.0
                    for l in range(l_max + 1):
                        part_own = 0.0
                        part_other = 0.0
                        for lm in range(l * l, (l + 1) * (l + 1)):
                            change = drho[beta, lm]
                            a_own = own_adjoint[lm]
                            a_other = other_adjoint[lm]
                            for n in range(n_max):
                                part_own += a_own[n] * change[n]
                                part_other += a_other[n] * change[n]
                        own += plus[l] * part_own
                        other += parity[l] * part_other
                    dq_self[k, beta, m] += own
                    dq_pair[p, beta, m] = other


@njit(cache=True, fastmath=False, parallel=True)  # parallel: each target atom owns its row
def gather_charges(offsets, dq_self, dq_pair, Z):
    """``Z[k, a, β] += dq_self[k, β, a] + Σ_{pairs p of k} dq_pair[p, β, a]``:
    ∂/∂x_kβ of Σ_c y_a(c) from the outputs of :func:`projected_invariant_gradients`."""
    for k in prange(offsets.shape[0] - 1):
        for a in range(3):
            for beta in range(3):
                total = dq_self[k, beta, a]
                for p in range(offsets[k], offsets[k + 1]):
                    total += dq_pair[p, beta, a]
                Z[k, a, beta] += total


@njit(cache=True, fastmath=False)
def _add_design(row_k, s, dq, values):
    """``row_k[a, β, s, m, r] += dq[β, m] values[a, r]`` (one centre's part)."""
    for m in range(dq.shape[1]):
        for beta in range(3):
            x = dq[beta, m]
            for a in range(3):
                source = values[a]
                row = row_k[a, beta, s, m]
                for v in range(source.shape[0]):
                    row[v] += x * source[v]


@njit(cache=True, fastmath=False, parallel=True)  # parallel: each target atom owns its rows
def invariant_design(offsets, neighbours, species, dq_self, dq_pair, vectors_by_centre, out):
    """``out[k, a, β, s, m, r] += Σ_{c of species s} ∂q_m(c)/∂x_kβ V[c, a, r]``
    for ``vectors_by_centre`` V (N, 3, R): the product-rule part of the
    design rows of Σ_c q_m(c) V(c)."""
    n_atoms = offsets.shape[0] - 1
    for k in prange(n_atoms):
        _add_design(out[k], species[k], dq_self[k], vectors_by_centre[k])
        for p in range(offsets[k], offsets[k + 1]):
            j = neighbours[p]
            _add_design(out[k], species[j], dq_pair[p], vectors_by_centre[j])
