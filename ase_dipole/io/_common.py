"""Helpers shared by the Born-charge readers: file checks and the final
packing of a frame into the extxyz convention of :mod:`ase_dipole.io.extxyz`."""

import gzip
import os

import numpy as np

from ase_dipole.io.extxyz import set_born_charges, set_dipole


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
    set_born_charges(atoms, born_charges)
    if epsilon is not None:
        atoms.info["epsilon"] = np.asarray(epsilon, dtype=float).reshape(3, 3).copy()
    if dipole is not None:
        set_dipole(atoms, dipole)
    atoms.info["source"] = source
    return atoms
