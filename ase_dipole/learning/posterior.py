"""Posterior covariance of the ridge coefficients: the uncertainty of
:class:`ase_dipole.learning.model.PolarizationModel` predictions.

A ridge fit is the posterior mean of Bayesian linear regression. With the
weighted normal equations ``G = Σ_kind w_kind A_kindᵀ A_kind`` of the fit,
the standardising column norms ``d = sqrt(diag G)`` and the relative ridge
strength λ, the prior is ``c_f ~ N(0, s²/(λ d_f²))`` and the noise of a row of
kind k is ``N(0, s²/w_k)``; the posterior covariance of the coefficients is

.. math::

    Σ = s^2 (G + λ D^2)^{-1}
      = D^{-1} V \\,\\mathrm{diag}\\!\\left(\\frac{s^2}{e + λ}\\right) V^T D^{-1},

``D⁻¹GD⁻¹ = V diag(e) Vᵀ``. The common scale s² is fitted from the data:
the cross-validated weighted residual per row at the chosen λ (held-out
residuals, so the noise includes the model's form error), or, without
cross-validation, the training residual over the residual degrees of
freedom ``n − γ``, ``γ = Σ e/(e + λ)`` (MacKay's evidence estimate).

A prediction that is linear in the coefficients, ``y = g·c`` (a Z* component:
a row of the Z* design; a dipole component), has variance ``gᵀΣg``, plus the
noise variance of its kind for a new observation.

Storage. The model file keeps the factor ``W`` of ``Σ = W Wᵀ``,
``W = D⁻¹ V diag(sqrt(s²/(e + λ)))`` (P × R, R the number of live columns;
with a model restricted to reference environments, ``c = Bᵀ r`` and
``W = Bᵀ D⁻¹ V diag(...)``, so R = Σ r_s ≤ P), in single precision, and
projects the rows in single precision: every term of ``gᵀΣg = |Wᵀg|²`` is
non-negative, so the variance is never negative, and it differs from the
double-precision product by a relative 7e-5 at most (σ by 4e-5) on a
held-out liquid-water frame at λ = 1e-8 (measured). (The form
``diag(s²/(λd²)) − UUᵀ`` would truncate U at small λ only where e ≪ λ, which
leaves almost all P directions at the small λ that liquid water picks, and it
cancels catastrophically in single precision.)
"""

import base64
from dataclasses import dataclass

import numpy as np
from scipy.linalg import eigh

#: columns with a squared norm below this fraction of the largest are dead (zero
#: coefficient, zero variance), as in :mod:`ase_dipole.learning.ridge`
DEAD_COLUMN = 1e-20


def atom_sigma(born_std):
    """Per-atom σ(Z*): RMS of the nine component standard deviations, (N,) e,
    from ``born_std`` (N, 3, 3) e."""
    born_std = np.asarray(born_std, dtype=float)
    return np.sqrt(np.mean(born_std.reshape(len(born_std), 9) ** 2, axis=1))


def encode_array(array, dtype="<f8"):
    """JSON-able dict holding an array exactly in ``dtype`` (base64 of its bytes)."""
    array = np.ascontiguousarray(array, dtype=dtype)
    return {"dtype": dtype, "shape": list(array.shape),
            "base64": base64.b64encode(array.tobytes()).decode("ascii")}


def decode_array(document):
    """Inverse of :func:`encode_array`."""
    dtype = document.get("dtype")
    if dtype not in ("<f8", "<f4"):
        raise ValueError(f"unsupported array dtype {dtype!r}")
    data = base64.b64decode(document["base64"].encode("ascii"), validate=True)
    return np.frombuffer(data, dtype=dtype).reshape(document["shape"]).copy()


