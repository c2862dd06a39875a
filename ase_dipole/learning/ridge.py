"""Ridge regression from normal equations, k-fold cross-validation and
farthest point sampling — the linear algebra of :mod:`ase_dipole.learning.model`.

The least-squares problem is never held as a design matrix: every block of
rows ``A`` (one frame, one kind of target) is folded into the normal
equations ``AᵀA``, ``Aᵀy``, ``yᵀy`` of its cross-validation fold and target
kind, so memory is flat in the number of frames and k-fold cross-validation
needs no second pass over the data: the training system of fold k is the sum
of the other folds, and the validation error of any coefficient vector c on
fold k is ``cᵀGc − 2cᵀb + yᵀy`` with that fold's own sums.

The solve scales the columns to unit diagonal (``G' = D⁻¹GD⁻¹`` with
``D = sqrt(diag G)``). The final solve diagonalises ``G'`` (``eigh``; the
posterior reuses it). Each cross-validation fold instead reduces its ``G'``
to a band matrix ``B = ZᵀG'Z`` by blocked Householder reflections (matrix
products only, half the cost of a diagonalisation), after which the ridge
solution for each λ of the grid is one banded Cholesky solve of
``(B + λ)w = Zᵀb`` and ``c = Zw``: the solutions for a whole grid of
regularisation strengths cost one reduction per fold. With at most as many
rows as coefficients (n ≤ P) the folds are solved in the dual form instead:
the rows are kept, and each fold band-reduces the Gram matrix of its
training rows (n_T × n_T, cost n_T³ instead of P³; :func:`_dual_losses`).
Frames that are identical share a fold (:func:`identical_frame_groups`).
The regularisation λ is relative: the penalty is ``λ Σ_f (d_f c_f)²``,
i.e. ridge on standardised columns, and λ = 1e-6 means one millionth of a
typical column's squared norm.
"""

import contextlib
import os
from dataclasses import dataclass

import numpy as np
from scipy.linalg import LinAlgError, eigh, solveh_banded
from scipy.linalg.lapack import dgeqrf
from scipy.linalg.blas import dsymm, dsymv, dsyr2k, dsyrk

from ase_dipole import threads
from ase_dipole.learning import ridge_numba as kernels

#: half-bandwidth of the band matrix each cross-validation fold is reduced to
BAND_WIDTH = 128
#: default grid of relative regularisation strengths searched by cross-validation
DEFAULT_REGULARIZATION_GRID = tuple(float(x) for x in np.logspace(-12.0, 0.0, 25))


def _machine_busy():
    """Whether the 1-minute load average is at or above the cores this process may use."""
    return hasattr(os, "getloadavg") and os.getloadavg()[0] >= threads._available_cores()


@contextlib.contextmanager
def fit_blas_threads():
    """BLAS threads of the fit's large products (``dsyrk``, ``eigh``): one
    when the machine is busy (as :func:`ase_dipole.threads.kernel_threads`
    decides for the kernels), BLAS's own count otherwise. A BLAS thread
    that waits for a descheduled partner spins: the 64-frame water-dimer fit
    took 56 s of process CPU (244 s wall) at load 11–17 on 2 cores with two
    BLAS threads, 3.3 s on one (measured)."""
    if _machine_busy():
        with threads.single_blas_thread():
            yield
    else:
        yield


