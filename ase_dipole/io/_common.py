"""Helpers shared by the Born-charge readers: file checks and the final
packing of a frame into the extxyz convention of :mod:`ase_dipole.io.extxyz`."""

import gzip
import os
import warnings

import numpy as np

from ase_dipole.io.extxyz import set_born_charges, set_dipole


#: largest acceptable violation of the acoustic sum rule, e per atom: real
#: DFT files shipped with the tests stay below 0.025 e/atom (QE AlAs, no ASR
#: imposed), a mistyped component (2.98 → 29.8) in a 9-atom cell gives 3 e/atom,
#: AlAs from pw.x + ph.x on a shifted 2×2×2 k-point grid at 16 Ry 0.7 e/atom
ASR_TOLERANCE_E_PER_ATOM = 0.1


class BornChargeFormatError(ValueError):
    """A file lacks the Born-charge block a reader looks for, or holds one
    that does not fit the structure."""


def check_file(path):
    """Return ``path`` as a string; raise ``FileNotFoundError`` naming it."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: '{path}'; check the path")
    return path


def open_text(path):
    """Open a text file, transparently decompressing a ``.gz`` file."""
    path = check_file(path)
    if path.endswith(".gz"):
        return gzip.open(path, "rt")
    return open(path)


def read_text(path):
    """Whole text of a (possibly gzipped) file."""
    with open_text(path) as handle:
        return handle.read()


def finish_frame(atoms, born_charges, *, source, epsilon=None, dipole=None):
    """Store Z* (N, 3, 3) e, in our convention already, plus optional
    epsilon (3, 3), dipole (3,) e·Å and the provenance string on ``atoms``.

    Raises :class:`BornChargeFormatError` for a count mismatch or NaN.
    """
    born_charges = np.asarray(born_charges, dtype=float)
    if born_charges.shape != (len(atoms), 3, 3):
        raise BornChargeFormatError(
            f"{source}: Born charges of shape {born_charges.shape} do not fit a "
            f"structure of {len(atoms)} atoms; expected ({len(atoms)}, 3, 3)"
        )
    if not np.all(np.isfinite(born_charges)):
        raise BornChargeFormatError(f"{source}: Born charges contain NaN or inf")
    check_acoustic_sum_rule(born_charges, source if "frame" in source else f"{source} frame 0")
    set_born_charges(atoms, born_charges)
    if epsilon is not None:
        atoms.info["epsilon"] = np.asarray(epsilon, dtype=float).reshape(3, 3).copy()
    if dipole is not None:
        set_dipole(atoms, dipole)
    atoms.info["source"] = source
    return atoms


def acoustic_sum_rule_violation(born_charges):
    """Largest component of Σ_i Z*_i, e (zero for a neutral system: a rigid
    translation changes no dipole).

    Parameters
    ----------
    born_charges : (N, 3, 3) float array, e
    """
    return float(np.abs(np.asarray(born_charges, dtype=float).sum(axis=0)).max())


def check_acoustic_sum_rule(born_charges, source):
    """Warn when Z* (N, 3, 3) e of one frame break the acoustic sum rule by
    more than :data:`ASR_TOLERANCE_E_PER_ATOM` per atom; ``source`` names the
    file and frame in the warning."""
    n_atoms = len(born_charges)
    violation = acoustic_sum_rule_violation(born_charges)
    if violation > ASR_TOLERANCE_E_PER_ATOM * n_atoms:
        warnings.warn(
            f"{source}: the Born charges break the acoustic sum rule: a component of "
            f"Σ_i Z*_i is off by {violation:.3g} e ({violation / n_atoms:.3g} e per atom; real "
            f"files stay below {ASR_TOLERANCE_E_PER_ATOM} e per atom): check the file for an "
            "edited or damaged value, or converge the calculation (k-points, cut-off); a "
            "system of net charge q has Σ_i Z*_i = q·1",
            stacklevel=3,
        )