@dataclass
class Posterior:
    """Posterior covariance ``Σ = W Wᵀ`` of the flattened (S·F,) coefficient
    vector, and the noise of new observations.

    Attributes
    ----------
    factor : ndarray, shape (P, R), float32
        ``W`` (module docstring).
    noise_variance : dict
        ``{"born": e², "dipole": (e·Å)²}`` variance of the noise of a new
        observation of each fitted kind (``s²/w_k``).
    scale2 : float
        The fitted s² (weighted units).
    method : str
        How s² was fitted (``"cross-validation"`` or ``"evidence"``).
    columns : ndarray, shape (P',), int64, or None
        With feature selection (:mod:`ase_dipole.learning.feature_selection`)
        the coefficients outside the kept columns are exactly zero and
        ``factor`` has one row per kept column: its rows are coefficients
        ``columns`` of the flattened vector (``None``: all P).
    """

    factor: np.ndarray
    noise_variance: dict
    scale2: float
    method: str
    columns: np.ndarray = None

    def variance(self, rows):
        """Epistemic variance ``gᵀΣg`` of each row ``g`` of ``rows`` (m, P), (m,)."""
        rows = np.asarray(rows)
        if self.columns is not None:
            rows = rows[:, self.columns]
        projected = np.asarray(rows, dtype=np.float32) @ self.factor
        return np.einsum("mr,mr->m", projected, projected, dtype=np.float64)

    def full_factor_rows(self, draws, n_columns):
        """Draws (K, P') on the factor's rows → (K, P) on all ``n_columns`` coefficients."""
        if self.columns is None:
            return draws
        out = np.zeros((len(draws), n_columns))
        out[:, self.columns] = draws
        return out

    def to_document(self):
        document = {"factor": encode_array(self.factor, "<f4"),
                    "noise_variance": {k: float(v) for k, v in self.noise_variance.items()},
                    "scale2": float(self.scale2), "method": self.method}
        if self.columns is not None:
            document["columns"] = [int(c) for c in self.columns]
        return document

    @classmethod
    def from_document(cls, document, n_columns):
        factor = decode_array(document["factor"]).astype(np.float32)
        columns = document.get("columns")
        if columns is not None:
            columns = np.array(columns, dtype=np.int64)
            if columns.ndim != 1 or (len(columns) and not 0 <= columns.min() <= columns.max() < n_columns):
                raise ValueError(f"posterior columns do not index {n_columns} coefficients")
        rows = n_columns if columns is None else len(columns)
        if factor.ndim != 2 or factor.shape[0] != rows:
            raise ValueError(f"posterior factor {factor.shape} does not fit {rows} coefficients")
        return cls(factor, {k: float(v) for k, v in document["noise_variance"].items()},
                   float(document["scale2"]), str(document["method"]), columns)


def _scaled_eigen(G):
    squares = np.clip(np.diag(G), 0.0, None)
    live = squares > DEAD_COLUMN * squares.max() if squares.max() > 0 else np.zeros(len(G), bool)
    d = np.sqrt(squares[live])
    values, vectors = eigh(G[np.ix_(live, live)] / d[:, None] / d[None, :], check_finite=False)
    return live, d, np.clip(values, 0.0, None), vectors


def _eigen(G, eigen):
    if eigen is None:
        return _scaled_eigen(G)
    return eigen.live, eigen.scale, eigen.values, eigen.vectors


def fit_posterior(G, regularization, scale2, noise_weights, *, method, bases=None, eigen=None):
    """Posterior of the ridge solution of the weighted normal equations ``G``.

    Parameters
    ----------
    G : ndarray, shape (R, R), or None
        Weighted ``AᵀA`` of all training rows (R = P, or Σ r_s on references);
        not needed when ``eigen`` is given.
    regularization : float
        The relative λ of the fit.
    scale2 : float
        The fitted s² (see the module docstring).
    noise_weights : dict of str to float
        Row weight w_k of every fitted kind; the noise variance of kind k is ``s²/w_k``.
    method : str
        Recorded with the posterior.
    bases : list of ndarray (r_s, F) or None
        Reference bases of the species (``None``: full feature space).
    eigen : ase_dipole.learning.ridge.ScaledEigen or None
        The diagonalisation of the scaled ``G`` made by the ridge solve
        (:attr:`~ase_dipole.learning.ridge.RidgeSolution.eigen`), reused
        instead of diagonalising ``G`` again.

    Returns
    -------
    Posterior
    """
    live, d, values, vectors = _eigen(G, eigen)
    reduced = np.zeros((len(live), len(values)))
    reduced[live] = vectors / d[:, None] * np.sqrt(scale2 / (values + float(regularization)))[None, :]
    if bases is not None and bases[0] is not None:
        blocks, start = [], 0
        for basis in bases:  # c_s = basis_sᵀ r_s
            blocks.append(basis.T @ reduced[start:start + len(basis)])
            start += len(basis)
        reduced = np.concatenate(blocks)
    noise = {kind: scale2 / w for kind, w in noise_weights.items() if w > 0}
    return Posterior(reduced.astype(np.float32), noise, float(scale2), method)


def evidence_scale2(residual_sum, n_rows, G, regularization, *, eigen=None):
    """s² from the weighted training residual: ``RSS/(n − γ)``,
    ``γ = Σ e/(e + λ)`` the effective number of parameters (``e`` from
    ``eigen`` when given, see :func:`fit_posterior`)."""
    _, _, values, _ = _eigen(G, eigen)
    gamma = float(np.sum(values / (values + regularization)))
    return float(residual_sum / max(n_rows - gamma, 1.0))
