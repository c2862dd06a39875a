"""Choosing which frames to label: farthest point sampling on per-frame
descriptor summaries, optionally weighted by the model's uncertainty.

Every frame is summarised by one vector: for each species, the mean over
its atoms of the normalised λ = 0 power spectrum (rotation, translation and
permutation invariant), the species blocks concatenated (a species absent
from a frame contributes zeros). Two frames are close when their atoms see
similar environments on average.

* ``by="fps"`` — greedy farthest point sampling on the summaries: the first
  pick is the frame farthest from the mean summary, every next pick the frame
  farthest from all picks so far. Needs no model (only a descriptor).
* ``by="uncertainty"`` — the same greedy sweep, but each candidate's distance
  to the picks is multiplied by its uncertainty: the RMS over atoms and
  components of the model's epistemic σ(Z*) (:meth:`PolarizationModel.predict_std`
  without the noise term). The first pick is the most uncertain frame; later
  picks must be uncertain *and* unlike the frames already picked, so K near
  copies of one outlier are never chosen together (a copy of a picked frame
  has distance 0 and score 0).
"""

import sys

import numpy as np

from ase_dipole.progress import progress_bar

#: selection criteria accepted by :func:`select_frames`
CRITERIA = ("fps", "uncertainty")


def frame_summaries(frames, descriptor):
    """Per-frame summary vectors (mean normalised λ = 0 invariants per species).

    Parameters
    ----------
    frames : sequence of ase.Atoms
    descriptor : ase_dipole.descriptors.lambda_soap.LambdaSOAP

    Returns
    -------
    ndarray, shape (n_frames, S * n_invariants)
        Species blocks in the order of ``descriptor.species``; zeros for a
        species absent from a frame.
    """
    S, Q = len(descriptor.species), descriptor.n_invariants
    index = np.full(max(descriptor.numbers) + 1, -1, dtype=np.int64)
    index[list(descriptor.numbers)] = np.arange(S)
    out = np.zeros((len(frames), S, Q))
    for position, atoms in enumerate(frames):
        try:
            values = descriptor.invariants(atoms)
        except ValueError as error:
            raise ValueError(f"frame {position}: {error}") from None
        values /= np.maximum(np.linalg.norm(values, axis=1, keepdims=True), 1e-300)
        species = index[atoms.numbers]
        for s in range(S):
            mine = species == s
            if mine.any():
                out[position, s] = values[mine].mean(axis=0)
    return out.reshape(len(frames), S * Q)


def frame_uncertainty(model, frames, *, progress=False):
    """Epistemic uncertainty of each frame: RMS over atoms and the nine
    components of the posterior σ(Z*) of ``model`` without the noise term, e.

    Parameters
    ----------
    model : PolarizationModel
        Fitted with posterior statistics (see :meth:`PolarizationModel.predict_std`).
    frames : sequence of ase.Atoms

    Returns
    -------
    ndarray, shape (n_frames,), e
    """
    report = progress_bar(len(frames), "uncertainty", unit="frame",
                          stream=sys.stderr if progress else None)
    out = np.empty(len(frames))
    for position, atoms in enumerate(frames):
        try:
            _, born_std = model.predict_std(atoms, include_noise=False)
        except ValueError as error:
            raise ValueError(f"frame {position}: {error}") from None
        out[position] = np.sqrt(np.mean(born_std ** 2))
        report.update(1)
    report.close()
    return out


def _descriptor_for(frames, model):
    if model is not None:
        return model.descriptor
    from ase_dipole.descriptors.lambda_soap import LambdaSOAP
    from ase_dipole.learning.model import DEFAULT_CUTOFF

    numbers = sorted({int(z) for atoms in frames for z in atoms.numbers})
    return LambdaSOAP(numbers, cutoff=DEFAULT_CUTOFF)


def weighted_farthest_points(points, n_select, weights=None):
    """Greedy farthest point sampling with per-point weights.

    Parameters
    ----------
    points : ndarray, shape (n, d)
    n_select : int
        ``1 <= n_select <= n``.
    weights : ndarray, shape (n,), optional
        Non-negative; the pick maximises ``weight × distance to the nearest
        pick``. The first pick is the largest weight (without weights: the
        point farthest from the mean).

    Returns
    -------
    ndarray, shape (n_select,), int
        Indices in the order picked (ties: lowest index).
    """
    X = np.asarray(points, dtype=float)
    if X.ndim != 2:
        raise ValueError(f"points must have shape (n, d), got {X.shape}")
    n_select = int(n_select)
    if not 1 <= n_select <= len(X):
        raise ValueError(f"cannot pick {n_select} of {len(X)} frames")
    if weights is None:
        w = np.ones(len(X))
        first = int(np.argmax(np.linalg.norm(X - X.mean(axis=0), axis=1)))
    else:
        w = np.asarray(weights, dtype=float)
        if w.shape != (len(X),) or not np.all(np.isfinite(w)) or np.any(w < 0):
            raise ValueError(f"weights must be {len(X)} finite non-negative numbers")
        first = int(np.argmax(w))
    picked = [first]
    nearest = np.full(len(X), np.inf)
    for _ in range(1, n_select):
        last = X[picked[-1]]
        np.minimum(nearest, np.linalg.norm(X - last, axis=1), out=nearest)
        score = w * nearest
        score[picked] = -1.0
        picked.append(int(np.argmax(score)))
    return np.array(picked, dtype=np.int64)


def select_frames(frames, n, *, by="fps", model=None, progress=False):
    """The ``n`` most informative frames to label.

    Parameters
    ----------
    frames : sequence of ase.Atoms
        Candidates (e.g. MD snapshots); no reference data needed.
    n : int
        Number of frames to pick, ``1 <= n <= len(frames)``.
    by : {"fps", "uncertainty"}
        ``"fps"``: diversity only (farthest point sampling on the frame
        summaries). ``"uncertainty"``: uncertain *and* mutually diverse
        (module docstring); needs ``model``.
    model : PolarizationModel, optional
        Its descriptor defines the summaries (otherwise a default
        :class:`~ase_dipole.descriptors.lambda_soap.LambdaSOAP` of the species
        present); required for ``by="uncertainty"``.
    progress : bool
        Report progress on stderr.

    Returns
    -------
    ndarray, shape (n,), int
        Indices into ``frames`` in the order picked.
    """
    frames = list(frames)
    if by not in CRITERIA:
        raise ValueError(f"unknown selection {by!r}; use one of {', '.join(map(repr, CRITERIA))}")
    if not frames:
        raise ValueError("no candidate frames given")
    if int(n) != n or not 1 <= n <= len(frames):
        raise ValueError(f"n must be an integer from 1 to the number of candidates "
                         f"({len(frames)}), got {n!r}")
    if by == "uncertainty" and model is None:
        raise ValueError("by='uncertainty' needs the fitted model (model=...)")
    summaries = frame_summaries(frames, _descriptor_for(frames, model))
    weights = frame_uncertainty(model, frames, progress=progress) if by == "uncertainty" else None
    return weighted_farthest_points(summaries, int(n), weights)
