"""Products of λ = 1 features with per-atom λ = 0 invariants: a body-order
ν = 3 extension of the linear λ-SOAP model (``PolarizationModel(model="product")``).

.. math::

    μ = Σ_j \\Big[ D(X_j)·c^0_{J} + Σ_{m=1}^{K} q_m(X_j)\\, \\tilde D(X_j)·c^m_{J} \\Big]
        + Σ_i \\bar Z_{J(i)} x_i,
    \\qquad \\tilde D(X_j) = D(X_j) B_J,
    \\qquad q_m(X_j) = Σ_q P_q(X_j) A_{J,qm} + a_{J,m},

with D the λ = 1 features (F per atom, each a Cartesian vector), P the λ = 0
power spectrum (rotation invariant), J the species of the centre. This is
the feature-space form of the kernel K¹·(1 + K⁰) with a centred, whitened
linear λ = 0 kernel (ζ = 1): the first term is the linear model (which the
product model therefore contains), the second lets the linear response of
every environment depend on its own invariant description.

The two maps are fitted once from the training set, per species J:

* ``A_J`` (n_invariants × K), ``a_J``: whitened principal components of the
  standardised power spectra of the training atoms of species J (q has zero
  mean and unit variance over them);
* ``B_J`` (F × R): the R leading principal directions of the λ = 1
  features of those atoms, columns standardised by their RMS (the same map on
  every Cartesian component, so D̃ is a polar vector like D).

Per species there are F + K·R coefficients (2 × (1040 + 8·32) = 2592 for water
with the defaults), fitted by the same ridge / cross-validation as the linear
model. Derivatives by the product rule,
∂μ/∂x_k = Σ_j [∂D_j/∂x_k·c_eff(j) + Σ_m (D̃_j·c^m) ∂q_m(j)/∂x_k] with
``c_eff(j) = c⁰_J + Σ_m q_m(j) B_J c^m_J``: the first term is the linear
model's adjoint route with per-atom coefficient vectors, the second a
neighbour-list contraction of the invariants' derivatives
(:mod:`ase_dipole.learning.product_numba`); no N × N array is formed.
"""

import numpy as np

from ase_dipole.descriptors import lambda_soap_numba as kernels
from ase_dipole.descriptors import prediction_numba as prediction
from ase_dipole.learning import product_numba
from ase_dipole.learning.posterior import decode_array, encode_array
from ase_dipole.threads import with_kernel_threads

#: default number K of λ = 0 projections per species
DEFAULT_N_INVARIANTS = 8
#: default number R of compressed λ = 1 directions per species
DEFAULT_N_VECTORS = 32
#: the maps are fitted from at most this many (evenly spaced) training frames
MAP_FRAMES = 20


def check_map_shapes(kind, invariant_maps, vector_maps, descriptor):
    """A clear error when maps read from a model file (``invariant_maps`` (S,
    n_invariants, ...), ``vector_maps`` (S, n_features, ...)) do not fit ``descriptor``."""
    S = len(descriptor.species)
    if invariant_maps.shape[:2] != (S, descriptor.n_invariants) or \
            vector_maps.shape[:2] != (S, descriptor.n_features):
        raise ValueError(f"{kind} maps {invariant_maps.shape} / {vector_maps.shape} do not fit "
                         f"{S} species, {descriptor.n_invariants} invariants, "
                         f"{descriptor.n_features} features")