class NormalEquations:
    """Normal equations of a least-squares problem, accumulated by blocks of
    rows and kept separately per cross-validation fold and per target kind.

    Parameters
    ----------
    n_columns : int
        Number P of unknowns.
    n_folds : int
        Number of cross-validation folds (1 when no cross-validation is done).
    kinds : sequence of str
        Names of the target kinds (e.g. ``"born"``, ``"dipole"``); each kind
        gets its own sums so that kinds can be weighted after accumulation.
    """

    #: buffered rows per (fold, kind) before they are folded into AᵀA
    BUFFER_ROWS = 512

    def __init__(self, n_columns, *, n_folds=1, kinds=("born",)):
        if int(n_folds) < 1:
            raise ValueError(f"n_folds must be >= 1, got {n_folds}")
        self.n_columns = int(n_columns)
        self.n_folds = int(n_folds)
        self.kinds = tuple(kinds)
        P = self.n_columns
        self._gram = {}  # (fold, kind) -> (P, P) upper triangle of AᵀA
        self._rhs = {}  # (fold, kind) -> (P,) Aᵀy
        self._sums = {(f, k): np.zeros(3) for f in range(self.n_folds) for k in self.kinds}
        self._pending = {}  # (fold, kind) -> [(rows, targets), ...] not yet folded in
        # (fold, kind) -> [(rows, targets), ...] kept for the dual form while there are at most
        # P rows in all (at most P² numbers, one more normal matrix); None beyond
        # while they are kept, rows are folded into the (P, P) sums (allocated then) only when
        # a sum is asked for, so that a cross-validation in the dual form never forms them
        self._kept, self._n_kept = {}, 0
        for fold in range(self.n_folds):
            for kind in self.kinds:
                self._rhs[fold, kind] = np.zeros(P)

    def add(self, fold, kind, rows, targets):
        """Fold a block of rows into the sums of ``(fold, kind)``.

        Small blocks (a dipole is 3 rows) are buffered and folded in together,
        so that the (P, P) sum is not swept for every few rows.

        Parameters
        ----------
        fold : int
            Cross-validation fold of the block, ``0 <= fold < n_folds``.
        kind : str
            Target kind, one of ``kinds``.
        rows : ndarray, shape (m, P), float
            Rows of the design matrix.
        targets : ndarray, shape (m,), float
            Target values of the rows.
        """
        rows = np.asarray(rows, dtype=float)
        targets = np.asarray(targets, dtype=float)
        if rows.ndim != 2 or rows.shape[1] != self.n_columns or targets.shape != rows.shape[:1]:
            raise ValueError(f"rows {rows.shape} and targets {targets.shape} do not match "
                             f"(m, {self.n_columns}) and (m,)")
        key = (fold, kind)
        self._sums[key] += (len(targets), targets.sum(), targets @ targets)
        pending = self._pending.setdefault(key, [])
        pending.append((rows, targets))
        if self._kept is not None:
            self._n_kept += len(rows)
            if self._n_kept > self.n_columns:
                self.release_rows()
            else:
                self._kept.setdefault(key, []).append((rows, targets))
                return
        if sum(len(r) for r, _ in pending) >= self.BUFFER_ROWS:
            self._flush(key)

    def _flush(self, key):
        pending = self._pending.pop(key, [])
        if not pending:
            return
        if len(pending) == 1:  # a frame's Z* rows: folded in as they are, not copied
            rows, targets = pending[0]
        else:
            rows = np.concatenate([r for r, _ in pending])
            targets = np.concatenate([t for _, t in pending])
        if key not in self._gram:
            self._gram[key] = np.zeros((self.n_columns,) * 2, order="F")
        # rows.T is Fortran-ordered for C-ordered rows: dsyrk forms (rowsᵀ)(rowsᵀ)ᵀ without a copy
        with fit_blas_threads():
            self._gram[key] = dsyrk(1.0, np.asfortranarray(rows.T), beta=1.0, c=self._gram[key],
                                    trans=0, lower=0, overwrite_c=1)
        self._rhs[key] += rows.T @ targets

    def kept_rows(self):
        """The rows and targets of every ``(fold, kind)``, ``{(fold, kind): (rows (m, P),
        targets (m,))}``, when there are at most P rows in all; ``None`` otherwise."""
        if self._kept is None:
            return None
        return {key: (np.concatenate([r for r, _ in blocks]), np.concatenate([t for _, t in blocks]))
                for key, blocks in self._kept.items()}

    def release_rows(self):
        """Stop keeping rows (frees them once they are folded into the sums)."""
        self._kept = None
        self._flush_all()

    def kept_diagonal(self, weights):
        """``diag Σ_kind w_kind AᵀA`` (P,) from the kept rows (:meth:`kept_rows`
        must not be ``None``), without forming the (P, P) sums."""
        diagonal = np.zeros(self.n_columns)
        for (_, kind), blocks in self._kept.items():
            if weights.get(kind):
                for rows, _ in blocks:
                    diagonal += weights[kind] * np.einsum("ij,ij->j", rows, rows)
        return diagonal

    def _flush_all(self):
        for key in list(self._pending):
            self._flush(key)

    def _upper(self, fold, kind):
        """``AᵀA`` of ``(fold, kind)`` held as its upper triangle (the strict
        lower triangle is zero), shape (P, P), Fortran order."""
        self._flush((fold, kind))
        if (fold, kind) not in self._gram:
            self._gram[fold, kind] = np.zeros((self.n_columns,) * 2, order="F")
        return self._gram[fold, kind]

    def gram(self, fold, kind):
        """Symmetric ``AᵀA`` of ``(fold, kind)``, shape (P, P)."""
        return _symmetric(self._upper(fold, kind))

    def rhs(self, fold, kind):
        """``Aᵀy`` of ``(fold, kind)``, shape (P,)."""
        self._flush((fold, kind))
        return self._rhs[fold, kind]

    def count(self, kind, folds=None):
        """Number of rows of ``kind`` in ``folds`` (all folds by default)."""
        return int(sum(self._sums[f, kind][0] for f in self._folds(folds)))

    def target_std(self, kind):
        """Standard deviation of all targets of ``kind`` about their mean;
        ``nan`` without rows."""
        n, total, squares = sum(self._sums[f, kind] for f in range(self.n_folds))
        if n == 0:
            return float("nan")
        return float(np.sqrt(max(squares / n - (total / n) ** 2, 0.0)))

    def _folds(self, folds):
        return range(self.n_folds) if folds is None else folds

    def weighted(self, weights, folds=None):
        """Weighted sums ``Σ_kind w_kind (AᵀA, Aᵀy)`` over ``folds``."""
        upper, b = self._weighted_upper(weights, folds)
        return _symmetric(upper), b

    def _weighted_upper(self, weights, folds=None):
        """As :meth:`weighted`, with ``AᵀA`` as its upper triangle (strict lower zero)."""
        P = self.n_columns
        upper, b = None, np.zeros(P)
        for fold in self._folds(folds):
            for kind, w in weights.items():
                if w:
                    if upper is None:
                        upper = w * self._upper(fold, kind)
                    else:
                        upper += w * self._upper(fold, kind)
                    b += w * self.rhs(fold, kind)
        return (np.zeros((P, P), order="F") if upper is None else upper), b

    def _weighted_rhs(self, weights, fold):
        """``Σ_kind w_kind Aᵀy`` of ``fold``, shape (P,) (as :meth:`_weighted_upper`)."""
        b = np.zeros(self.n_columns)
        for kind, w in weights.items():
            if w:
                b += w * self.rhs(fold, kind)
        return b

    def _weighted_terms(self, weights, fold):
        """The weights (T,) and ``AᵀA`` upper triangles (tuple of T) of the
        kinds of ``fold`` with a non-zero weight, in the order of ``weights``."""
        kinds = [kind for kind, w in weights.items() if w]
        return (np.array([float(weights[kind]) for kind in kinds]),
                tuple(self._upper(fold, kind) for kind in kinds))

    def squared_error(self, coefficients, fold, kind):
        """Sum of squared residuals ``|Ac − y|²`` of ``(fold, kind)`` for one
        (P,) or several (P, L) coefficient vectors."""
        c = np.asarray(coefficients, dtype=float)
        upper = self._upper(fold, kind)  # flushes; products from the upper triangle alone
        n, _, squares = self._sums[fold, kind]
        if c.ndim == 1:
            value = c @ dsymv(1.0, upper, c, lower=0) - 2.0 * c @ self._rhs[fold, kind] + squares
        else:
            product = dsymm(1.0, upper, np.asfortranarray(c), side=0, lower=0)
            value = np.einsum("pl,pl->l", c, product) - 2.0 * self._rhs[fold, kind] @ c + squares
        return np.maximum(value, 0.0)


