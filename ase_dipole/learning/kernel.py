"""Sparse λ-SOAP kernel model K¹·(K⁰)^ζ in its Nyström feature-space form
(``PolarizationModel(model="kernel")``).

.. math::

    μ = Σ_j \\Big[ D(X_j)·c^0_{J} + Σ_{m=1}^{K} φ_m(X_j)\\, \\tilde D(X_j)·c^m_{J} \\Big]
        + Σ_i \\bar Z_{J(i)} x_i,

    φ_m(X) = Σ_{r=1}^{M} κ(X, X_r)\\, U_{J,rm}, \\qquad
    κ(X, X') = \\Big(\\frac{1 + \\hat p(X)·\\hat p(X')}{2}\\Big)^{ζ},
    \\qquad \\hat p = \\frac{u}{|u|},\\; u = (P − \\bar P_J)\\, C_J,

with D the λ = 1 features, D̃ = D B_J their R leading principal directions
(as in :mod:`ase_dipole.learning.product`), P the λ = 0 power spectrum of the
centre, and per species J:

* ``C_J`` (n_invariants × d): the d leading principal directions of the
  standardised invariants of the training atoms (not whitened: the metric of
  the standardised power spectrum restricted to its d main directions);
  ``P̄_J`` their mean, so p̂ is the *centred, normalised* invariant vector and
  ``p̂·p̂'`` the centred, normalised linear λ = 0 kernel, in [−1, 1];
* ``X_r``: M reference environments picked by farthest point sampling on p̂
  among the training atoms of species J (their unit vectors are stored);
* ``U_J = V diag(e)^{-1/2}`` (M × K): the K leading eigenvectors of the
  reference kernel matrix ``κ(X_r, X_r')`` (Nyström), so that
  ``Σ_m φ_m(X) φ_m(X') ≈ κ(X, X')``.

The second term is then the subset-of-regressors (sparse GPR) model with the
kernel ``K¹(X, X')·κ(X, X')``, ``K¹ = D̃ D̃'ᵀ`` the linear λ = 1 kernel (a
3 × 3 block, rotation covariant), expanded in its K·R features; the first
term is the linear λ-SOAP model, which the kernel model contains. ζ = 1 is
the product model's form with a normalised kernel; ζ > 1 raises the body
order. λ (the ridge strength on standardised columns, i.e. the prior) is
chosen by frame-grouped cross-validation; ζ, M, K, R, d are set on the model.

Derivatives are exact, by the product rule: ``∂φ_m/∂P`` at each centre is a
linear map of the invariants (the Jacobian J of :meth:`KernelFeatures._projections`),
so the Z* route and the design rows are those of the product model with a
per-atom Jacobian in place of its constant map (neighbour-list kernels of
:mod:`ase_dipole.learning.product_numba`; no N × N array).
"""

import numpy as np

from ase_dipole.learning.posterior import decode_array, encode_array
from ase_dipole.learning.product import (ProductFeatures, check_map_shapes, invariant_components,
                                         training_environments, vector_maps)
from ase_dipole.learning.ridge import farthest_point_sampling

#: default exponent ζ of the λ = 0 kernel
DEFAULT_ZETA = 2
#: default number M of reference environments per species
DEFAULT_KERNEL_REFERENCES = 64
#: default number K of Nyström features per species
DEFAULT_KERNEL_FEATURES = 12
#: default number R of compressed λ = 1 directions per species
DEFAULT_KERNEL_VECTORS = 32
#: default number d of principal directions of the invariants in the λ = 0 metric
DEFAULT_METRIC_COMPONENTS = 64
#: eigenvalues of the reference kernel matrix below this fraction of the largest are dropped
NYSTROM_RCOND = 1e-8