class ProductFeatures:
    """The fitted maps A_J, a_J, B_J of the product model and its design
    rows and predictions (module docstring).

    Parameters
    ----------
    descriptor : LambdaSOAP
    invariant_maps : ndarray, shape (S, n_invariants, K)
    invariant_offsets : ndarray, shape (S, K)
    vector_maps : ndarray, shape (S, F, R)
    """

    def __init__(self, descriptor, invariant_maps, invariant_offsets, vector_maps):
        self.descriptor = descriptor
        self.invariant_maps = np.ascontiguousarray(invariant_maps, dtype=float)
        self.invariant_offsets = np.ascontiguousarray(invariant_offsets, dtype=float)
        self.vector_maps = np.ascontiguousarray(vector_maps, dtype=float)
        S, _, K = self.invariant_maps.shape
        if self.invariant_offsets.shape != (S, K) or self.vector_maps.shape[0] != S:
            raise ValueError(f"maps of inconsistent shapes: A {self.invariant_maps.shape}, "
                             f"a {self.invariant_offsets.shape}, B {self.vector_maps.shape}")

    @property
    def n_invariants(self):
        """K, the λ = 0 projections per species."""
        return self.invariant_maps.shape[2]

    @property
    def n_vectors(self):
        """R, the compressed λ = 1 directions per species."""
        return self.vector_maps.shape[2]

    def n_columns(self, descriptor):
        """Coefficients per species, F + K·R."""
        return descriptor.n_features + self.n_invariants * self.n_vectors

    # -- fitting the maps ---------------------------------------------------
    @classmethod
    def fit(cls, descriptor, frames, *, n_invariants=DEFAULT_N_INVARIANTS,
            n_vectors=DEFAULT_N_VECTORS):
        """Principal components of the invariants and features of ``frames``
        (ase.Atoms; at most :data:`MAP_FRAMES` evenly spaced ones are used)."""
        invariants, vectors = training_environments(descriptor, frames)
        S = len(descriptor.species)
        A = np.zeros((S, descriptor.n_invariants, n_invariants))
        a = np.zeros((S, n_invariants))
        for s in range(S):
            components, mean, spread = invariant_components(invariants[s], n_invariants)
            k = len(spread)
            A[s][:, :k] = components / spread[None, :]
            a[s] = -mean @ A[s]
        return cls(descriptor, A, a, vector_maps(descriptor, vectors, n_vectors))

    # -- files -------------------------------------------------------------
    def to_document(self):
        return {"invariant_maps": encode_array(self.invariant_maps),
                "invariant_offsets": encode_array(self.invariant_offsets),
                "vector_maps": encode_array(self.vector_maps)}

    @classmethod
    def from_document(cls, document, descriptor):
        maps = cls(descriptor, decode_array(document["invariant_maps"]), decode_array(document["invariant_offsets"]),
                   decode_array(document["vector_maps"]))
        check_map_shapes("product", maps.invariant_maps, maps.vector_maps, descriptor)
        return maps

    # -- shared per-structure quantities ------------------------------------
    def _structure(self, descriptor, atoms, *, want_features=True):
        env = descriptor._environment(atoms)
        rho = descriptor._density(env).copy()
        P = np.empty((len(atoms), descriptor.n_invariants))
        kernels.invariants(rho, descriptor.l_max, P)
        q, jacobian = self._projections(P, env.species)
        D = None
        if want_features:
            D = np.empty((len(atoms), 3, descriptor.n_features))
            kernels.features(rho, descriptor._T, descriptor._G, descriptor.l_max, D)
        return env, rho, q, jacobian, D

    def _projections(self, P, species):
        """q_m(c) (N, K) of the power spectra ``P`` (N, n_invariants) and their
        Jacobians ∂q_m(c)/∂P_q(c) (N, n_invariants, K): here the linear map A_J, a_J."""
        maps = self.invariant_maps[species]
        return np.einsum("nq,nqm->nm", P, maps) + self.invariant_offsets[species], maps

    def _invariant_derivatives(self, descriptor, env, rho, maps):
        """∂y_m(k)/∂x_k (N, 3, M) and ∂y_m(j)/∂x_k per pair k→j (P, 3, M) of
        ``y_m(c) = Σ_q P_q(c) maps[c, q, m]`` at fixed ``maps`` (N, n_invariants, M)."""
        nl = env.neighbours
        N, S, n_max, L2 = rho.shape
        M = maps.shape[2]
        adjoint = np.empty((N, M, S, L2, n_max))
        product_numba.invariant_adjoints(rho, np.ascontiguousarray(maps), descriptor.l_max, adjoint)
        dq_self = np.empty((N, 3, M))
        dq_pair = np.empty((len(nl.neighbours), 3, M))
        product_numba.projected_invariant_gradients(
            nl.offsets, nl.neighbours, nl.vectors, env.species, adjoint, descriptor._table,
            descriptor._grid_step, descriptor.l_max, descriptor._norm, dq_self, dq_pair)
        return dq_self, dq_pair

    def _compressed(self, D, species):
        """D̃ = D B_J per atom, (N, 3, R)."""
        out = np.empty((len(D), 3, self.n_vectors))
        for s in range(self.vector_maps.shape[0]):
            mine = species == s
            out[mine] = D[mine] @ self.vector_maps[s]
        return out

    # -- design rows ---------------------------------------------------------
    @with_kernel_threads
    def born_rows(self, atoms):
        """Design rows of all Z* components, shape (N·9, S·(F + K·R)); row
        ``9k + 3a + β`` is ∂μ_a/∂x_kβ per coefficient (species blocks
        ``[c⁰ (F), c¹ (R), …, c^K (R)]``)."""
        descriptor = self.descriptor
        env, rho, q, jacobian, D = self._structure(descriptor, atoms)
        nl = env.neighbours
        N = len(atoms)
        S, F, K, R = len(descriptor.species), descriptor.n_features, self.n_invariants, self.n_vectors
        halves = (N, descriptor.l_max, 3, S, descriptor.n_max, 2 * descriptor.l_max + 1)
        H1 = np.empty(halves)
        H2 = np.empty(halves)
        kernels.all_half_contractions(rho, descriptor._G, descriptor.l_max, H1, H2)
        # (centre, l, m, a·S·n_max + b·n_max + n), the layout of LambdaSOAP._gradients
        grouped = (N, descriptor.l_max, 2 * descriptor.l_max + 1, 3 * S * descriptor.n_max)
        H1g = np.ascontiguousarray(H1.transpose(0, 1, 5, 2, 3, 4)).reshape(grouped)
        H2g = np.ascontiguousarray(H2.transpose(0, 1, 5, 2, 3, 4)).reshape(grouped)
        weights = np.ascontiguousarray(np.concatenate([np.ones((N, 1)), q], axis=1))
        gradients = np.empty((N, S, K + 1, 3, 3, F))
        product_numba.weighted_feature_gradients(
            nl.offsets, nl.neighbours, nl.vectors, env.species, weights, H1g, H2g, descriptor._T,
            descriptor._table, descriptor._grid_step, descriptor.l_max, descriptor._norm, gradients)
        dq_self, dq_pair = self._invariant_derivatives(descriptor, env, rho, jacobian)
        chain = np.zeros((N, 3, 3, S, K, R))
        product_numba.invariant_design(nl.offsets, nl.neighbours, env.species, dq_self, dq_pair,
                                       self._compressed(D, env.species), chain)
        rows = np.empty((N * 9, S, F + K * R))
        chain = chain.reshape(N * 9, S, K, R)
        for s in range(S):
            rows[:, s, :F] = gradients[:, s, 0].reshape(N * 9, F)
            projected = (gradients[:, s, 1:].reshape(-1, F) @ self.vector_maps[s]).reshape(N, K, 9, R)
            rows[:, s, F:] = (projected.transpose(0, 2, 1, 3).reshape(N * 9, K, R)
                              + chain[:, s]).reshape(N * 9, K * R)
        return rows.reshape(N * 9, S * (F + K * R))

    @with_kernel_threads
    def dipole_rows(self, atoms):
        """Design rows of the three dipole components, shape (3, S·(F + K·R))."""
        descriptor = self.descriptor
        env, _, q, _, D = self._structure(descriptor, atoms)
        S, F, K, R = len(descriptor.species), descriptor.n_features, self.n_invariants, self.n_vectors
        Dt = self._compressed(D, env.species)
        rows = np.zeros((3, S, F + K * R))
        for s in range(S):
            mine = env.species == s
            rows[:, s, :F] = D[mine].sum(axis=0)
            rows[:, s, F:] = np.einsum("nm,nar->amr", q[mine], Dt[mine]).reshape(3, K * R)
        return rows.reshape(3, S * (F + K * R))

    # -- prediction -----------------------------------------------------------
    def _effective(self, descriptor, coefficients, q, species):
        """Per-atom coefficient vectors c_eff (N, F) and the product blocks (S, K, R)."""
        F, K, R = descriptor.n_features, self.n_invariants, self.n_vectors
        c0 = coefficients[:, :F]
        blocks = coefficients[:, F:].reshape(len(coefficients), K, R)
        effective = c0[species]
        for s in range(len(coefficients)):
            mine = species == s
            effective[mine] += q[mine] @ (blocks[s] @ self.vector_maps[s].T)  # q·B_J c^m_J
        return np.ascontiguousarray(effective), blocks

    def _check_coefficients(self, descriptor, coefficients):
        c = np.ascontiguousarray(coefficients, dtype=float)
        expected = (len(descriptor.species), self.n_columns(descriptor))
        if c.shape != expected:
            raise ValueError(f"coefficients have shape {c.shape}; expected {expected} "
                             "(species, F + K·R)")
        return c

    @with_kernel_threads
    def dipole_and_born_charges(self, atoms, coefficients):
        """Descriptor dipole (3,) e·Å and ``Z[k, a, β] = ∂μ_a/∂x_kβ`` (N, 3, 3) e
        for ``coefficients`` (S, F + K·R), without the Z̄ term."""
        descriptor = self.descriptor
        c = self._check_coefficients(descriptor, coefficients)
        env, rho, q, jacobian, D = self._structure(descriptor, atoms)
        nl = env.neighbours
        N = len(atoms)
        effective, blocks = self._effective(descriptor, c, q, env.species)
        Sn = len(descriptor.species) * descriptor.n_max
        three = effective[:, Sn:].reshape(N, descriptor.l_max, Sn, Sn)
        dipole_by_centre = np.empty((N, 3))
        W = np.empty((len(nl.neighbours), 3, 3))
        max_pairs = int(np.diff(nl.offsets).max()) if N else 0
        prediction.predict(nl.offsets, nl.vectors, env.neighbour_species, np.empty((0, 3)),
                           np.arange(N, dtype=np.int64), np.ascontiguousarray(effective[:, :Sn]),
                           np.ascontiguousarray(three), np.ascontiguousarray(three.transpose(0, 1, 3, 2)),
                           descriptor._T, descriptor._G, descriptor._table, descriptor._grid_step,
                           descriptor.l_max, descriptor._norm, max_pairs, 2, dipole_by_centre,
                           np.empty((0, 3)), W)
        Z = np.empty((N, 3, 3))
        kernels.gather_pair_charges(nl.offsets, nl.reverse, W, Z)
        # Σ_j Σ_m (D̃_j·c^m) ∂q_m(j)/∂x_k = ∂/∂x_k Σ_j Σ_q P_q(j) w[j, q, a] at fixed w
        values = np.einsum("nar,nkr->nka", self._compressed(D, env.species), blocks[env.species])
        weights = np.einsum("nqk,nka->nqa", jacobian, values)
        dq_self, dq_pair = self._invariant_derivatives(descriptor, env, rho, weights)
        product_numba.gather_charges(nl.offsets, dq_self, dq_pair, Z)
        return dipole_by_centre.sum(axis=0), Z

    @with_kernel_threads
    def dipole(self, atoms, coefficients):
        """Descriptor dipole (3,) e·Å, without the Z̄ term."""
        descriptor = self.descriptor
        c = self._check_coefficients(descriptor, coefficients)
        env, _, q, _, D = self._structure(descriptor, atoms)
        effective, _ = self._effective(descriptor, c, q, env.species)
        return np.einsum("naf,nf->a", D, effective)