def _symmetric(upper):
    """The symmetric matrix whose upper triangle is that of ``upper`` (whose
    strict lower triangle is zero)."""
    full = upper.copy(order="K")
    full += upper.T  # each off-diagonal entry plus the zero mirrored onto it
    np.fill_diagonal(full, np.diagonal(upper) + 0.0)
    return full


@dataclass(frozen=True)
class RidgeSolution:
    """Result of :func:`solve` or :func:`cross_validate`.

    Attributes
    ----------
    coefficients : ndarray, shape (P,)
        Minimiser of ``Σ_kind w_kind |A_kind c − y_kind|² + λ Σ_f d_f² c_f²``.
    regularization : float
        The relative regularisation λ used.
    grid : ndarray, shape (L,)
        The λ searched by cross-validation (empty when λ was given).
    cv_loss : ndarray, shape (L,)
        Weighted validation loss summed over folds, per λ of ``grid``.
    cv_rmse : dict of str to ndarray, shape (L,)
        Validation RMSE of each target kind per λ (unweighted, target units).
    eigen : ScaledEigen
        The diagonalisation of the final (all folds) system that gave the
        coefficients, for the posterior (:mod:`ase_dipole.learning.posterior`).
    form : str
        How the cross-validation solved its folds (``"primal"`` or ``"dual"``,
        :func:`cross_validate`); ``"primal"`` without cross-validation.
    """

    coefficients: np.ndarray
    regularization: float
    grid: np.ndarray
    cv_loss: np.ndarray
    cv_rmse: dict
    eigen: "ScaledEigen"
    form: str = "primal"


