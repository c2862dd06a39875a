"""The extended-XYZ data convention for Born charges and dipoles.

Per-atom array ``born_charges`` of shape (N, 9) holds Z*_i row-major
(``Z[i, α, β] = ∂μ_α/∂x_{iβ}`` at column ``3α + β``, e); the dipole (e·Å) is
``atoms.info['dipole']``. ASE's extxyz reader moves a comment key named
``dipole`` into a SinglePointCalculator, so :func:`get_dipole` looks in both
places, but only when asked to. :func:`write_extxyz` writes frames in this
convention, atomically.
"""

import ase.io
import numpy as np
from ase.calculators.singlepoint import SinglePointCalculator

from ase_dipole.atomic import atomic_write

BORN_KEY = "born_charges"
DIPOLE_KEY = "dipole"


def get_born_charges(atoms):
    """Born charges of a frame, shape (N, 3, 3), e; ``None`` if absent."""
    if BORN_KEY in atoms.arrays:
        values = np.asarray(atoms.arrays[BORN_KEY], dtype=float)
    elif atoms.calc is not None and "born_effective_charges" in getattr(atoms.calc, "results", {}):
        values = np.asarray(atoms.calc.results["born_effective_charges"], dtype=float)
    else:
        return None
    if values.size != 9 * len(atoms):
        raise ValueError(
            f"born_charges has shape {values.shape} for {len(atoms)} atoms; "
            "expected (N, 9) row-major or (N, 3, 3)"
        )
    return values.reshape(len(atoms), 3, 3)


def get_dipole(atoms):
    """Dipole of a frame, shape (3,), e·Å, from ``info['dipole']`` or a
    SinglePointCalculator holding ``'dipole'``; ``None`` if absent."""
    if DIPOLE_KEY in atoms.info:
        value = atoms.info[DIPOLE_KEY]
    elif atoms.calc is not None and DIPOLE_KEY in getattr(atoms.calc, "results", {}):
        value = atoms.calc.results[DIPOLE_KEY]
    else:
        return None
    value = np.asarray(value, dtype=float)
    if value.shape != (3,):
        raise ValueError(f"dipole has shape {value.shape}; expected (3,) in e·Å")
    return value


def set_born_charges(atoms, born_charges):
    """Store Born charges (N, 3, 3), e, as the (N, 9) ``born_charges`` array."""
    values = np.asarray(born_charges, dtype=float)
    if values.shape != (len(atoms), 3, 3):
        raise ValueError(
            f"born_charges has shape {values.shape}; expected ({len(atoms)}, 3, 3)"
        )
    atoms.arrays[BORN_KEY] = values.reshape(len(atoms), 9).copy()


def set_dipole(atoms, dipole):
    """Store the dipole (3,), e·Å, in ``atoms.info['dipole']``."""
    values = np.asarray(dipole, dtype=float)
    if values.shape != (3,):
        raise ValueError(f"dipole has shape {values.shape}; expected (3,) in e·Å")
    atoms.info[DIPOLE_KEY] = values.copy()


#: calculator results kept by :func:`write_extxyz` (those extxyz can hold; a
#: calculator's (N, 3, 3) ``born_effective_charges`` is already ``born_charges``)
_KEPT_RESULTS = ("energy", "free_energy", "forces", "stress")


def write_extxyz(path, frames):
    """Write frames to an extended-XYZ file atomically.

    Parameters
    ----------
    path : str or path-like
        Output file; replaced only once every frame is written (a failed
        write leaves a previous file intact, see :mod:`ase_dipole.atomic`).
    frames : list of ase.Atoms
        Frames with ``arrays['born_charges']`` (N, 9) e and ``info`` entries
        (``dipole`` (3,) e·Å, ``epsilon`` (3, 3), ...). Of a calculator only
        energy, free energy, forces and stress are kept.
    """
    clean = []
    for atoms in frames:
        copy = atoms.copy()
        results = getattr(atoms.calc, "results", None) or {}
        kept = {key: value for key, value in results.items() if key in _KEPT_RESULTS}
        copy.calc = SinglePointCalculator(copy, **kept) if kept else None
        clean.append(copy)
    with atomic_write(path) as handle:
        ase.io.write(handle, clean, format="extxyz")