class KernelFeatures(ProductFeatures):
    """The fitted maps of the kernel model (module docstring): metric C_J,
    centre P̄_J, reference unit vectors, Nyström map U_J, ζ, and B_J.

    Parameters
    ----------
    descriptor : LambdaSOAP
    metric : ndarray, shape (S, n_invariants, d)
    centre : ndarray, shape (S, n_invariants)
    references : ndarray, shape (S, M, d)
        Unit vectors p̂ of the reference environments.
    nystrom : ndarray, shape (S, M, K)
    zeta : int
    vector_maps : ndarray, shape (S, F, R)
    """

    def __init__(self, descriptor, metric, centre, references, nystrom, zeta, vector_maps):
        self.descriptor = descriptor
        self.metric = np.ascontiguousarray(metric, dtype=float)
        self.centre = np.ascontiguousarray(centre, dtype=float)
        self.references = np.ascontiguousarray(references, dtype=float)
        self.nystrom = np.ascontiguousarray(nystrom, dtype=float)
        self.zeta = int(zeta)
        self.vector_maps = np.ascontiguousarray(vector_maps, dtype=float)
        S, n_q, d = self.metric.shape
        if (self.centre.shape != (S, n_q) or self.references.shape[::2] != (S, d)
                or self.nystrom.shape[:2] != self.references.shape[:2] or self.vector_maps.shape[0] != S):
            raise ValueError(f"kernel maps of inconsistent shapes: metric {self.metric.shape}, centre "
                             f"{self.centre.shape}, references {self.references.shape}, Nyström "
                             f"{self.nystrom.shape}, B {self.vector_maps.shape}")
        if self.zeta < 1:
            raise ValueError(f"zeta must be a positive integer, got {zeta!r}")

    @property
    def n_invariants(self):
        """K, the Nyström features per species."""
        return self.nystrom.shape[2]

    # -- fitting the maps ---------------------------------------------------
    @classmethod
    def fit(cls, descriptor, frames, *, zeta=DEFAULT_ZETA, n_references=DEFAULT_KERNEL_REFERENCES,
            n_features=DEFAULT_KERNEL_FEATURES, n_vectors=DEFAULT_KERNEL_VECTORS,
            n_components=DEFAULT_METRIC_COMPONENTS):
        """Metric, references and Nyström map from the atoms of ``frames``
        (ase.Atoms; at most :data:`~ase_dipole.learning.product.MAP_FRAMES`
        evenly spaced ones), per species."""
        if int(zeta) < 1:
            raise ValueError(f"zeta must be a positive integer, got {zeta!r}")
        invariants, vectors = training_environments(descriptor, frames)
        S, n_q = len(descriptor.species), descriptor.n_invariants
        d = min(int(n_components), n_q)
        M = int(n_references)
        K = min(int(n_features), M)
        metric = np.zeros((S, n_q, d))
        centre = np.zeros((S, n_q))
        references = np.zeros((S, M, d))
        nystrom = np.zeros((S, M, K))
        for s in range(S):
            components, mean, _ = invariant_components(invariants[s], d)
            metric[s][:, :components.shape[1]] = components
            centre[s] = mean
            unit = _normalised((invariants[s] - mean) @ metric[s])
            picked = farthest_point_sampling(unit, min(M, len(unit)))
            references[s][:len(picked)] = unit[picked]
            gram = ((1.0 + references[s][:len(picked)] @ references[s][:len(picked)].T) / 2.0) ** int(zeta)
            values, vectors_ = np.linalg.eigh(gram)
            order = np.argsort(values)[::-1][:K]
            keep = order[values[order] > NYSTROM_RCOND * values[order[0]]]
            nystrom[s][:len(picked), :len(keep)] = vectors_[:, keep] / np.sqrt(values[keep])[None, :]
        return cls(descriptor, metric, centre, references, nystrom, zeta,
                   vector_maps(descriptor, vectors, n_vectors))

    # -- the non-linear projections -----------------------------------------
    def _projections(self, P, species):
        """φ_m(c) (N, K) and their Jacobians ∂φ_m(c)/∂P_q(c) (N, n_invariants, K)."""
        N, K = len(P), self.n_invariants
        phi = np.empty((N, K))
        jacobian = np.empty((N, P.shape[1], K))
        for s in range(self.metric.shape[0]):
            mine = np.flatnonzero(species == s)
            if not len(mine):
                continue
            u = (P[mine] - self.centre[s]) @ self.metric[s]  # (n, d)
            length = np.maximum(np.linalg.norm(u, axis=1), 1e-300)
            unit = u / length[:, None]
            cosine = unit @ self.references[s].T  # (n, M)
            base = (1.0 + cosine) / 2.0
            phi[mine] = (base ** self.zeta) @ self.nystrom[s]
            # ∂κ_r/∂u = ζ/2 base_r^(ζ−1) (p̂_r − cos_r p̂)/|u|
            slope = 0.5 * self.zeta * base ** (self.zeta - 1)  # (n, M)
            weighted = slope[:, :, None] * self.nystrom[s][None]  # (n, M, K)
            du = (np.matmul(self.references[s].T[None], weighted)
                  - unit[:, :, None] * np.matmul(cosine[:, None, :], weighted))
            du /= length[:, None, None]
            jacobian[mine] = np.matmul(self.metric[s][None], du)
        return phi, jacobian

    # -- files -------------------------------------------------------------
    def to_document(self):
        return {"metric": encode_array(self.metric), "centre": encode_array(self.centre),
                "references": encode_array(self.references), "nystrom": encode_array(self.nystrom),
                "zeta": self.zeta, "vector_maps": encode_array(self.vector_maps)}

    @classmethod
    def from_document(cls, document, descriptor):
        maps = cls(descriptor, decode_array(document["metric"]), decode_array(document["centre"]),
                   decode_array(document["references"]), decode_array(document["nystrom"]),
                   int(document["zeta"]), decode_array(document["vector_maps"]))
        check_map_shapes("kernel", maps.metric, maps.vector_maps, descriptor)
        return maps


def _normalised(u):
    return u / np.maximum(np.linalg.norm(u, axis=1, keepdims=True), 1e-300)