@dataclass(frozen=True)
class ScaledEigen:
    """Diagonalisation ``D⁻¹ G D⁻¹ = V diag(e) Vᵀ`` of the column-scaled normal
    matrix restricted to its live columns.

    Attributes
    ----------
    live : ndarray, shape (P,), bool
        Columns that are not numerically zero.
    scale : ndarray, shape (R,)
        ``d``, the column scale of the live columns.
    values : ndarray, shape (R,)
        ``e``, clipped at 0.
    vectors : ndarray, shape (R, R)
        ``V``.
    """

    live: np.ndarray
    scale: np.ndarray
    values: np.ndarray
    vectors: np.ndarray


#: a column whose squared norm is below this fraction of the largest one is
#: numerically zero (a feature that vanishes by symmetry, up to round-off) and
#: gets a zero coefficient instead of an arbitrarily large one
DEAD_COLUMN = 1e-20


def _column_scale(diagonal, standardize):
    """Column norms used to scale G (all equal to their mean when not
    standardising) and the mask of live (not numerically zero) columns,
    from the diagonal (P,) of G."""
    squares = np.clip(diagonal, 0.0, None)
    live = squares > DEAD_COLUMN * squares.max() if squares.max() > 0 else np.zeros(len(squares), bool)
    if standardize:
        scale = np.sqrt(squares)
    else:
        scale = np.full(len(squares), np.sqrt(squares[live].mean()) if live.any() else 1.0)
    scale[~live] = 1.0
    return scale, live


def _scaled_live(upper, scale, live, *, minus=None, out=None):
    """``D⁻¹GD⁻¹`` restricted to the live columns, shape (R, R), C order, in
    one pass over the upper triangle of ``G = upper − Σ_t w_t M_t`` for
    ``minus = (w (T,), (M_0, …))`` (optional; a full symmetric G may be given
    as ``upper``); written into ``out`` when given."""
    index = np.flatnonzero(live)
    if out is None:
        out = np.empty((len(index), len(index)))
    weights, matrices = (np.empty(0), (upper,)) if minus is None or not len(minus[0]) else minus
    kernels.scaled_symmetric(upper, weights, matrices, index, np.ascontiguousarray(scale[live]), out)
    return out


def _eigen_of_scaled(Gs, scale, live):
    """:class:`ScaledEigen` from the scaled live system ``Gs`` of :func:`_scaled_live`."""
    # divide and conquer: measured 17 % faster than the default (MRRR) at P = 2080
    values, vectors = eigh(Gs, overwrite_a=True, check_finite=False, driver="evd")
    return ScaledEigen(live, scale[live], np.clip(values, 0.0, None), vectors)


def scaled_eigen(G, scale, live):
    """:class:`ScaledEigen` of ``G`` with the column ``scale`` (P,) and the
    ``live`` (P,) mask of :func:`_column_scale`."""
    return _eigen_of_scaled(_scaled_live(G, scale, live), scale, live)


def _path_from_eigen(eigen, b, grid):
    """Coefficients (P, L) for every λ of ``grid`` from the diagonalisation
    ``eigen`` of the column-scaled system (dead columns get 0)."""
    live, s, values, vectors = eigen.live, eigen.scale, eigen.values, eigen.vectors
    projected = vectors.T @ (b[live] / s)
    path = np.zeros((len(live), len(grid)))
    path[live] = vectors @ (projected[:, None] / (values[:, None] + np.asarray(grid)[None, :]))
    path[live] /= s[:, None]
    return path


def _ridge_path(G, b, scale, live, grid):
    """Coefficients (P, L) for every λ of ``grid`` from one diagonalisation of
    the column-scaled ``G`` restricted to the live columns (the others get 0),
    and that diagonalisation (:class:`ScaledEigen`)."""
    eigen = scaled_eigen(G, scale, live)
    return _path_from_eigen(eigen, b, grid), eigen


