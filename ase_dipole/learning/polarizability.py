"""PolarizabilityModel: a linear λ = 0 ⊕ λ = 2 model of α(R), trained on α
and/or its nuclear derivatives ∂α/∂x (Raman tensors).

.. math::

    \\alpha_{ab} = \\sum_j \\Big[\\sum_f c^{(2)}_{J(j) f} D^{(2)}_{f,ab}(X_j)
        + \\delta_{ab} \\sum_f c^{(0)}_{J(j) f} D^{(0)}_f(X_j)\\Big],
    \\qquad
    \\frac{\\partial\\alpha_{ab}}{\\partial x_{kc}} = \\text{the same with } \\partial D/\\partial x_{kc}

(:class:`ase_dipole.descriptors.lambda2.Lambda2SOAP`). α in Å³, ∂α/∂x in Å²
(docs/raman.md). The fit is the cross-validated ridge of
:mod:`ase_dipole.learning.ridge` on the normal equations of two target kinds,
``"alpha"`` (9 rows per frame) and ``"dalpha"`` (27 N rows per frame), each
with its weight. ∂α/∂x alone cannot fix the per-species constant of the trace
(the atom-count feature has no gradient): fit it from α of a few frames.
"""

import hashlib
import json
import os

import numpy as np

from ase_dipole import __version__
from ase_dipole.atomic import atomic_write
from ase_dipole.descriptors.lambda2 import Lambda2SOAP
from ase_dipole.io.polarizability import get_polarizability, get_polarizability_derivatives
from ase_dipole.learning.ridge import DEFAULT_REGULARIZATION_GRID, NormalEquations, cross_validate, solve

FORMAT_VERSION = 1
MAGIC = "ase-dipole PolarizabilityModel"
KINDS = ("alpha", "dalpha")