def training_environments(descriptor, frames):
    """λ = 0 invariants (n_c, n_invariants) and λ = 1 feature rows (3·n_c, F)
    of the atoms of each species, from at most :data:`MAP_FRAMES` evenly
    spaced ``frames``: two lists over the species."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(MAP_FRAMES, len(frames))).astype(int))
    S, F = len(descriptor.species), descriptor.n_features
    invariants = [[] for _ in range(S)]
    vectors = [[] for _ in range(S)]
    for i in picks:
        atoms = frames[i]
        index = np.searchsorted(descriptor.numbers, atoms.numbers)
        P = descriptor.invariants(atoms)
        D = descriptor.features(atoms)
        for s in range(S):
            invariants[s].append(P[index == s])
            vectors[s].append(D[index == s].reshape(-1, F))
    return [np.concatenate(x) for x in invariants], [np.concatenate(x) for x in vectors]


def invariant_components(P, n_components):
    """Principal directions of the standardised invariants ``P`` (n_c, n_q).

    Returns ``(components (n_q, k), mean (n_q,), spread (k,))`` with
    k ≤ ``n_components`` (the numerical rank): ``(P − mean) @ components``
    are the principal components, of standard deviations ``spread``
    (columns of zero variance get zero weight).
    """
    mean = P.mean(axis=0)
    std = P.std(axis=0)
    live = std > 1e-12 * max(std.max(), 1e-300)
    scaled = (P[:, live] - mean[live]) / std[live]
    _, singular, vt = np.linalg.svd(scaled, full_matrices=False)
    k = min(n_components, int(np.sum(singular > singular[0] * 1e-8)) if singular.size else 0)
    components = np.zeros((P.shape[1], k))
    components[np.flatnonzero(live)] = vt[:k].T / std[live][:, None]
    return components, mean, singular[:k] / np.sqrt(max(len(P), 1))


def vector_maps(descriptor, vectors, n_vectors):
    """B_J (S, F, R): the R leading principal directions of the RMS-scaled λ = 1
    feature rows ``vectors[s]`` (3·n_c, F) of each species."""
    S, F = len(descriptor.species), descriptor.n_features
    B = np.zeros((S, F, n_vectors))
    for s in range(S):
        D = vectors[s]
        rms = np.sqrt(np.mean(D ** 2, axis=0))
        live = rms > 1e-12 * max(rms.max(), 1e-300)
        _, singular, vt = np.linalg.svd(D[:, live] / rms[live], full_matrices=False)
        r = min(n_vectors, int(np.sum(singular > singular[0] * 1e-8)) if singular.size else 0)
        B[s][np.flatnonzero(live), :r] = (vt[:r] / rms[live][None, :]).T
    return B