def _band_reduce(A, width):
    """Reduce the symmetric ``A`` (n, n; read, not changed) to a band matrix
    ``B = ZᵀAZ`` of half-bandwidth ``width`` by blocked Householder
    reflections (the first stage of LAPACK's two-stage tridiagonalisation).

    Each step updates only the lower triangle of the trailing matrix
    (``dsymm`` for ``AV``, ``dsyr2k`` for ``A − VYᵀ − YVᵀ``: 4 m²k operations
    instead of 6 m²k with full products; 0.39 → 0.33 s at n = 2082, one
    thread), held contiguous in one of two alternating buffers.

    Returns
    -------
    band : ndarray, shape (width + 1, n)
        Lower band storage of B (``band[d, c] = B[c + d, c]``).
    blocks : list of (int, ndarray (m, k), ndarray (k, k))
        ``(r, V, T)``: Z = Z_1 Z_2 ⋯ with ``Z_i = I − V T Vᵀ`` acting on rows ``r:``.
    """
    n = len(A)
    blocks = []
    band = np.zeros((width + 1, n))
    size = max(n - width, 0) ** 2
    buffers = (np.empty(size), np.empty(size))  # the trailing matrix of each step in turn
    C = A.T  # the active matrix, Fortran order (A is symmetric); its lower triangle is read
    j = 0
    while j + width < n - 1:
        r = j + width
        m = n - r
        k = min(m, width)
        for d in range(width):  # the diagonal block of B
            band[d, j:r - d] = np.diagonal(C[:width, :width], -d)
        factored, tau, _, _ = dgeqrf(C[width:, :width])
        for i in range(k):  # the block below it: B[r + i, j + c] = R[i, c] for c >= i
            c = np.arange(i, width)
            band[width + i - c, j + c] = factored[i, i:width]
        V = np.tril(factored[:, :k], -1)
        V[np.arange(k), np.arange(k)] = 1.0
        VtV = V.T @ V
        T = np.zeros((k, k))  # Z_i = H_1 ⋯ H_k = I − V T Vᵀ (LAPACK dlarft, forward)
        for i in range(k):
            T[i, i] = tau[i]
            T[:i, i] = -tau[i] * (T[:i, :i] @ VtV[:i, i])
        trailing = buffers[len(blocks) % 2][:m * m].reshape((m, m), order="F")
        trailing[:] = C[width:, width:]  # Z_iᵀ A Z_i = A − V Yᵀ − Y Vᵀ
        X = dsymm(1.0, trailing, V, side=0, lower=1) @ T
        Y = X - 0.5 * V @ (T.T @ (V.T @ X))
        V = np.asfortranarray(V)
        C = dsyr2k(-1.0, V, np.asfortranarray(Y), beta=1.0, c=trailing, lower=1, overwrite_c=1)
        blocks.append((r, V, T))
        j = r
    for d in range(min(width + 1, n - j)):  # the last active block lies within the band
        band[d, j:n - d] = np.diagonal(C, -d)
    return band, blocks


def _band_path(G, b, scale, live, grid):
    """As :func:`_ridge_path` (without the diagonalisation), through
    :func:`_band_reduce` and a banded Cholesky solve per λ; ``None`` when
    ``B + λ`` is not numerically positive definite for some λ of the grid."""
    return _band_path_scaled(_scaled_live(G, scale, live), b, scale, live, grid)


def _band_path_scaled(Gs, b, scale, live, grid):
    """:func:`_band_path` from the scaled live system ``Gs`` of :func:`_scaled_live`."""
    s = scale[live]
    reduced = _shifted_solves(Gs, b[live] / s, grid)
    if reduced is None:
        return None
    path = np.zeros((len(live), len(grid)))
    path[live] = reduced / s[:, None]
    return path


def _shifted_solves(M, rhs, grid):
    """Solutions x (n, L) of ``(M + λ) x = rhs`` for every λ of ``grid``, for
    the symmetric ``M`` (n, n) and ``rhs`` (n,; overwritten),
    through one :func:`_band_reduce` and a banded Cholesky solve per λ;
    ``None`` when ``M + λ`` is not numerically positive definite for some λ."""
    band, blocks = _band_reduce(M, max(1, min(BAND_WIDTH, len(M) - 1)))
    for r, V, T in blocks:
        rhs[r:] -= V @ (T.T @ (V.T @ rhs[r:]))
    reduced = np.empty((len(rhs), len(grid)))
    shifted = np.empty_like(band)
    # a banded Cholesky of half-bandwidth 128 gains nothing from BLAS threads: 125 of them
    # took 0.16 s of CPU on one thread and 31 s (profile in issue 23) on two threads at load 4
    with threads.single_blas_thread():
        for i, regularization in enumerate(grid):
            shifted[:] = band
            shifted[0] += regularization
            try:
                reduced[:, i] = solveh_banded(shifted, rhs, lower=True, overwrite_ab=True,
                                              check_finite=False)
            except LinAlgError:
                return None
    for r, V, T in reversed(blocks):
        reduced[r:] -= V @ (T @ (V.T @ reduced[r:]))
    return reduced