class PolarizabilityModel:
    """Linear λ = 0 ⊕ λ = 2 model of the polarizability.

    Parameters
    ----------
    species : sequence of str
    cutoff : float, Å
    n_max : int
        Radial functions per channel (see :class:`Lambda2SOAP`).
    """

    def __init__(self, species, *, cutoff=5.0, n_max=4):
        self.descriptor = Lambda2SOAP(species, cutoff=cutoff, n_max=n_max)
        self.coefficients = None
        self.fit_report = {}
        self.posterior_factor = None  # W (C, R): Σ = W Wᵀ, the coefficients' posterior covariance

    @property
    def species(self):
        return self.descriptor.species

    @property
    def n_columns(self):
        S = len(self.species)
        return S * (self.descriptor.n_tensor_features + self.descriptor.n_scalar_features)

    # -- design rows ------------------------------------------------------
    def _rows(self, atoms, want_gradient):
        """α rows (9, C) and, if wanted, ∂α/∂x rows (27 N, C), row order
        (a, b) and (k, a, b, c)."""
        d = self.descriptor
        S, F2, F0 = len(self.species), d.n_tensor_features, d.n_scalar_features
        if want_gradient:
            D2, D0, G2, G0 = d.gradients(atoms)
        else:
            D2, D0 = d.features(atoms)
        eye = np.eye(3)
        alpha_rows = np.concatenate([
            D2.transpose(2, 3, 0, 1).reshape(9, S * F2),
            (eye[:, :, None] * D0.reshape(1, 1, S * F0)).reshape(9, S * F0)], axis=1)
        if not want_gradient:
            return alpha_rows, None
        N = len(atoms)
        tensor = G2.transpose(0, 4, 5, 1, 2, 3).reshape(N * 27, S * F2)  # (k, a, b, c)
        scalar = (eye[None, :, :, None, None, None] * G0[:, None, None, :, :, :]).reshape(N * 27, S * F0)
        return alpha_rows, np.concatenate([tensor, scalar], axis=1)

    def _check_coefficients(self):
        if self.coefficients is None:
            raise RuntimeError("PolarizabilityModel.fit() has to be done (or load a fitted model)")

    # -- fit ----------------------------------------------------------------
    def fit(self, frames, *, weights=None, n_folds=5, regularization=None,
            grid=DEFAULT_REGULARIZATION_GRID):
        """Fit on the α (``info['polarizability']``) and/or ∂α/∂x
        (``arrays['polarizability_derivatives']``) the frames carry.

        Parameters
        ----------
        frames : sequence of ase.Atoms
        weights : dict, optional
            Weight of each kind's squared residuals, ``{"alpha": 1.0, "dalpha": 1.0}``
            by default; a kind with weight 0 is not read.
        n_folds : int
            Cross-validation folds over frames (frame i in fold i mod n_folds);
            ignored when ``regularization`` is given.
        regularization : float, optional
            Relative ridge strength; default chosen by cross-validation over ``grid``.

        Returns
        -------
        PolarizabilityModel
            ``self``; ``fit_report`` holds the λ, CV RMSE per kind and counts.
        """
        weights = {"alpha": 1.0, "dalpha": 1.0} if weights is None else dict(weights)
        unknown = sorted(set(weights) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown weight kind(s) {unknown}; use {list(KINDS)}")
        frames = list(frames)
        folds = 1 if regularization is not None else int(n_folds)
        if folds > len(frames):
            raise ValueError(f"{len(frames)} frames cannot make {folds} cross-validation folds; "
                             "give fewer n_folds or a regularization")
        equations = NormalEquations(self.n_columns, n_folds=folds, kinds=KINDS)
        counts = {"alpha": 0, "dalpha": 0}
        for index, atoms in enumerate(frames):
            alpha = get_polarizability(atoms) if weights.get("alpha", 0) else None
            dalpha = get_polarizability_derivatives(atoms) if weights.get("dalpha", 0) else None
            if alpha is None and dalpha is None:
                continue
            alpha_rows, dalpha_rows = self._rows(atoms, dalpha is not None)
            fold = index % folds
            if alpha is not None:
                equations.add(fold, "alpha", alpha_rows, alpha.reshape(9))
                counts["alpha"] += 1
            if dalpha is not None:
                equations.add(fold, "dalpha", dalpha_rows, dalpha.reshape(-1))
                counts["dalpha"] += 1
        if not any(counts.values()):
            raise ValueError("no frame carries info['polarizability'] or arrays['polarizability_derivatives'] "
                             "with a non-zero weight; label the frames first")
        weights = {kind: float(weights.get(kind, 0.0)) for kind in KINDS if counts[kind]}
        if regularization is None:
            solution = cross_validate(equations, weights, grid=grid)
            best = int(np.argmin(solution.cv_loss))
            cv_rmse = {kind: float(values[best]) for kind, values in solution.cv_rmse.items()}
            # s² from the held-out weighted residual per row (ase_dipole.learning.posterior)
            scale2 = float(solution.cv_loss[best]) / sum(equations.count(kind) for kind in weights)
            eigen = solution.eigen
            factor = np.zeros((self.n_columns, len(eigen.values)))
            factor[eigen.live] = (eigen.vectors / eigen.scale[:, None]) * np.sqrt(
                scale2 / (eigen.values + solution.regularization))[None, :]
            self.posterior_factor = factor
        else:
            solution = solve(equations, weights, regularization)
            cv_rmse = {}
            self.posterior_factor = None
        self.coefficients = solution.coefficients.copy()
        self.fit_report = {"regularization": solution.regularization, "cv_rmse": cv_rmse,
                           "n_frames_alpha": counts["alpha"], "n_frames_dalpha": counts["dalpha"],
                           "weights": weights}
        return self

    # -- prediction -----------------------------------------------------------
    def _blocks(self):
        self._check_coefficients()
        S = len(self.species)
        F2, F0 = self.descriptor.n_tensor_features, self.descriptor.n_scalar_features
        return self.coefficients[:S * F2].reshape(S, F2), self.coefficients[S * F2:].reshape(S, F0)

    def predict(self, atoms):
        """α (3, 3) Å³ and ∂α/∂x (N, 3, 3, 3) Å², ``[k, a, b, c] = ∂α_ab/∂x_kc``."""
        return self.descriptor.predict(atoms, *self._blocks())

    def predict_polarizability(self, atoms):
        """α (3, 3) Å³ only."""
        return self.descriptor.predict(atoms, *self._blocks(), gradient=False)[0]

    def predict_alphadot(self, atoms, velocities_A_per_fs):
        """α (3, 3) Å³ and α̇ = Σ_k ∂α/∂x_k·v_k (3, 3) Å³/fs for velocities
        (N, 3) Å/fs, the derivative contracted with the velocities inside the
        kernel (what the MD observer logs; ∂α/∂x is never formed)."""
        return self.descriptor.predict_rate(atoms, *self._blocks(), velocities_A_per_fs)

    @property
    def has_uncertainty(self):
        """Whether :meth:`predict_std` is available (a cross-validated fit)."""
        return self.posterior_factor is not None

    def predict_std(self, atoms):
        """Posterior standard deviations of α (3, 3) Å³ and ∂α/∂x (N, 3, 3, 3) Å²
        (the coefficients' uncertainty, ``gᵀΣg`` for each design row g, with
        Σ = s² (G + λD²)⁻¹ as in :mod:`ase_dipole.learning.posterior`; s² the
        cross-validated residual per row)."""
        if self.posterior_factor is None:
            raise RuntimeError("no posterior: fit with cross-validation (no regularization=) for predict_std")
        alpha_rows, dalpha_rows = self._rows(atoms, True)
        sigma_alpha = np.sqrt(np.sum((alpha_rows @ self.posterior_factor) ** 2, axis=1)).reshape(3, 3)
        sigma_dalpha = np.sqrt(np.sum((dalpha_rows @ self.posterior_factor) ** 2, axis=1))
        return sigma_alpha, sigma_dalpha.reshape(len(atoms), 3, 3, 3)

    def predict_from_features(self, atoms):
        """α and ∂α/∂x as rows of the design matrix times the coefficients:
        the route the fit sees, slower (feature gradients formed); for checks."""
        self._check_coefficients()
        alpha_rows, dalpha_rows = self._rows(atoms, True)
        return ((alpha_rows @ self.coefficients).reshape(3, 3),
                (dalpha_rows @ self.coefficients).reshape(len(atoms), 3, 3, 3))

    # -- file -----------------------------------------------------------------
    @property
    def sha256(self):
        """Digest of the hyper-parameters and coefficients."""
        self._check_coefficients()
        digest = hashlib.sha256(json.dumps(self.descriptor.hyper_parameters, sort_keys=True).encode())
        digest.update(np.ascontiguousarray(self.coefficients, dtype=np.float64).tobytes())
        return digest.hexdigest()

    def save(self, path):
        """Write the model (npz: magic, format version, hyper-parameters,
        coefficients, fit report, digest) atomically."""
        self._check_coefficients()
        header = {"magic": MAGIC, "format_version": FORMAT_VERSION,
                  "hyper_parameters": self.descriptor.hyper_parameters, "fit_report": self.fit_report,
                  "sha256": self.sha256, "ase_dipole_version": __version__}
        with atomic_write(path, "wb") as handle:
            arrays = {"coefficients": self.coefficients}
            if self.posterior_factor is not None:
                arrays["posterior_factor"] = self.posterior_factor
            np.savez(handle, header=np.array(json.dumps(header)), **arrays)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`; a wrong file or version is one clear error."""
        path = os.fspath(path)
        try:
            with np.load(path) as stored:
                header = json.loads(str(stored["header"]))
                coefficients = stored["coefficients"].copy()
                factor = stored["posterior_factor"].copy() if "posterior_factor" in stored.files else None
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(f"'{path}' is not a PolarizabilityModel file ({error})") from error
        if header.get("magic") != MAGIC or header.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"'{path}' has format {header.get('magic')!r} version "
                             f"{header.get('format_version')!r}; this ase-dipole reads {MAGIC!r} "
                             f"version {FORMAT_VERSION}")
        model = cls(**header["hyper_parameters"])
        if coefficients.shape != (model.n_columns,):
            raise ValueError(f"'{path}' holds {coefficients.shape} coefficients; its hyper-parameters "
                             f"need ({model.n_columns},): the file is damaged")
        model.coefficients = coefficients
        model.posterior_factor = factor
        model.fit_report = header.get("fit_report", {})
        if model.sha256 != header.get("sha256"):
            raise ValueError(f"'{path}': digest mismatch (file {str(header.get('sha256'))[:12]}…, "
                             f"content {model.sha256[:12]}…); the file is damaged")
        return model
