"""Learning curves: held-out errors of the polarization model against the
number of training configurations (paper Fig. 1).

For every series (a target selection of :meth:`PolarizationModel.fit` and its
pool of training frames) and every size n, a model is fitted on n frames
spread uniformly over the pool and evaluated on the test frames: the dipole
on test frames that carry a finite-system dipole, the Born charges on those
that carry Z*. Errors are RMSE and RMSPE (RMSE over the standard deviation of
the test set, :func:`ase_dipole.learning.model.rmspe`).
"""

import csv
import json
import sys
import time
from dataclasses import dataclass

import numpy as np

from ase_dipole.atomic import atomic_write
from ase_dipole.io.extxyz import get_born_charges, get_dipole
from ase_dipole.learning.model import TARGETS, PolarizationModel, rmspe

#: columns of :attr:`LearningCurve.rows`
COLUMNS = ("series", "targets", "n_train", "regularization", "rmse_dipole_eA", "rmspe_dipole",
           "rmse_born_charges_e", "rmspe_born_charges", "fit_time_s")

#: human-readable labels of target selections
_LABELS = {"born": "Z*", "dipole": "μ", "both": "μ + Z*", "auto": "auto"}


def uniform_subset(n_pool, n):
    """Indices of ``n`` of ``n_pool`` frames spread uniformly (first and last
    included), shape (n,), int."""
    if not 1 <= n <= n_pool:
        raise ValueError(f"cannot pick {n} of {n_pool} frames")
    return np.unique(np.round(np.linspace(0, n_pool - 1, n)).astype(int))


@dataclass(frozen=True)
class LearningCurve:
    """Result of :func:`learning_curve`.

    Attributes
    ----------
    rows : tuple of dict
        One dict per fitted model with the keys of :data:`COLUMNS`; errors
        are ``nan`` where the test set has no data of that kind. RMSPE is a
        fraction (0.01 = 1 %).
    """

    rows: tuple

    def series(self, quantity):
        """``{label: (n_train (K,), RMSPE in % (K,))}`` of ``quantity``
        (``"dipole"`` or ``"born_charges"``) for every series, the table
        :func:`ase_dipole.spectra.plot.plot_learning_curve` takes."""
        if quantity not in ("dipole", "born_charges"):
            raise ValueError(f"unknown quantity {quantity!r}; use 'dipole' or 'born_charges'")
        symbol = "μ" if quantity == "dipole" else "Z*"
        out = {}
        for name in dict.fromkeys(row["series"] for row in self.rows):
            rows = [r for r in self.rows if r["series"] == name and np.isfinite(r[f"rmspe_{quantity}"])]
            if rows:
                out[f"{symbol} error, fit on {name}"] = (
                    np.array([r["n_train"] for r in rows]),
                    100.0 * np.array([r[f"rmspe_{quantity}"] for r in rows]))
        return out

    def table(self):
        """Plain-text table of all rows (RMSPE in %)."""
        lines = [f"{'series':<10} {'n_train':>7} {'λ':>9} {'RMSE μ (e·Å)':>13} {'RMSPE μ %':>10} "
                 f"{'RMSE Z* (e)':>12} {'RMSPE Z* %':>11} {'fit (s)':>8}"]
        for r in self.rows:
            lines.append(
                f"{r['series']:<10} {r['n_train']:>7d} {r['regularization']:>9.2e} "
                f"{r['rmse_dipole_eA']:>13.5f} {100 * r['rmspe_dipole']:>10.3f} "
                f"{r['rmse_born_charges_e']:>12.5f} {100 * r['rmspe_born_charges']:>11.3f} "
                f"{r['fit_time_s']:>8.1f}")
        return "\n".join(lines)

    def write_csv(self, path, *, provenance=None):
        """Write :attr:`rows` as CSV with the header :data:`COLUMNS`, atomically.

        Parameters
        ----------
        path : str or path-like
        provenance : dict, optional, keyword-only
            Written first as a ``# provenance: {JSON}`` comment line
            (:func:`ase_dipole.provenance.provenance`).
        """
        with atomic_write(path) as handle:
            if provenance is not None:
                handle.write("# provenance: " + json.dumps(provenance, sort_keys=True) + "\n")
            writer = csv.DictWriter(handle, fieldnames=COLUMNS, lineterminator="\n")
            writer.writeheader()
            for row in self.rows:
                writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})

    def plot(self, path, *, title=None):
        """Plot dipole and Z* RMSPE of every series on log-log axes
        (:func:`ase_dipole.spectra.plot.plot_learning_curve`)."""
        from ase_dipole.spectra.plot import plot_learning_curve

        table = {**self.series("dipole"), **self.series("born_charges")}
        return plot_learning_curve(table, path, title=title)