def solve(equations, weights, regularization, *, standardize=True):
    """Ridge solution of all folds together for a given relative λ.

    Parameters
    ----------
    equations : NormalEquations
    weights : dict of str to float
        Weight of each target kind on its squared residuals.
    regularization : float
        Relative ridge strength λ > 0 (see the module docstring).

    Returns
    -------
    RidgeSolution
    """
    if not (np.isfinite(regularization) and regularization > 0):
        raise ValueError(f"regularization must be a positive number, got {regularization!r}")
    equations.release_rows()
    upper, b = equations._weighted_upper(weights)
    scale, live = _column_scale(np.diagonal(upper), standardize)
    with fit_blas_threads():
        path, eigen = _ridge_path(upper, b, scale, live, [regularization])
    empty = np.empty(0)
    return RidgeSolution(path[:, 0], float(regularization), empty, empty, {}, eigen)


def cross_validate(equations, weights, *, grid=DEFAULT_REGULARIZATION_GRID, standardize=True,
                   progress=None, form="auto", final=True):
    """Choose λ by k-fold cross-validation and solve with all folds.

    For every fold k the system of the other folds is reduced to a band
    matrix once (module docstring); the weighted validation loss ``Σ_kind w_kind |A_k c − y_k|²`` on fold k is
    evaluated for every λ of ``grid`` from fold k's own sums. The λ with the
    smallest loss summed over folds is used for the final solve. The column
    scale ``d`` is that of all folds together, for every fold, so that a λ
    means the same penalty in every fold and in the final solve.

    Parameters
    ----------
    equations : NormalEquations
        With ``n_folds >= 2``.
    weights : dict of str to float
    grid : sequence of float
        Candidate relative λ (positive).
    progress : callable or None
        Called as ``progress(done, total)`` after each of the ``total``
        steps (one per fold, then the final solve).
    form : {"auto", "primal", "dual"}
        How each fold's ridge path is solved: ``"primal"`` from the (R, R)
        normal equations of its training rows, ``"dual"`` from the Gram
        matrix of its training rows (:func:`_dual_losses`; needs the rows,
        which ``equations`` keeps while there are at most P of them);
        ``"auto"``: dual when the rows were kept (n ≤ P: then n_T³ < R³).
        Both give the same losses up to round-off.
    final : bool
        Solve with all folds at the chosen λ. ``False``: only the losses
        (the solution's ``coefficients`` and ``eigen`` are ``None``; in the
        dual form the (P, P) sums are then never formed), for comparing
        models.

    Returns
    -------
    RidgeSolution
    """
    if equations.n_folds < 2:
        raise ValueError("cross-validation needs at least 2 folds; give a regularization instead")
    grid = np.asarray(grid, dtype=float)
    if grid.ndim != 1 or grid.size == 0 or not np.all(grid > 0):
        raise ValueError(f"the regularization grid must be positive numbers, got {grid!r}")
    if form not in ("auto", "primal", "dual"):
        raise ValueError(f"unknown form {form!r}; use one of 'auto', 'primal', 'dual'")
    with fit_blas_threads():
        return _cross_validate(equations, weights, grid, standardize, progress, form, final)


