"""Feature selection for many species: the λ = 1 columns a linear model keeps.

The full linear model has ``S·F`` coefficients with ``F = S n + S² n² l``
(:class:`ase_dipole.descriptors.lambda_soap.LambdaSOAP`), which grows with
the cube of the species count S: 2 × 1040 for water, 5 × 6440 for C, H, N,
O, S, 9 × 20 808 for C, H, N, O, S, P, F, Cl, Br. Most of those columns are
nearly dependent on a given data set (species pairs that are rarely
neighbours, radial channels that the data do not resolve). The selection
keeps, per centre species s, the ``r`` columns of its design rows that best
span the rest, by the deterministic column-subset (CUR / QDEIM) rule:

1. ``X_s`` (m, F): up to :data:`SELECTION_ROWS` Z* and dipole design rows of
   centre species s from evenly spaced training frames, in their own units
   (zero columns are never kept). Not scaled to unit norm: the ridge solve
   standardises the kept columns, so a rare column (a species pair seen in
   one or two training molecules) kept for its direction gets a coefficient
   of the order of its inverse norm and wrecks held-out molecules where it
   is large (nine-species GFN2-xTB set, 32 → 8 molecules, 100 columns per
   species at 4 Å: held-out Z* RMSPE 1545 % with unit-norm columns, 32 %
   with raw ones; species means alone 55–79 %);
2. the k = min(r, rank) leading right singular vectors ``V_k`` (F, k) of
   ``X_s``, from the eigen-decomposition of the smaller Gram matrix;
3. the first k pivots of a column-pivoted QR of ``V_kᵀ`` (the discrete
   empirical interpolation points of ``V_k``, Drmač & Gugercin 2016), which
   pick columns whose span best reproduces the dominant subspace.

The model's coefficients stay a (S, F) array with zeros outside the kept
columns, so every prediction route (μ, all Z* by the adjoint, Ṗ) and its
exactness is that of the full model; only the fit (its normal equations
and their cross-validation) works in the ``Σ_s r_s`` kept columns.
"""

import numpy as np
from scipy.linalg import eigh, qr

#: at most this many design rows per centre species enter the selection
SELECTION_ROWS = 2400
#: at most this many evenly spaced training frames give those rows
SELECTION_FRAMES = 16
#: ``max_features="auto"`` keeps every column while the model has at most this
#: many coefficients (S·F; water's 2 080 stay full) and otherwise keeps
#: ``AUTO_COEFFICIENTS // S`` per centre species: with two target kinds and
#: five folds the normal equations then take 10·P²·8 B ≤ 1.1 GB
AUTO_COEFFICIENTS = 3600
#: ``max_features="auto"`` also keeps at most this many columns per training
#: environment of the species: the λ = 1 descriptors of M environments span
#: 3M directions (as in the reference-environment model), and more columns
#: than that let the ridge fit extrapolate wildly to new molecules
#: (nine-species GFN2-xTB set, 32 → 8 molecules at 6 Å: held-out Z* RMSPE
#: 1331 % with 400 columns per species, 33 % with 100)
COLUMNS_PER_ENVIRONMENT = 3
#: Gram eigenvalues (squared singular values) below this fraction of the
#: largest count as rank deficiency
RANK_TOLERANCE = 1e-10


def features_per_species(max_features, n_species, n_features):
    """Columns r kept per centre species, or ``None`` for all.

    Parameters
    ----------
    max_features : int, "auto" or None
    n_species, n_features : int
        S and F of the descriptor.
    """
    if max_features is None:
        return None
    if max_features == "auto":
        if n_species * n_features <= AUTO_COEFFICIENTS:
            return None
        return max(1, AUTO_COEFFICIENTS // n_species)
    return None if int(max_features) >= n_features else int(max_features)


def select_columns(rows, n_select):
    """Indices of ``n_select`` columns of ``rows`` (m, F) that best span its
    row space (module docstring), sorted; fewer when ``rows`` has lower rank.

    Returns
    -------
    ndarray, shape (r,), int64
    """
    X = np.asarray(rows, dtype=float)
    live = np.any(X != 0.0, axis=0)
    if not live.any():
        return np.zeros(0, dtype=np.int64)
    columns = X[:, live]
    m, f = columns.shape
    if m <= f:
        values, vectors = eigh(columns @ columns.T, check_finite=False)  # left singular vectors
        keep = values > values[-1] * RANK_TOLERANCE
        vectors = vectors[:, keep][:, ::-1]
        right = (columns.T @ vectors) / np.sqrt(values[keep][::-1])[None, :]  # (f, k)
    else:
        values, vectors = eigh(columns.T @ columns, check_finite=False)
        keep = values > values[-1] * RANK_TOLERANCE
        right = vectors[:, keep][:, ::-1]
    k = min(int(n_select), right.shape[1])
    _, pivots = qr(np.ascontiguousarray(right[:, :k].T), mode="r", pivoting=True, check_finite=False)
    return np.sort(np.flatnonzero(live)[pivots[:k]]).astype(np.int64)