def _test_data(frames):
    dipole_frames, dipoles, born_frames, borns = [], [], [], []
    for frame in frames:
        dipole = get_dipole(frame) if not np.any(frame.pbc) else None
        if dipole is not None:
            dipole_frames.append(frame)
            dipoles.append(dipole)
        born = get_born_charges(frame)
        if born is not None:
            born_frames.append(frame)
            borns.append(born)
    if not dipole_frames and not born_frames:
        raise ValueError("the test frames carry neither finite-system dipoles nor born_charges")
    return dipole_frames, np.array(dipoles), born_frames, borns


def _errors(predicted, reference):
    if not len(reference):
        return float("nan"), float("nan")
    predicted = np.concatenate([np.ravel(p) for p in predicted])
    reference = np.concatenate([np.ravel(r) for r in reference])
    return float(np.sqrt(np.mean((predicted - reference) ** 2))), rmspe(predicted, reference)


def learning_curve(pools, test_frames, *, sizes, parameters=None, progress=False):
    """Held-out errors of models fitted on growing training sets.

    Parameters
    ----------
    pools : dict of str to sequence of ase.Atoms
        Target selection (``"born"``, ``"dipole"``, ``"both"``, ``"auto"``,
        see :meth:`PolarizationModel.fit`) -> its pool of training frames.
    test_frames : sequence of ase.Atoms
        Held-out frames with finite dipoles and/or ``born_charges``.
    sizes : sequence of int
        Numbers of training frames; sizes larger than a pool are skipped
        for that pool.
    parameters : dict or None
        Keyword arguments of :class:`PolarizationModel`.
    progress : bool
        On stderr: a line as each fit starts, its progress bars, and a line
        with its held-out errors.

    Returns
    -------
    LearningCurve
    """
    parameters = dict(parameters or {})
    unknown = set(pools) - set(TARGETS)
    if unknown:
        raise ValueError(f"unknown targets {sorted(unknown)} in pools; use {list(TARGETS)}")
    sizes = sorted({int(n) for n in sizes})
    if not sizes or sizes[0] < 1:
        raise ValueError(f"sizes must be positive integers, got {sizes}")
    dipole_frames, dipoles, born_frames, borns = _test_data(test_frames)
    rows = []
    fits = [(targets, n) for targets, pool in pools.items() for n in sizes if n <= len(pool)]
    for count, (targets, n) in enumerate(fits, start=1):
        pool = list(pools[targets])
        subset = [pool[i] for i in uniform_subset(len(pool), n)]
        if progress:
            print(f"learning curve: fit {count}/{len(fits)}, {_LABELS[targets]} on {n} frame(s)",
                  file=sys.stderr, flush=True)
        start = time.perf_counter()
        model = PolarizationModel(**parameters).fit(subset, targets=targets, progress=progress)
        elapsed = time.perf_counter() - start
        rmse_mu, rmspe_mu = _errors([model.predict_dipole(f) for f in dipole_frames], dipoles)
        rmse_z, rmspe_z = _errors([model.predict(f)[1] for f in born_frames], borns)
        rows.append({"series": _LABELS[targets], "targets": targets, "n_train": n,
                     "regularization": model.regularization, "rmse_dipole_eA": rmse_mu,
                     "rmspe_dipole": rmspe_mu, "rmse_born_charges_e": rmse_z,
                     "rmspe_born_charges": rmspe_z, "fit_time_s": elapsed})
        if progress:
            print(f"learning curve: {_LABELS[targets]:>7} n={n:<4d} RMSPE μ {100 * rmspe_mu:.3f} % "
                  f"Z* {100 * rmspe_z:.3f} % ({elapsed:.1f} s)", file=sys.stderr, flush=True)
    if not rows:
        raise ValueError(f"no size in {sizes} fits any pool (pool sizes "
                         f"{ {k: len(v) for k, v in pools.items()} })")
    return LearningCurve(tuple(rows))