def _cross_validate(equations, weights, grid, standardize, progress, form, final):
    """:func:`cross_validate` after its checks."""
    P = equations.n_columns
    if form == "dual" and equations._kept is None:
        raise ValueError(f"the dual form needs the rows kept, i.e. at most {P} rows (the coefficient "
                         "count); use form='auto' or 'primal'")
    dual = form != "primal" and equations._kept is not None
    if dual and not final:  # the column scale from the rows: no (P, P) sum is ever formed
        scale, live = _column_scale(equations.kept_diagonal(weights), standardize)
        loss, squared = _dual_losses(equations, weights, scale, live, grid, progress)
        return RidgeSolution(None, float(grid[int(np.argmin(loss))]), grid, loss,
                             _cv_rmse(equations, weights, squared, grid), None, "dual")
    # the training system of fold k is the total minus fold k's own weighted
    # sums, which are formed again entry by entry where they are subtracted
    terms = [equations._weighted_terms(weights, fold) for fold in range(equations.n_folds)]
    b_fold = [equations._weighted_rhs(weights, fold) for fold in range(equations.n_folds)]
    upper_all, b_all = np.zeros((P, P), order="F"), b_fold[0].copy()
    for fold, (fold_weights, matrices) in enumerate(terms):
        if len(fold_weights):
            kernels.add_weighted(fold_weights, matrices, upper_all, fold > 0)
        if fold > 0:
            b_all += b_fold[fold]
    scale, live = _column_scale(np.diagonal(upper_all), standardize)
    if dual:
        del terms
        loss, squared = _dual_losses(equations, weights, scale, live, grid, progress)
        equations.release_rows()
    else:
        equations.release_rows()
        loss, squared = _primal_losses(equations, weights, terms, upper_all, b_all, b_fold, scale,
                                       live, grid, progress)
        del terms
    best = int(np.argmin(loss))
    if not final:
        return RidgeSolution(None, float(grid[best]), grid, loss, _cv_rmse(equations, weights, squared, grid),
                             None, "dual" if dual else "primal")
    eigen = _eigen_of_scaled(_scaled_live(upper_all, scale, live), scale, live)
    path = _path_from_eigen(eigen, b_all, [grid[best]])
    if progress is not None:
        progress(equations.n_folds + 1, equations.n_folds + 1)
    return RidgeSolution(path[:, 0], float(grid[best]), grid, loss, _cv_rmse(equations, weights, squared, grid),
                         eigen, "dual" if dual else "primal")


def _cv_rmse(equations, weights, squared, grid):
    """Validation RMSE ``{kind: (L,)}`` from the squared errors summed over folds."""
    rmse = {}
    for kind in weights:
        n = equations.count(kind)
        rmse[kind] = np.sqrt(squared[kind] / n) if n else np.full(grid.size, np.nan)
    return rmse


def _primal_losses(equations, weights, terms, upper_all, b_all, b_fold, scale, live, grid, progress):
    """Weighted validation loss (L,) and squared errors ``{kind: (L,)}`` summed over
    folds, from each fold's normal equations reduced to a band matrix (module docstring)."""
    work = np.empty((int(live.sum()),) * 2)  # each fold's scaled training system in turn
    loss = np.zeros(grid.size)
    squared = {kind: np.zeros(grid.size) for kind in weights}
    for fold in range(equations.n_folds):
        b_train = b_all - b_fold[fold]
        Gs = _scaled_live(upper_all, scale, live, minus=terms[fold], out=work)
        path = _band_path_scaled(Gs, b_train, scale, live, grid)
        if path is None:  # a round-off-indefinite system at the smallest λ: eigenvalues clipped at 0
            path = _path_from_eigen(_eigen_of_scaled(Gs, scale, live), b_train, grid)
        for kind, w in weights.items():
            error = equations.squared_error(path, fold, kind)
            squared[kind] += error
            loss += w * error
        if progress is not None:
            progress(fold + 1, equations.n_folds + 1)
    return loss, squared


def _training_gram(gram, root, train):
    """``K_TT = diag(r_T) (X Xᵀ)_TT diag(r_T)``, shape (n_T, n_T), a new array."""
    K = gram[np.ix_(train, train)]
    K *= root[train][:, None]
    K *= root[train][None, :]
    return K


def _dual_losses(equations, weights, scale, live, grid, progress):
    """As :func:`_primal_losses`, in the dual form, from the rows kept by
    ``equations`` (:meth:`NormalEquations.kept_rows`).

    With the scaled rows ``X = A D⁻¹`` (n, R) of all folds and kinds and the
    square roots ``r`` of their weights, the ridge solution of the training
    rows T of fold k is ``c' = X_Tᵀ diag(r_T) α`` with
    ``(K_TT + λ) α = r_T y_T``, ``K = diag(r) X Xᵀ diag(r)``, and the held-out
    predictions are ``X_k c' = (X Xᵀ)_{kT} diag(r_T) α``: one (n, n) Gram
    matrix, then per fold one band reduction of K_TT (n_T³ instead of R³)
    and a banded solve per λ."""
    s = scale[live]
    kinds, n_folds = list(weights), equations.n_folds
    kept = equations.kept_rows()
    keys = [key for key in sorted(kept) if key[1] in weights]
    X = np.concatenate([kept[key][0][:, live] for key in keys]) / s  # (n, R)
    y = np.concatenate([kept[key][1] for key in keys])
    fold_of = np.concatenate([np.full(len(kept[key][1]), key[0]) for key in keys])
    kind_of = np.concatenate([np.full(len(kept[key][1]), kinds.index(key[1])) for key in keys])
    root = np.sqrt(np.array([float(weights[kind]) for kind in kinds]))[kind_of]
    del kept
    gram = _symmetric(dsyrk(1.0, X.T, trans=1, lower=0))  # X Xᵀ from the F-ordered view Xᵀ
    del X
    loss = np.zeros(grid.size)
    squared = {kind: np.zeros(grid.size) for kind in weights}
    for fold in range(n_folds):
        train = np.flatnonzero((fold_of != fold) & (root > 0))
        held = np.flatnonzero(fold_of == fold)
        K, rhs = _training_gram(gram, root, train), root[train] * y[train]
        alpha = _shifted_solves(K, rhs.copy(), grid) if len(train) else np.zeros((0, grid.size))
        if alpha is None:  # a round-off-indefinite system at the smallest λ: eigenvalues clipped at 0
            values, vectors = eigh(K, overwrite_a=True, check_finite=False, driver="evd")
            projected = vectors.T @ rhs
            alpha = vectors @ (projected[:, None] / (np.clip(values, 0.0, None)[:, None] + grid[None, :]))
        residual = (gram[np.ix_(held, train)] * root[train][None, :]) @ alpha - y[held][:, None]
        for index, kind in enumerate(kinds):
            error = np.einsum("ml,ml->l", residual[kind_of[held] == index], residual[kind_of[held] == index])
            squared[kind] += error
            loss += weights[kind] * error
        if progress is not None:
            progress(fold + 1, n_folds + 1)
    return loss, squared


#: frames whose cells and positions agree to this are identical, Å
IDENTICAL_FRAMES_A = 1e-6


def identical_frame_groups(frames):
    """Group label of every frame: frames with the same atomic numbers,
    periodicity, cell and positions (to :data:`IDENTICAL_FRAMES_A`) share one.

    Parameters
    ----------
    frames : sequence of ase.Atoms

    Returns
    -------
    ndarray, shape (n_frames,), int
        Labels 0, 1, … in the order of the first frame of each group.
    """
    labels, first = np.empty(len(frames), dtype=np.int64), {}
    for index, atoms in enumerate(frames):
        grid = np.rint(np.concatenate([atoms.cell.array, atoms.positions]) / IDENTICAL_FRAMES_A)
        key = (atoms.numbers.tobytes(), np.asarray(atoms.pbc).tobytes(), (grid + 0.0).tobytes())
        labels[index] = first.setdefault(key, len(first))
    return labels


def grouped_folds(groups, n_folds):
    """Cross-validation fold of every frame: contiguous blocks of the groups
    (in the order of their first frames), so that the frames of one group
    share a fold; without repeated groups, frame i of n gets ``i·k // n``.

    Parameters
    ----------
    groups : ndarray, shape (n,), int
        Labels from :func:`identical_frame_groups`.
    n_folds : int
        k, at most the number of groups.

    Returns
    -------
    ndarray, shape (n,), int
    """
    groups = np.asarray(groups, dtype=np.int64)
    n_groups = int(groups.max()) + 1 if groups.size else 0
    if not 1 <= n_folds <= max(n_groups, 1):
        raise ValueError(f"cannot split {n_groups} distinct frames into {n_folds} folds")
    return groups * n_folds // max(n_groups, 1)


def farthest_point_sampling(points, n_select, *, start=0):
    """Greedy farthest point sampling (Euclidean distance).

    Parameters
    ----------
    points : ndarray, shape (n, d), float
    n_select : int
        Number of points to pick; at most ``n``.
    start : int
        Index of the first point.

    Returns
    -------
    ndarray, shape (n_select,), int
        Indices in the order they were picked; each next point maximises the
        distance to the nearest already picked one (ties: lowest index).
    """
    X = np.asarray(points, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"points must have shape (n, d), got {X.shape}")
    n_select = int(n_select)
    if not 1 <= n_select <= len(X):
        raise ValueError(f"cannot pick {n_select} of {len(X)} points")
    picked = np.empty(n_select, dtype=np.int64)
    picked[0] = start
    norms = np.einsum("nd,nd->n", X, X)
    nearest = np.full(len(X), np.inf)
    for m in range(1, n_select):
        last = X[picked[m - 1]]
        distance = norms - 2.0 * X @ last + last @ last
        np.minimum(nearest, distance, out=nearest)
        nearest[picked[:m]] = -1.0
        picked[m] = int(np.argmax(nearest))
    return picked
